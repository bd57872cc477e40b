// Issuer decided by signature (trust.hpp), on certificates made in-process with OpenSSL 3: the
// forged service identity and the forged issuer of issue 10 are refused, genuine leaves are
// attributed to the CA whose key signed them, and the device CA directory is followed.

#include <gtest/gtest.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>

#include "cert_support.hpp"
#include "trust.hpp"

namespace sp::broker_plugin {
namespace {

namespace fs = std::filesystem;
using test::CertPtr;
using test::ec_key;
using test::KeyPtr;

KeyPtr rsa_key() { return KeyPtr(EVP_RSA_gen(2048), &EVP_PKEY_free); }

std::string hex(const std::string& bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(kDigits[c >> 4]);
    out.push_back(kDigits[c & 0x0F]);
  }
  return out;
}

std::string ski_bytes(X509* cert) {
  const ASN1_OCTET_STRING* s = X509_get0_subject_key_id(cert);
  if (s == nullptr) return {};
  return std::string(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
}

struct Pair {
  CertPtr cert{nullptr, &X509_free};
  KeyPtr key{nullptr, &EVP_PKEY_free};
  std::string ski_hex() const { return hex(ski_bytes(cert.get())); }
  std::string pem() const {
    BIO* bio = BIO_new(BIO_s_mem());
    PEM_write_bio_X509(bio, cert.get());
    char* data = nullptr;
    const long len = BIO_get_mem_data(bio, &data);
    std::string out(data, static_cast<std::size_t>(len));
    BIO_free(bio);
    return out;
  }
  std::string fingerprint() const {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    X509_digest(cert.get(), EVP_sha256(), md, &len);
    return hex(std::string(reinterpret_cast<const char*>(md), len));
  }
};

struct Spec {
  std::string cn;
  bool ca = false;
  std::optional<std::string> ski;          // raw bytes; default: hash of the key
  std::optional<std::string> aki;          // raw bytes; default: the issuer's SKI
  std::optional<std::string> issuer_name;  // CN written as issuer; default: the issuer's subject
  bool with_aki = true;
  long not_after_s = 3600;
  long not_before_s = -60;
};

Spec leaf(std::string cn) {
  Spec s;
  s.cn = std::move(cn);
  return s;
}

Spec ca(std::string cn) {
  Spec s = leaf(std::move(cn));
  s.ca = true;
  return s;
}

// A leaf whose issuer-chosen fields name someone else.
Spec forged(std::string cn, std::string aki, std::optional<std::string> issuer_name = {}) {
  Spec s = leaf(std::move(cn));
  s.aki = std::move(aki);
  s.issuer_name = std::move(issuer_name);
  return s;
}

void add_octet_ext(X509* x, int nid, const std::string& bytes) {
  if (nid == NID_subject_key_identifier) {
    ASN1_OCTET_STRING* s = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(s, reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
    X509_add1_ext_i2d(x, nid, s, 0, X509V3_ADD_REPLACE);
    ASN1_OCTET_STRING_free(s);
  } else {
    AUTHORITY_KEYID* akid = AUTHORITY_KEYID_new();
    akid->keyid = ASN1_OCTET_STRING_new();
    ASN1_OCTET_STRING_set(akid->keyid, reinterpret_cast<const unsigned char*>(bytes.data()),
                          static_cast<int>(bytes.size()));
    X509_add1_ext_i2d(x, nid, akid, 0, X509V3_ADD_REPLACE);
    AUTHORITY_KEYID_free(akid);
  }
}


// A null issuer makes a self-signed certificate. Issuer-chosen fields (AKI, issuer DN) can be set
// to anything, as a holder of a CA key can.
Pair make(const Spec& spec, const Pair* issuer, KeyPtr key) {
  static long serial = 1;
  Pair p;
  p.key = std::move(key);
  p.cert.reset(X509_new());
  X509* x = p.cert.get();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
  X509_gmtime_adj(X509_getm_notBefore(x), spec.not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(x), spec.not_after_s);
  X509_set_pubkey(x, p.key.get());
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(spec.cn.c_str()), -1, -1, 0);
  X509* signer_cert = issuer != nullptr ? issuer->cert.get() : x;
  EVP_PKEY* signer_key = issuer != nullptr ? issuer->key.get() : p.key.get();
  if (spec.issuer_name) {
    X509_NAME* n = X509_NAME_new();
    X509_NAME_add_entry_by_txt(n, "CN", MBSTRING_UTF8,
                               reinterpret_cast<const unsigned char*>(spec.issuer_name->c_str()),
                               -1, -1, 0);
    X509_set_issuer_name(x, n);
    X509_NAME_free(n);
  } else {
    X509_set_issuer_name(x, X509_get_subject_name(signer_cert));
  }
  if (spec.ski) {
    add_octet_ext(x, NID_subject_key_identifier, *spec.ski);
  } else {
    test::add_ext(signer_cert, x, NID_subject_key_identifier, "hash");
  }
  if (spec.with_aki) {
    if (spec.aki) {
      add_octet_ext(x, NID_authority_key_identifier, *spec.aki);
    } else if (issuer != nullptr) {
      add_octet_ext(x, NID_authority_key_identifier, ski_bytes(issuer->cert.get()));
    } else {
      add_octet_ext(x, NID_authority_key_identifier, ski_bytes(x));
    }
  }
  test::add_ext(signer_cert, x, NID_basic_constraints,
               spec.ca ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE");
  EXPECT_GT(X509_sign(x, signer_key, EVP_sha256()), 0);
  return p;
}

class TrustStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("sp-trust-test-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "device-cas");
    root_ = make(ca("Platform Root"), nullptr, ec_key());
    acme_ = make(ca("Acme Device CA"), nullptr, ec_key());
    globex_ = make(ca("Globex Device CA"), nullptr, rsa_key());
    write(dir_ / "root.crt", root_.pem());
    write(devices() / "acme.pem", acme_.pem());
    write(devices() / "globex.pem", globex_.pem());
  }
  void TearDown() override { fs::remove_all(dir_); }

  fs::path devices() const { return dir_ / "device-cas"; }
  static void write(const fs::path& p, const std::string& text) { std::ofstream(p) << text; }
  TrustStore load() {
    auto ts = TrustStore::load((dir_ / "root.crt").string(), devices().string());
    EXPECT_TRUE(ts) << ts.error();
    return std::move(*ts);
  }
  static std::optional<std::string> service(TrustStore& ts, const Pair& leaf) {
    return ts.verify_service(leaf.cert.get(), leaf.fingerprint());
  }
  static std::optional<std::string> device(TrustStore& ts, const Pair& leaf) {
    return ts.verify_device(leaf.cert.get(), leaf.fingerprint());
  }

  fs::path dir_;
  Pair root_, acme_, globex_;
};

TEST_F(TrustStoreTest, GenuineLeavesAreAttributedToTheCaWhoseKeySignedThem) {
  auto ts = load();
  EXPECT_EQ(ts.service_anchor_count(), 1u);
  EXPECT_EQ(ts.device_anchor_count(), 2u);
  auto backend = make(leaf("svc-backend"), &root_, ec_key());
  auto sn1 = make(leaf("SN1"), &acme_, ec_key());
  auto sn2 = make(leaf("SN2"), &globex_, ec_key());
  EXPECT_EQ(service(ts, backend), root_.ski_hex());
  EXPECT_EQ(device(ts, sn1), acme_.ski_hex());
  EXPECT_EQ(device(ts, sn2), globex_.ski_hex());  // RSA CA
  // The kinds do not mix: the root is no device CA, a device CA issues no service identity.
  EXPECT_EQ(device(ts, backend), std::nullopt);
  EXPECT_EQ(service(ts, sn1), std::nullopt);
}

TEST_F(TrustStoreTest, ForgedServiceIdentityUnderAnIntermediateWithTheRootsSkiIsRefused) {
  // Issue 10, finding 1: with Acme's key, an intermediate whose SKI (and subject) are the root's,
  // and under it a leaf svc-backend whose AKI and issuer DN therefore name the root.
  Spec forged_spec = ca("Platform Root");
  forged_spec.ski = ski_bytes(root_.cert.get());
  auto forged_ca = make(forged_spec, &acme_, ec_key());
  auto cert = make(leaf("svc-backend"), &forged_ca, ec_key());
  ASSERT_EQ(hex(std::string(reinterpret_cast<const char*>(
                                ASN1_STRING_get0_data(X509_get0_authority_key_id(cert.cert.get()))),
                            static_cast<std::size_t>(
                                ASN1_STRING_length(X509_get0_authority_key_id(cert.cert.get()))))),
            root_.ski_hex());
  auto ts = load();
  EXPECT_EQ(service(ts, cert), std::nullopt);
  EXPECT_EQ(device(ts, cert), std::nullopt);
  // Signed with Acme's key directly and naming the root: refused as well.
  auto direct =
      make(forged("svc-backend", ski_bytes(root_.cert.get()), "Platform Root"), &acme_, ec_key());
  EXPECT_EQ(service(ts, direct), std::nullopt);
}

TEST_F(TrustStoreTest, ForgedIssuerNamingAnotherCaIsRefused) {
  // Acme's key signs a leaf whose AKI and issuer DN name Globex.
  auto cert =
      make(forged("SN7", ski_bytes(globex_.cert.get()), "Globex Device CA"), &acme_, ec_key());
  auto ts = load();
  EXPECT_EQ(device(ts, cert), std::nullopt);
  // Only candidates are tried: AKI naming Globex, issuer DN naming Globex (one anchor, one verify).
  EXPECT_EQ(ts.verifications(), 1u);
}

TEST_F(TrustStoreTest, AttributedToTheSignerWhateverTheAkiClaims) {
  // Acme signed it and its issuer DN names Acme, its AKI names Globex: it is Acme's.
  auto cert = make(forged("SN8", ski_bytes(globex_.cert.get())), &acme_, ec_key());
  auto ts = load();
  EXPECT_EQ(device(ts, cert), acme_.ski_hex());
}

TEST_F(TrustStoreTest, LeafWithoutAkiIsFoundByIssuerName) {
  Spec spec = leaf("SN3");
  spec.with_aki = false;
  auto cert = make(spec, &acme_, ec_key());
  auto ts = load();
  EXPECT_EQ(device(ts, cert), acme_.ski_hex());
}

TEST_F(TrustStoreTest, VerdictsAreCachedPerFingerprint) {
  auto ts = load();
  auto sn1 = make(leaf("SN1"), &acme_, ec_key());
  auto other =
      make(forged("SN7", ski_bytes(globex_.cert.get()), "Globex Device CA"), &acme_, ec_key());
  EXPECT_EQ(device(ts, sn1), acme_.ski_hex());
  EXPECT_EQ(device(ts, other), std::nullopt);
  const auto n = ts.verifications();
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(device(ts, sn1), acme_.ski_hex());
    EXPECT_EQ(device(ts, other), std::nullopt);
  }
  EXPECT_EQ(ts.verifications(), n);
  ts.set_cache_limit(0);
  EXPECT_EQ(device(ts, sn1), acme_.ski_hex());
  EXPECT_EQ(ts.verifications(), n + 1);
}

TEST_F(TrustStoreTest, FollowsTheDeviceCaDirectory) {
  auto ts = load();
  auto sn1 = make(leaf("SN1"), &acme_, ec_key());
  ASSERT_EQ(device(ts, sn1), acme_.ski_hex());
  // Removed (deregistered): after a reload (setState) its leaves belong to no CA, cache or not.
  fs::remove(devices() / "acme.pem");
  ASSERT_TRUE(ts.reload_devices());
  EXPECT_EQ(ts.device_anchor_count(), 1u);
  EXPECT_EQ(device(ts, sn1), std::nullopt);
  // Added (registered): found at the first miss, without an explicit reload.
  auto initech = make(ca("Initech CA"), nullptr, ec_key());
  write(devices() / "initech.pem", initech.pem());
  auto sn9 = make(leaf("SN9"), &initech, ec_key());
  EXPECT_EQ(device(ts, sn9), initech.ski_hex());
  EXPECT_EQ(ts.device_anchor_count(), 2u);
}

TEST_F(TrustStoreTest, OnlyValidCaCertificatesAreAnchors) {
  // A leaf dropped into the directory issues nothing; an expired CA issues nothing either.
  auto rogue = make(leaf("not-a-ca"), &acme_, ec_key());
  write(devices() / "rogue.pem", rogue.pem());
  write(devices() / "junk.txt", "not a certificate\n");
  Spec old = ca("Old CA");
  old.not_after_s = -10;
  old.not_before_s = -3600;
  auto expired = make(old, nullptr, ec_key());
  write(devices() / "old.pem", expired.pem());
  auto ts = load();
  EXPECT_EQ(ts.device_anchor_count(), 3u);  // acme, globex, old
  EXPECT_EQ(ts.warnings().size(), 2u);
  EXPECT_EQ(device(ts, make(leaf("SN5"), &rogue, ec_key())), std::nullopt);
  EXPECT_EQ(device(ts, make(leaf("SN6"), &expired, ec_key())), std::nullopt);
}

TEST_F(TrustStoreTest, UnreadableServiceAnchorIsAnError) {
  EXPECT_FALSE(TrustStore::load((dir_ / "missing.crt").string(), devices().string()));
  write(dir_ / "empty.crt", "");
  EXPECT_FALSE(TrustStore::load((dir_ / "empty.crt").string(), devices().string()));
  EXPECT_FALSE(TrustStore::load((dir_ / "root.crt").string(), (dir_ / "nope").string()));
}

}  // namespace
}  // namespace sp::broker_plugin
