#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "smartproduct/pki/pki.hpp"

namespace fs = std::filesystem;
using namespace sp::pki;

namespace {

// Fresh directory per test, removed afterwards.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sp_pki_test.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }
  std::string file(const std::string& name) const { return (path_ / name).string(); }

 private:
  fs::path path_;
};

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) r.output += buf.data();
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

void write_text(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::string slurp(const std::string& path) {
  auto r = read_file(path);
  return r ? *r : std::string();
}

unsigned mode_of(const std::string& path) {
  struct stat st {};
  ::stat(path.c_str(), &st);
  return st.st_mode & 07777;
}

// One root and one device CA shared by the tests (EC key generation is cheap but not free).
struct Fixture {
  CertAndKey root;
  CertAndKey device_ca;
  Fixture() {
    root = create_root_ca("test root", 30).value();
    device_ca = issue_intermediate_ca({root.cert_pem, root.key_pem}, "test device CA", 30).value();
  }
};

const Fixture& fixture() {
  static const Fixture f;
  return f;
}

Issuer root_issuer() { return {fixture().root.cert_pem, fixture().root.key_pem}; }
Issuer device_issuer() { return {fixture().device_ca.cert_pem, fixture().device_ca.key_pem}; }

}  // namespace

TEST(PkiKeys, GeneratesP256Pkcs8) {
  auto key = generate_ec_key();
  ASSERT_TRUE(key) << key.error().message;
  EXPECT_TRUE(key->starts_with("-----BEGIN PRIVATE KEY-----"));
  TempDir dir;
  write_text(dir.file("k.pem"), *key);
  auto out = run("openssl pkey -in " + dir.file("k.pem") + " -noout -text");
  EXPECT_EQ(out.status, 0) << out.output;
  EXPECT_NE(out.output.find("prime256v1"), std::string::npos) << out.output;
  EXPECT_NE(*key, generate_ec_key().value());
}

TEST(PkiRoot, SelfSignedCaWithExtensions) {
  const auto& root = fixture().root;
  auto info = parse_certificate(root.cert_pem);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->is_ca);
  EXPECT_EQ(info->common_name, "test root");
  EXPECT_EQ(info->subject, "CN=test root,O=smartproduct");
  EXPECT_EQ(info->issuer, info->subject);
  EXPECT_EQ(info->subject_key_id.size(), 40u);  // SHA-1 of the public key
  EXPECT_EQ(info->authority_key_id, info->subject_key_id);
  EXPECT_TRUE(verify_signed_by(root.cert_pem, root.cert_pem));

  TempDir dir;
  write_text(dir.file("root.crt"), root.cert_pem);
  auto text = run("openssl x509 -in " + dir.file("root.crt") + " -noout -text");
  ASSERT_EQ(text.status, 0);
  EXPECT_NE(text.output.find("X509v3 Basic Constraints: critical"), std::string::npos);
  EXPECT_NE(text.output.find("CA:TRUE"), std::string::npos);
  EXPECT_NE(text.output.find("Certificate Sign, CRL Sign"), std::string::npos);
  EXPECT_NE(text.output.find("X509v3 Key Usage: critical"), std::string::npos);
}

TEST(PkiRoot, ValidityFollowsDays) {
  auto root = create_root_ca("r", 10).value();
  auto info = parse_certificate(root.cert_pem).value();
  const auto now = static_cast<std::int64_t>(std::time(nullptr));
  EXPECT_LE(info.not_before, now);
  EXPECT_GE(info.not_before, now - 400);
  EXPECT_NEAR(static_cast<double>(info.not_after - now), 10.0 * 86400, 60);
}

TEST(PkiRoot, RejectsBadParameters) {
  EXPECT_EQ(create_root_ca("r", 0).error().name, "ValidityInvalid");
  EXPECT_EQ(create_root_ca("", 10).error().name, "CommonNameInvalid");
  EXPECT_EQ(create_root_ca("a\nb", 10).error().name, "CommonNameInvalid");
  EXPECT_EQ(create_root_ca(std::string(129, 'a'), 10).error().name, "CommonNameInvalid");
  EXPECT_EQ(create_root_ca(std::string(70, ' '), 10).error().name, "CommonNameInvalid");
  auto long_cn = create_root_ca(std::string(128, 'a'), 10);
  ASSERT_TRUE(long_cn) << long_cn.error().message;
  EXPECT_EQ(parse_certificate(long_cn->cert_pem)->common_name, std::string(128, 'a'));
}

