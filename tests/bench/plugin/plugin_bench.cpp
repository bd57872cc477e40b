// Broker plugin lookup cost: the per-message ACL decision and the per-connect authentication with
// 10 devices versus 100,000 devices (connected, activated and revoked entries), in one run.
// Target (issue "Device connectivity"): 100k devices cost no more per message than 10.
// Prints ns/op for both sizes and the ratio; asserts nothing.

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "broker_plugin/policy.hpp"
#include "broker_plugin/trust.hpp"

namespace bp = sp::broker_plugin;
using Clock = std::chrono::steady_clock;

namespace {

std::string hex64(std::uint64_t seed) {
  static const char* kHex = "0123456789ABCDEF";
  std::mt19937_64 rng(seed);
  std::string out;
  for (int i = 0; i < 64; ++i) out.push_back(kHex[rng() & 15]);
  return out;
}

// A device certificate whose signature the glue verified against device CA "AA".
bp::CertIdentity device_cert(std::string fingerprint, std::string serial, std::string cert_serial) {
  bp::CertIdentity c;
  c.fingerprint = std::move(fingerprint);
  c.cn = std::move(serial);
  c.issuer = "CN=Dev CA";
  c.serial = std::move(cert_serial);
  c.aki = "AA";
  c.issuer_kind = bp::IssuerKind::kDevice;
  c.ca_id = "AA";
  return c;
}

struct Fixture {
  std::vector<std::string> serials;
  std::vector<std::string> topics;
  std::vector<int> keys;  // stable addresses used as connection keys
  bp::Policy policy;

  explicit Fixture(std::size_t devices)
      : keys(devices), policy(make_options(), make_state(devices), 1795819081) {
    for (std::size_t i = 0; i < devices; ++i) {
      serials.push_back("SN" + std::to_string(i));
      topics.push_back("smartproduct/telemetry/" + serials.back());
      bp::ConnectAttempt attempt{&keys[i], serials.back(), "127.0.0.1", 5};
      bp::CertIdentity cert = device_cert(hex64(i), serials.back(), "01");
      policy.authenticate(attempt, cert, 0);
    }
  }
  static bp::Options make_options() {
    auto options = bp::parse_options({{"state_file", "/dev/null"},
                                      {"service_ca", "/dev/null"},
                                      {"device_ca_dir", "/dev/null"},
                                      {"require_activation", "true"}});
    return *options;
  }
  static bp::BrokerState make_state(std::size_t devices) {
    bp::BrokerState s;
    for (std::size_t i = 0; i < devices; ++i) {
      s.activated_fingerprints.insert(hex64(i));
      s.revoked_fingerprints.insert(hex64(i + 1'000'000'000));
      s.revoked_usernames.insert("REVOKED" + std::to_string(i));
    }
    return s;
  }
};

// `publishers`: how many of the fixture's devices send the messages (picked at random per message).
double acl_ns(Fixture& f, std::size_t ops, std::size_t publishers) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, publishers - 1);
  std::size_t allowed = 0;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < ops; ++i) {
    std::size_t d = pick(rng);
    allowed += f.policy.check_acl(&f.keys[d], f.serials[d], f.topics[d], bp::Access::kWrite) ==
               bp::AclResult::kAllow;
  }
  auto ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / ops;
  if (allowed != ops) std::fprintf(stderr, "unexpected denials: %zu of %zu\n", ops - allowed, ops);
  return ns;
}

double connect_ns(Fixture& f, std::size_t ops) {
  std::vector<int> keys(ops);
  std::vector<bp::ConnectAttempt> attempts;
  std::vector<bp::CertIdentity> certs;
  for (std::size_t i = 0; i < ops; ++i) {
    std::string serial = "NEW" + std::to_string(i);
    attempts.push_back({&keys[i], serial, "127.0.0.1", 5});
    certs.push_back(device_cert(hex64(500'000'000 + i), serial, "02"));
  }
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < ops; ++i) {
    f.policy.authenticate(attempts[i], certs[i], 0);
    f.policy.on_disconnect(&keys[i], 0);
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / ops;
}

// --- the signature check per connect (trust.hpp) ------------------------------------------------

