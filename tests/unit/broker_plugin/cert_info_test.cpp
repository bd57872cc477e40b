// Certificate field extraction, on certificates generated in-process with OpenSSL 3.

#include <gtest/gtest.h>

#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <ctime>

#include <memory>
#include <string>
#include <vector>

#include "cert_info.hpp"
#include "cert_support.hpp"

namespace sp::broker_plugin {
namespace {

using test::add_ext;
using test::CertPtr;
using test::KeyPtr;

KeyPtr new_key() { return test::ec_key(); }

struct Spec {
  std::vector<std::pair<std::string, std::string>> subject;
  const char* serial_hex = "0A1B2C";
  bool with_aki = true;
};

// Issues a certificate; a null issuer makes it self-signed.
CertPtr make_cert(const Spec& spec, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key) {
  CertPtr x(X509_new(), &X509_free);
  X509_set_version(x.get(), 2);
  BIGNUM* bn = nullptr;
  BN_hex2bn(&bn, spec.serial_hex);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), 0);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), 3600);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  for (const auto& [k, v] : spec.subject) {
    X509_NAME_add_entry_by_txt(name, k.c_str(), MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(v.c_str()), -1, -1, 0);
  }
  X509* signer = issuer != nullptr ? issuer : x.get();
  X509_set_issuer_name(x.get(), X509_get_subject_name(signer));
  add_ext(signer, x.get(), NID_subject_key_identifier, "hash");
  if (spec.with_aki) add_ext(signer, x.get(), NID_authority_key_identifier, "keyid:always");
  X509_sign(x.get(), issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return x;
}

std::string hex(const unsigned char* d, std::size_t n) {
  std::string s;
  char buf[3];
  for (std::size_t i = 0; i < n; ++i) {
    std::snprintf(buf, sizeof buf, "%02X", d[i]);
    s += buf;
  }
  return s;
}

class CertInfo : public ::testing::Test {
 protected:
  CertInfo()
      : ca_key_(new_key()),
        ca_(make_cert({{{"O", "Acme"}, {"CN", "Device CA"}}, "01"}, ca_key_.get(), nullptr,
                      nullptr)) {}
  KeyPtr ca_key_;
  CertPtr ca_;
};

TEST_F(CertInfo, ExtractsAllFields) {
  auto key = new_key();
  auto leaf =
      make_cert({{{"O", "Acme"}, {"CN", "SN1"}}, "0A1B2C"}, key.get(), ca_.get(), ca_key_.get());
  const auto before = static_cast<std::int64_t>(std::time(nullptr));
  auto id = extract_identity(leaf.get());
  EXPECT_EQ(id.cn, "SN1");
  // Validity as epoch seconds (make_cert: now .. now + 1 h).
  EXPECT_NEAR(static_cast<double>(id.not_before), static_cast<double>(before), 5.0);
  EXPECT_EQ(id.not_after - id.not_before, 3600);
  EXPECT_EQ(id.issuer, "CN=Device CA,O=Acme");  // RFC 2253: most specific first
  EXPECT_EQ(id.serial, "0A1B2C");

  // Fingerprint = SHA-256 over the DER, computed independently.
  unsigned char* der = nullptr;
  const int der_len = i2d_X509(leaf.get(), &der);
  ASSERT_GT(der_len, 0);
  unsigned char md[32];
  unsigned int md_len = 0;
  ASSERT_EQ(EVP_Digest(der, static_cast<std::size_t>(der_len), md, &md_len, EVP_sha256(), nullptr),
            1);
  OPENSSL_free(der);
  EXPECT_EQ(id.fingerprint, hex(md, md_len));
  EXPECT_EQ(id.fingerprint.size(), 64u);

  // AKI of the leaf = SKI of the CA.
  const ASN1_OCTET_STRING* ski = X509_get0_subject_key_id(ca_.get());
  ASSERT_NE(ski, nullptr);
  EXPECT_EQ(id.aki,
            hex(ASN1_STRING_get0_data(ski), static_cast<std::size_t>(ASN1_STRING_length(ski))));
  EXPECT_FALSE(id.aki.empty());
}

TEST_F(CertInfo, MissingAkiStaysEmpty) {
  auto key = new_key();
  Spec spec{{{"CN", "SN2"}}, "05", false};
  auto leaf = make_cert(spec, key.get(), ca_.get(), ca_key_.get());
  auto id = extract_identity(leaf.get());
  EXPECT_EQ(id.cn, "SN2");
  EXPECT_TRUE(id.aki.empty());
  EXPECT_EQ(id.serial, "05");
}

TEST_F(CertInfo, TwoCnsOrNoCnGiveEmptyCn) {
  auto key = new_key();
  auto two = make_cert({{{"CN", "SN1"}, {"CN", "SN2"}}}, key.get(), ca_.get(), ca_key_.get());
  EXPECT_EQ(extract_identity(two.get()).cn, "");
  auto none = make_cert({{{"O", "Acme"}}}, key.get(), ca_.get(), ca_key_.get());
  EXPECT_EQ(extract_identity(none.get()).cn, "");
}

TEST_F(CertInfo, Utf8CnAndPemRoundTrip) {
  auto key = new_key();
  auto leaf = make_cert({{{"CN", "Gerät-7"}}}, key.get(), ca_.get(), ca_key_.get());
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), &BIO_free);
  PEM_write_bio_X509(bio.get(), leaf.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  auto id = identity_from_pem(std::string_view(data, static_cast<std::size_t>(len)));
  ASSERT_TRUE(id);
  EXPECT_EQ(id->cn, "Gerät-7");
  EXPECT_EQ(id->fingerprint, extract_identity(leaf.get()).fingerprint);
  EXPECT_FALSE(identity_from_pem("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"));
  EXPECT_TRUE(extract_identity(nullptr).fingerprint.empty());
}

}  // namespace
}  // namespace sp::broker_plugin