TEST(PkiSerial, RandomPositive128Bit) {
  auto a = parse_certificate(issue_client_cert(root_issuer(), "a", 1)->cert_pem).value();
  auto b = parse_certificate(issue_client_cert(root_issuer(), "a", 1)->cert_pem).value();
  EXPECT_NE(a.serial_hex, b.serial_hex);
  EXPECT_LE(a.serial_hex.size(), 32u);
  EXPECT_GE(a.serial_hex.size(), 20u);  // ~2^-48 chance of fewer than 80 significant bits
  EXPECT_EQ(a.serial_hex.find_first_not_of("0123456789ABCDEF"), std::string::npos);
}

TEST(PkiChain, DeviceCertChainVerifiesWithOpensslCli) {
  auto dev = issue_client_cert(device_issuer(), "SN-0001", 5);
  ASSERT_TRUE(dev) << dev.error().message;
  TempDir dir;
  write_text(dir.file("root.crt"), fixture().root.cert_pem);
  write_text(dir.file("devca.crt"), fixture().device_ca.cert_pem);
  write_text(dir.file("dev.crt"), dev->cert_pem);
  auto out = run("openssl verify -purpose sslclient -CAfile " + dir.file("root.crt") +
                 " -untrusted " + dir.file("devca.crt") + " " + dir.file("dev.crt"));
  EXPECT_EQ(out.status, 0) << out.output;
  // Without the intermediate it must fail: proves the check is real.
  auto bad = run("openssl verify -CAfile " + dir.file("root.crt") + " " + dir.file("dev.crt"));
  EXPECT_NE(bad.status, 0);

  EXPECT_TRUE(verify_chain(dev->cert_pem, fixture().device_ca.cert_pem, fixture().root.cert_pem));
  auto missing = verify_chain(dev->cert_pem, "", fixture().root.cert_pem);
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().name, "CertificateChainInvalid");
}

TEST(PkiChain, AkiOfLeafIsSkiOfIssuer) {
  auto dev = issue_client_cert(device_issuer(), "SN-2", 5).value();
  auto info = parse_certificate(dev.cert_pem).value();
  auto ca = parse_certificate(fixture().device_ca.cert_pem).value();
  auto root = parse_certificate(fixture().root.cert_pem).value();
  EXPECT_FALSE(info.is_ca);
  EXPECT_TRUE(ca.is_ca);
  EXPECT_EQ(info.authority_key_id, ca.subject_key_id);
  EXPECT_EQ(ca.authority_key_id, root.subject_key_id);
  EXPECT_NE(info.subject_key_id, ca.subject_key_id);
  EXPECT_EQ(info.issuer, ca.subject);
  EXPECT_EQ(info.subject, "CN=SN-2");
}

TEST(PkiChain, VerifySignedByDetectsWrongCa) {
  auto dev = issue_client_cert(device_issuer(), "SN-3", 5).value();
  EXPECT_TRUE(verify_signed_by(dev.cert_pem, fixture().device_ca.cert_pem));
  auto wrong = verify_signed_by(dev.cert_pem, fixture().root.cert_pem);
  ASSERT_FALSE(wrong);
  EXPECT_EQ(wrong.error().name, "CertificateSignatureInvalid");
  auto other_root = create_root_ca("other", 1).value();
  EXPECT_FALSE(verify_signed_by(dev.cert_pem, other_root.cert_pem));
}

TEST(PkiChain, LeafCannotIssue) {
  auto leaf = issue_client_cert(root_issuer(), "leaf", 5).value();
  auto r = issue_client_cert({leaf.cert_pem, leaf.key_pem}, "x", 5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "IssuerNotCa");
  auto mismatch = issue_client_cert({fixture().root.cert_pem, fixture().device_ca.key_pem}, "x", 5);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().name, "KeyMismatch");
}

