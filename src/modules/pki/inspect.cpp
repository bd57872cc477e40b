// Certificate inspection and verification.

#include <arpa/inet.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cstdio>
#include <ctime>

#include "ossl.hpp"
#include "smartproduct/pki/pki.hpp"

namespace sp::pki {
namespace {

using namespace detail;

std::string name_rfc2253(const X509_NAME* name) {
  BioPtr bio{BIO_new(BIO_s_mem())};
  if (!bio) return {};
  // XN_FLAG_RFC2253 includes ASN1_STRFLGS_ESC_MSB which escapes UTF-8 bytes; drop it so that
  // non-ASCII names stay readable UTF-8 (control characters and RFC 2253 specials are escaped).
  const unsigned long flags = XN_FLAG_RFC2253 & ~ASN1_STRFLGS_ESC_MSB;
  if (X509_NAME_print_ex(bio.get(), name, 0, flags) < 0) return {};
  return bio_to_string(bio.get());
}

std::string common_name_of(const X509_NAME* name) {
  int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  unsigned char* utf8 = nullptr;
  int len = ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx)));
  const ossl::BytesPtr owner(utf8);
  if (len < 0) return {};
  return std::string(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
}

Result<std::int64_t> to_epoch(const ASN1_TIME* t) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(t, &tm) != 1) {
    return ossl_fail(ErrorKind::kBadRequest, "CertificateInvalid", "bad validity time");
  }
  return static_cast<std::int64_t>(timegm(&tm));
}

std::string octets_hex(const ASN1_OCTET_STRING* s) {
  if (s == nullptr) return {};
  return to_hex_upper(ASN1_STRING_get0_data(s), static_cast<std::size_t>(ASN1_STRING_length(s)));
}

std::string ip_to_text(const ASN1_OCTET_STRING* ip) {
  const unsigned char* p = ASN1_STRING_get0_data(ip);
  const int len = ASN1_STRING_length(ip);
  char out[INET6_ADDRSTRLEN];
  // inet_ntop yields the compressed text users type ("::1"), unlike OpenSSL's long form.
  if (len == 4 && inet_ntop(AF_INET, p, out, sizeof out) != nullptr) return out;
  if (len == 16 && inet_ntop(AF_INET6, p, out, sizeof out) != nullptr) return out;
  return to_hex_upper(p, static_cast<std::size_t>(std::max(len, 0)));
}

StorePtr store_from_bundle(std::string_view pem, int& count) {
  StorePtr store{X509_STORE_new()};
  count = 0;
  if (!store) return store;
  BioPtr bio = mem_bio(pem);
  if (!bio) return StorePtr{};
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    X509_STORE_add_cert(store.get(), cert.get());  // takes its own reference
    ++count;
  }
  openssl_errors();  // the loop ends with a "no start line" error: expected, discard it
  return store;
}

}  // namespace

Result<CertInfo> parse_certificate(std::string_view cert_pem) {
  auto cert = read_cert(cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  X509* x = cert->get();
  CertInfo info;
  info.subject = name_rfc2253(X509_get_subject_name(x));
  info.common_name = common_name_of(X509_get_subject_name(x));
  info.issuer = name_rfc2253(X509_get_issuer_name(x));

  BnPtr serial{ASN1_INTEGER_to_BN(X509_get0_serialNumber(x), nullptr)};
  const ossl::CharPtr hex(serial ? BN_bn2hex(serial.get()) : nullptr);
  if (!hex) return ossl_fail(ErrorKind::kBadRequest, "CertificateInvalid", "bad serial");
  info.serial_hex = hex.get();

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  if (X509_digest(x, EVP_sha256(), md, &md_len) != 1) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "digest failed");
  }
  info.sha256_fingerprint = to_hex_upper(md, md_len);

  auto nb = to_epoch(X509_get0_notBefore(x));
  if (!nb) return tl::unexpected(nb.error());
  auto na = to_epoch(X509_get0_notAfter(x));
  if (!na) return tl::unexpected(na.error());
  info.not_before = *nb;
  info.not_after = *na;

  // X509_get_extension_flags caches the parsed extensions; EXFLAG_CA means basicConstraints
  // CA:TRUE.
  info.is_ca = (X509_get_extension_flags(x) & EXFLAG_CA) != 0;
  info.subject_key_id = octets_hex(X509_get0_subject_key_id(x));
  info.authority_key_id = octets_hex(X509_get0_authority_key_id(x));

  GeneralNamesPtr sans{
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(x, NID_subject_alt_name, nullptr, nullptr))};
  if (sans) {
    for (int i = 0; i < sk_GENERAL_NAME_num(sans.get()); ++i) {
      const GENERAL_NAME* gn = sk_GENERAL_NAME_value(sans.get(), i);
      if (gn->type == GEN_DNS) {
        const ASN1_IA5STRING* s = gn->d.dNSName;
        info.dns_names.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                                    static_cast<std::size_t>(ASN1_STRING_length(s)));
      } else if (gn->type == GEN_IPADD) {
        info.ip_addresses.push_back(ip_to_text(gn->d.iPAddress));
      }
    }
  }
  return info;
}

