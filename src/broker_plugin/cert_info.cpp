#include "cert_info.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>
#include <string>

#include "smartproduct/core/openssl_ptr.hpp"

namespace sp::broker_plugin {
namespace {

std::string common_name(const X509* cert) {
  const X509_NAME* subject = X509_get_subject_name(cert);
  if (subject == nullptr) return {};
  const int idx = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (idx < 0) return {};
  // Two CNs make "the" identity ambiguous; refusing is safer than guessing which one counts.
  if (X509_NAME_get_index_by_NID(subject, NID_commonName, idx) >= 0) return {};
  const X509_NAME_ENTRY* entry = X509_NAME_get_entry(subject, idx);
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(entry));
  const ossl::BytesPtr owner(utf8);
  if (len < 0 || utf8 == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(utf8), static_cast<std::size_t>(len));
}

std::string serial_hex(const X509* cert) {
  const ASN1_INTEGER* serial = X509_get0_serialNumber(cert);
  if (serial == nullptr) return {};
  ossl::BnPtr bn(ASN1_INTEGER_to_BN(serial, nullptr));
  if (!bn) return {};
  ossl::CharPtr hex(BN_bn2hex(bn.get()));
  if (!hex) return {};
  return std::string(hex.get());
}

// ASN1_TIME -> epoch seconds (JITR records certificate validity from presence events).
std::int64_t epoch_seconds(const ASN1_TIME* t) {
  if (t == nullptr) return 0;
  struct tm tm {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

std::string hex_upper(const unsigned char* data, std::size_t len) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(len * 2);
  for (std::size_t i = 0; i < len; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 0x0F]);
  }
  return out;
}

std::string name_rfc2253(const X509_name_st* name) {
  if (name == nullptr) return {};
  ossl::BioPtr bio(BIO_new(BIO_s_mem()));
  if (!bio) return {};
  if (X509_NAME_print_ex(bio.get(), name, 0, XN_FLAG_RFC2253) < 0) return {};
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  if (len <= 0 || data == nullptr) return {};
  return std::string(data, static_cast<std::size_t>(len));
}

std::string sha256_fingerprint(const x509_st* cert) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (cert == nullptr || X509_digest(cert, EVP_sha256(), md, &md_len) != 1) return {};
  return hex_upper(md, md_len);
}

CertIdentity extract_identity(x509_st* cert) {
  CertIdentity id;
  if (cert == nullptr) return id;
  id.fingerprint = sha256_fingerprint(cert);
  id.cn = common_name(cert);
  id.issuer = name_rfc2253(X509_get_issuer_name(cert));
  id.serial = serial_hex(cert);
  if (const ASN1_OCTET_STRING* aki = X509_get0_authority_key_id(cert); aki != nullptr) {
    id.aki = hex_upper(ASN1_STRING_get0_data(aki), static_cast<std::size_t>(ASN1_STRING_length(aki)));
  }
  id.not_before = epoch_seconds(X509_get0_notBefore(cert));
  id.not_after = epoch_seconds(X509_get0_notAfter(cert));
  return id;
}

std::optional<CertIdentity> identity_from_pem(std::string_view pem) {
  ossl::BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return std::nullopt;
  ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return std::nullopt;
  return extract_identity(cert.get());
}

}  // namespace sp::broker_plugin