TEST(PkiServer, SansAndServerAuth) {
  auto srv = issue_server_cert(root_issuer(), "broker", {"localhost", "myhost.example"},
                               {"127.0.0.1", "::1"}, 30);
  ASSERT_TRUE(srv) << srv.error().message;
  auto info = parse_certificate(srv->cert_pem).value();
  EXPECT_EQ(info.dns_names, (std::vector<std::string>{"localhost", "myhost.example"}));
  EXPECT_EQ(info.ip_addresses, (std::vector<std::string>{"127.0.0.1", "::1"}));

  TempDir dir;
  write_text(dir.file("root.crt"), fixture().root.cert_pem);
  write_text(dir.file("srv.crt"), srv->cert_pem);
  auto out = run("openssl verify -purpose sslserver -CAfile " + dir.file("root.crt") + " " +
                 dir.file("srv.crt"));
  EXPECT_EQ(out.status, 0) << out.output;
  auto text = run("openssl x509 -in " + dir.file("srv.crt") + " -noout -ext subjectAltName");
  EXPECT_NE(text.output.find("DNS:localhost"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("IP Address:127.0.0.1"), std::string::npos) << text.output;
  EXPECT_NE(text.output.find("IP Address:0:0:0:0:0:0:0:1"), std::string::npos) << text.output;
  auto host = run("openssl verify -CAfile " + dir.file("root.crt") + " -verify_hostname " +
                  "myhost.example " + dir.file("srv.crt"));
  EXPECT_EQ(host.status, 0) << host.output;
  auto wrong = run("openssl verify -CAfile " + dir.file("root.crt") + " -verify_hostname " +
                   "evil.example " + dir.file("srv.crt"));
  EXPECT_NE(wrong.status, 0);
  // A server certificate is not a client certificate.
  auto as_client = run("openssl verify -purpose sslclient -CAfile " + dir.file("root.crt") + " " +
                       dir.file("srv.crt"));
  EXPECT_NE(as_client.status, 0);
}

TEST(PkiServer, RejectsInjectedNames) {
  auto r = issue_server_cert(root_issuer(), "b", {"a.example,DNS:evil"}, {}, 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "DnsNameInvalid");
  auto ip = issue_server_cert(root_issuer(), "b", {}, {"300.1.1.1"}, 1);
  ASSERT_FALSE(ip);
  EXPECT_EQ(ip.error().name, "IpAddressInvalid");
}

TEST(PkiClient, ClientAuthOnly) {
  auto cli = issue_client_cert(root_issuer(), "svc-backend", 30).value();
  TempDir dir;
  write_text(dir.file("root.crt"), fixture().root.cert_pem);
  write_text(dir.file("c.crt"), cli.cert_pem);
  EXPECT_EQ(run("openssl verify -purpose sslclient -CAfile " + dir.file("root.crt") + " " +
                dir.file("c.crt"))
                .status,
            0);
  EXPECT_NE(run("openssl verify -purpose sslserver -CAfile " + dir.file("root.crt") + " " +
                dir.file("c.crt"))
                .status,
            0);
  EXPECT_TRUE(check_key_matches(cli.cert_pem, cli.key_pem));
  EXPECT_FALSE(check_key_matches(cli.cert_pem, fixture().root.key_pem));
}

TEST(PkiClient, ReusesGivenKey) {
  auto key = generate_ec_key().value();
  CertRequest req;
  req.common_name = "k";
  req.key_pem = key;
  auto c = issue_certificate(req, nullptr);
  ASSERT_FALSE(c);  // a client certificate needs an issuer
  const Issuer issuer = root_issuer();
  auto ok = issue_certificate(req, &issuer);
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->key_pem, key);
  EXPECT_TRUE(check_key_matches(ok->cert_pem, key));
}

TEST(PkiCsr, SignsCsrWithCnFromCsr) {
  auto key = generate_ec_key().value();
  auto csr = create_csr(key, "SN-CSR-1");
  ASSERT_TRUE(csr) << csr.error().message;
  auto cert = sign_csr(device_issuer(), *csr, 10);
  ASSERT_TRUE(cert) << cert.error().message;
  auto info = parse_certificate(*cert).value();
  EXPECT_EQ(info.common_name, "SN-CSR-1");
  EXPECT_TRUE(check_key_matches(*cert, key));
  EXPECT_TRUE(verify_chain(*cert, fixture().device_ca.cert_pem, fixture().root.cert_pem));
}

TEST(PkiCsr, SignsOpensslCliCsr) {
  TempDir dir;
  auto gen = run("openssl req -new -newkey rsa:2048 -nodes -subj /CN=rsa-dev/O=x -keyout " +
                 dir.file("k.pem") + " -out " + dir.file("r.csr"));
  ASSERT_EQ(gen.status, 0) << gen.output;
  auto cert = sign_csr(device_issuer(), slurp(dir.file("r.csr")), 10);
  ASSERT_TRUE(cert) << cert.error().message;
  auto info = parse_certificate(*cert).value();
  EXPECT_EQ(info.subject, "CN=rsa-dev");  // only the CN is taken over
}