Result<std::vector<std::string>> split_pem_certificates(std::string_view pem_bundle) {
  BioPtr bio = mem_bio(pem_bundle);
  if (!bio) return fail(ErrorKind::kBadRequest, "CertificateInvalid", "bundle too large");
  std::vector<std::string> out;
  while (X509Ptr cert{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    auto pem = cert_to_pem(cert.get());
    if (!pem) return tl::unexpected(pem.error());
    out.push_back(std::move(*pem));
  }
  openssl_errors();
  if (out.empty()) {
    return fail(ErrorKind::kBadRequest, "CertificateInvalid", "no PEM certificate found");
  }
  return out;
}

Result<void> verify_signed_by(std::string_view cert_pem, std::string_view ca_cert_pem) {
  auto cert = read_cert(cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  auto ca = read_cert(ca_cert_pem);
  if (!ca) return tl::unexpected(ca.error());
  EVP_PKEY* ca_key = X509_get0_pubkey(ca->get());
  if (ca_key == nullptr || X509_verify(cert->get(), ca_key) != 1) {
    return ossl_fail(ErrorKind::kUnprocessable, "CertificateSignatureInvalid",
                     "certificate is not signed by the given CA");
  }
  return {};
}

Result<void> verify_chain(std::string_view leaf_pem, std::string_view untrusted_pem,
                          std::string_view roots_pem) {
  auto leaf = read_cert(leaf_pem);
  if (!leaf) return tl::unexpected(leaf.error());
  int root_count = 0;
  StorePtr store = store_from_bundle(roots_pem, root_count);
  if (!store || root_count == 0) {
    return fail(ErrorKind::kBadRequest, "CertificateInvalid", "no trusted root certificate given");
  }
  X509StackPtr untrusted{sk_X509_new_null()};
  if (!untrusted) return ossl_fail(ErrorKind::kInternal, "PkiFailure", "out of memory");
  if (!untrusted_pem.empty()) {
    BioPtr bio = mem_bio(untrusted_pem);
    while (X509* c = bio ? PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr) : nullptr) {
      sk_X509_push(untrusted.get(), c);
    }
    openssl_errors();
  }
  StoreCtxPtr ctx{X509_STORE_CTX_new()};
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store.get(), leaf->get(), untrusted.get()) != 1) {
    return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot set up verification");
  }
  if (X509_verify_cert(ctx.get()) != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    openssl_errors();
    return fail(
        ErrorKind::kUnprocessable, "CertificateChainInvalid",
        std::string("certificate chain does not verify: ") + X509_verify_cert_error_string(err));
  }
  return {};
}

Result<void> check_key_matches(std::string_view cert_pem, std::string_view key_pem) {
  auto cert = read_cert(cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  auto key = read_key(key_pem);
  if (!key) return tl::unexpected(key.error());
  if (X509_check_private_key(cert->get(), key->get()) != 1) {
    return ossl_fail(ErrorKind::kUnprocessable, "KeyMismatch",
                     "the private key does not belong to the certificate");
  }
  return {};
}

Result<std::string> subject_hash(std::string_view cert_pem) {
  auto cert = read_cert(cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  int ok = 0;
  unsigned long h = X509_NAME_hash_ex(X509_get_subject_name(cert->get()), nullptr, nullptr, &ok);
  if (ok != 1) return ossl_fail(ErrorKind::kInternal, "PkiFailure", "cannot hash subject name");
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", h);
  return std::string(buf);
}

}  // namespace sp::pki