X509* make_cert(const char* cn, EVP_PKEY* key, X509* issuer, EVP_PKEY* issuer_key, bool ca) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), ca ? 1 : 2);
  X509_gmtime_adj(X509_getm_notBefore(x), -60);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key);
  X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_UTF8,
                             reinterpret_cast<const unsigned char*>(cn), -1, -1, 0);
  X509* signer = issuer != nullptr ? issuer : x;
  X509_set_issuer_name(x, X509_get_subject_name(signer));
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, signer, x, nullptr, nullptr, 0);
  for (auto [nid, value] : {std::pair{NID_basic_constraints, ca ? "CA:TRUE" : "CA:FALSE"},
                            {NID_subject_key_identifier, "hash"},
                            {NID_authority_key_identifier, "keyid:always"}}) {
    X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
    X509_add_ext(x, ext, -1);
    X509_EXTENSION_free(ext);
  }
  X509_sign(x, issuer_key != nullptr ? issuer_key : key, EVP_sha256());
  return x;
}

// ns per verify_device for a leaf of a CA with key `ca_key`: with the per-fingerprint cache (the
// same device reconnecting) and without it (every connect a new certificate).
std::pair<double, double> verify_ns(EVP_PKEY* ca_key, const char* label) {
  namespace fs = std::filesystem;
  const fs::path dir =
      fs::temp_directory_path() / ("sp-plugin-bench-" + std::to_string(::getpid()) + "-" + label);
  fs::create_directories(dir);
  X509* ca = make_cert("Bench CA", ca_key, nullptr, nullptr, true);
  EVP_PKEY* leaf_key = EVP_EC_gen("P-256");
  X509* leaf = make_cert("SN1", leaf_key, ca, ca_key, false);
  {
    FILE* f = std::fopen((dir / "ca.pem").c_str(), "w");
    PEM_write_X509(f, ca);
    std::fclose(f);
  }
  auto ts = bp::TrustStore::load("", dir.string());
  const std::string fp(64, 'A');
  auto run = [&](std::size_t ops) {
    std::size_t ok = 0;
    auto t0 = Clock::now();
    for (std::size_t i = 0; i < ops; ++i) ok += ts->verify_device(leaf, fp).has_value();
    auto ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / ops;
    if (ok != ops) std::fprintf(stderr, "unexpected verify failures: %zu\n", ops - ok);
    return ns;
  };
  const double cached = run(200'000);
  ts->set_cache_limit(0);
  const double uncached = run(2'000);
  X509_free(leaf);
  X509_free(ca);
  EVP_PKEY_free(leaf_key);
  fs::remove_all(dir);
  return {cached, uncached};
}

}  // namespace

int main() {
  constexpr std::size_t kAclOps = 2'000'000, kConnectOps = 50'000;
  std::printf(
      "broker plugin lookups: ACL check per message, authenticate+disconnect per connection\n");
  Fixture small(10);
  Fixture large(100'000);
  // Warm up both, then measure alternately so frequency changes hit both sizes alike.
  acl_ns(small, kAclOps / 10, 10);
  acl_ns(large, kAclOps / 10, 10);
  // The target: the same 10 devices publish, with 10 or with 100k devices in the plugin's tables.
  double acl_small = acl_ns(small, kAclOps, 10), acl_large = acl_ns(large, kAclOps, 10);
  // For information: messages from devices spread over all 100k (memory, not the lookups, grows).
  double acl_spread = acl_ns(large, kAclOps, large.serials.size());
  double con_small = connect_ns(small, kConnectOps), con_large = connect_ns(large, kConnectOps);
  std::printf(
      "ACL check, same 10 publishers:  10 devices %7.1f ns/msg  100k devices %7.1f ns/msg"
      "  ratio %.2f\n",
      acl_small, acl_large, acl_large / acl_small);
  std::printf("ACL check, publishers spread over all 100k devices: %7.1f ns/msg (cache misses)\n",
              acl_spread);
  std::printf(
      "connect+disconnect:             10 devices %7.0f ns      100k devices %7.0f ns"
      "      ratio %.2f\n",
      con_small, con_large, con_large / con_small);
  std::printf("(target: ratio ~1: 100k devices cost no more per message than 10)\n");

  // The issuer check of issue 10: one signature verification per connect, cached per fingerprint.
  EVP_PKEY* ec = EVP_EC_gen("P-256");
  EVP_PKEY* rsa = EVP_RSA_gen(2048);
  auto [ec_cached, ec_uncached] = verify_ns(ec, "ec");
  auto [rsa_cached, rsa_uncached] = verify_ns(rsa, "rsa");
  EVP_PKEY_free(ec);
  EVP_PKEY_free(rsa);
  std::printf(
      "issuer signature check per connect: P-256 CA %7.0f ns (cached %5.0f ns)   RSA-2048 CA "
      "%7.0f ns (cached %5.0f ns)\n",
      ec_uncached, ec_cached, rsa_uncached, rsa_cached);
  std::printf("(versus connect+disconnect above: %.0f%% of it uncached with a P-256 CA)\n",
              100.0 * ec_uncached / con_small);
  return 0;
}