TEST(PkiCsr, RejectsTamperedAndWeakCsr) {
  TempDir dir;
  // Weak key: RSA-1024 (80 bits of security).
  ASSERT_EQ(run("openssl req -new -newkey rsa:1024 -nodes -subj /CN=weak -keyout " +
                dir.file("w.key") + " -out " + dir.file("w.csr"))
                .status,
            0);
  auto weak = sign_csr(device_issuer(), slurp(dir.file("w.csr")), 10);
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error().name, "CsrKeyTooWeak");

  // Tampered: swap the public key of a CSR for another key's, keep the old signature.
  auto k1 = generate_ec_key().value();
  auto k2 = generate_ec_key().value();
  write_text(dir.file("k1.pem"), k1);
  write_text(dir.file("k2.pem"), k2);
  auto csr1 = create_csr(k1, "victim").value();
  auto csr2 = create_csr(k2, "victim").value();
  write_text(dir.file("c1.csr"), csr1);
  write_text(dir.file("c2.csr"), csr2);
  auto d1 =
      run("openssl req -in " + dir.file("c1.csr") + " -outform DER -out " + dir.file("c1.der"));
  auto d2 =
      run("openssl req -in " + dir.file("c2.csr") + " -outform DER -out " + dir.file("c2.der"));
  ASSERT_EQ(d1.status, 0);
  ASSERT_EQ(d2.status, 0);
  std::string der1 = slurp(dir.file("c1.der"));
  std::string der2 = slurp(dir.file("c2.der"));
  // Both DERs have identical layout (same CN, same key type); the public key bit strings differ.
  // Take the request info of CSR 2 and the signature of CSR 1: find the first differing region
  // inside the key and copy CSR 2's key bytes into CSR 1.
  ASSERT_EQ(der1.size() > 100, true);
  auto pub_pos = der1.find(std::string("\x03\x42\x00\x04", 4));
  auto pub_pos2 = der2.find(std::string("\x03\x42\x00\x04", 4));
  ASSERT_NE(pub_pos, std::string::npos);
  ASSERT_EQ(pub_pos, pub_pos2);
  std::string forged = der1;
  forged.replace(pub_pos, 68, der2.substr(pub_pos2, 68));
  write_text(dir.file("f.der"), forged);
  ASSERT_EQ(
      run("openssl req -inform DER -in " + dir.file("f.der") + " -out " + dir.file("f.csr")).status,
      0);
  auto r = sign_csr(device_issuer(), slurp(dir.file("f.csr")), 10);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "CsrSignatureInvalid");

  auto junk = sign_csr(device_issuer(), "not a csr", 10);
  ASSERT_FALSE(junk);
  EXPECT_EQ(junk.error().name, "CsrInvalid");
}

TEST(PkiInfo, FingerprintSerialAndDatesMatchOpensslCli) {
  auto dev = issue_client_cert(device_issuer(), "SN-FP", 7).value();
  TempDir dir;
  write_text(dir.file("d.crt"), dev.cert_pem);
  auto info = parse_certificate(dev.cert_pem).value();
  auto fp = run("openssl x509 -in " + dir.file("d.crt") + " -noout -fingerprint -sha256");
  ASSERT_EQ(fp.status, 0);
  std::string expected = fp.output.substr(fp.output.find('=') + 1);
  std::erase(expected, ':');
  std::erase(expected, '\n');
  EXPECT_EQ(info.sha256_fingerprint, expected);
  EXPECT_EQ(info.sha256_fingerprint.size(), 64u);

  auto serial = run("openssl x509 -in " + dir.file("d.crt") + " -noout -serial");
  std::string expected_serial = serial.output.substr(serial.output.find('=') + 1);
  std::erase(expected_serial, '\n');
  // Both print whole bytes (a serial whose first byte is below 0x10 starts with "0"), which is
  // also what the broker plugin reports, so serials compare as strings everywhere.
  EXPECT_EQ(info.serial_hex, expected_serial);

  auto end = run("openssl x509 -in " + dir.file("d.crt") + " -noout -checkend " +
                 std::to_string(info.not_after - std::time(nullptr) - 30));
  EXPECT_EQ(end.status, 0) << end.output;
  auto end2 = run("openssl x509 -in " + dir.file("d.crt") + " -noout -checkend " +
                  std::to_string(info.not_after - std::time(nullptr) + 30));
  EXPECT_NE(end2.status, 0);
}

TEST(PkiInfo, RejectsGarbage) {
  auto r = parse_certificate("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, sp::ErrorKind::kBadRequest);
}

TEST(PkiInfo, SplitsBundles) {
  auto parts = split_pem_certificates(fixture().device_ca.cert_pem + fixture().root.cert_pem);
  ASSERT_TRUE(parts);
  ASSERT_EQ(parts->size(), 2u);
  EXPECT_EQ(parse_certificate((*parts)[1])->common_name, "test root");
  EXPECT_FALSE(split_pem_certificates("hello"));
}

TEST(PkiFiles, KeyWrittenWith0600AndNeverOverwrittenWithoutForce) {
  TempDir dir;
  const auto path = dir.file("a.key");
  ::umask(0);  // even with a permissive umask, keys must be 0600
  ASSERT_TRUE(write_key_file(path, "KEY1", false));
  ::umask(022);
  EXPECT_EQ(mode_of(path), 0600u);
  auto again = write_key_file(path, "KEY2", false);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().name, "KeyExists");
  EXPECT_EQ(again.error().kind, sp::ErrorKind::kConflict);
  EXPECT_EQ(slurp(path), "KEY1");
  ASSERT_TRUE(write_key_file(path, "KEY2", true));
  EXPECT_EQ(slurp(path), "KEY2");
  EXPECT_EQ(mode_of(path), 0600u);
  // No temporary files left behind.
  int entries = 0;
  for ([[maybe_unused]] const auto& e : fs::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

TEST(PkiFiles, CertWrittenWith0644AndReplaced) {
  TempDir dir;
  const auto path = dir.file("a.crt");
  ASSERT_TRUE(write_cert_file(path, "C1"));
  ASSERT_TRUE(write_cert_file(path, "C2"));
  EXPECT_EQ(slurp(path), "C2");
  EXPECT_EQ(mode_of(path), 0644u);
}

TEST(PkiFiles, ErrorsAreReported) {
  TempDir dir;
  write_text(dir.file("f"), "x");
  auto r = write_cert_file(dir.file("f") + "/sub.crt", "C");  // parent is a file
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "FileWriteFailed");
  EXPECT_EQ(read_file(dir.file("nope")).error().name, "FileNotFound");
}

TEST(PkiRehash, LinksMatchOpensslHashAndCapathVerifies) {
  TempDir dir;
  const auto capath = dir.path() / "cas";
  fs::create_directory(capath);
  auto ca2 = issue_intermediate_ca(root_issuer(), "second CA", 5).value();
  write_text((capath / "dev-ca.crt").string(), fixture().device_ca.cert_pem);
  write_text((capath / "second.pem").string(), ca2.cert_pem);
  write_text((capath / "dup.pem").string(), ca2.cert_pem);  // duplicate: one link only
  write_text((capath / "notes.txt").string(), "ignored");
  write_text((capath / "junk.pem").string(), "not a cert");
  // A stale link that must disappear.
  fs::create_symlink("gone.pem", capath / "deadbeef.0");

  auto n = rehash_directory(capath.string());
  ASSERT_TRUE(n) << n.error().message;
  EXPECT_EQ(*n, 2);
  EXPECT_FALSE(fs::exists(fs::symlink_status(capath / "deadbeef.0")));

  write_text(dir.file("dev-ca.crt"), fixture().device_ca.cert_pem);
  auto cli_hash = run("openssl x509 -hash -noout -in " + dir.file("dev-ca.crt"));
  std::string h = cli_hash.output.substr(0, 8);
  EXPECT_EQ(subject_hash(fixture().device_ca.cert_pem).value(), h);
  ASSERT_TRUE(fs::is_symlink(capath / (h + ".0")));
  EXPECT_EQ(fs::read_symlink(capath / (h + ".0")), fs::path("dev-ca.crt"));

  // OpenSSL itself finds the device CA through the hashed links.
  auto dev = issue_client_cert(device_issuer(), "SN-R", 5).value();
  write_text(dir.file("root.crt"), fixture().root.cert_pem);
  write_text(dir.file("dev.crt"), dev.cert_pem);
  auto out = run("openssl verify -CAfile " + dir.file("root.crt") + " -CApath " + capath.string() +
                 " " + dir.file("dev.crt"));
  EXPECT_EQ(out.status, 0) << out.output;

  // Idempotent, and removal of a CA removes its link.
  EXPECT_EQ(rehash_directory(capath.string()).value(), 2);
  fs::remove(capath / "dev-ca.crt");
  EXPECT_EQ(rehash_directory(capath.string()).value(), 1);
  EXPECT_FALSE(fs::exists(fs::symlink_status(capath / (h + ".0"))));
  auto gone = run("openssl verify -CAfile " + dir.file("root.crt") + " -CApath " + capath.string() +
                  " " + dir.file("dev.crt"));
  EXPECT_NE(gone.status, 0);
  EXPECT_FALSE(rehash_directory(dir.file("missing")));
}
