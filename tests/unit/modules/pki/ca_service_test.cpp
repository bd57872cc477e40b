// The CA service over the real SQLite repository and real certificates: proof of possession,
// the validation errors, capath files and hashed links, status changes and the hooks the broker
// plugin depends on, deregistration and re-registration, managed CAs.

#include <sys/stat.h>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <string>
#include <vector>

#include "../../store/main_db.hpp"
#include "../../store/test_util.hpp"
#include "fakes/fixed_clock.hpp"
#include "smartproduct/pki/ca_routes.hpp"
#include "smartproduct/pki/ca_service.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::pki {
namespace {

namespace fs = std::filesystem;
using pki::CaStatus;

using test::FixedClock;

std::vector<fs::path> hash_links(const fs::path& dir) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(dir)) {
    if (fs::is_symlink(e.symlink_status())) out.push_back(e.path());
  }
  return out;
}

class CaServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = sqlite::make_ca_repository(db_);
    bus_.lane("test")
        .on<CaDisabled>([this](const CaDisabled& e) { events_.push_back("disabled " + e.ca_id); })
        .on<CaEnabled>([this](const CaEnabled& e) { events_.push_back("enabled " + e.ca_id); })
        .on<CaUntrusted>(
            [this](const CaUntrusted& e) { events_.push_back("untrusted " + e.ca_id); });
    bus_.start();
    service_ = std::make_unique<CaService>(
        *repo_, clock_, CaServiceConfig{dir_ / "device-cas", dir_ / "managed", {}}, bus_);
    code_ = service_->registration_code().value();
  }
  void TearDown() override {
    service_.reset();
    repo_.reset();
    if (db_) db_->close();
  }

  static CertAndKey make_ca(const std::string& cn) { return create_root_ca(cn, 365).value(); }
  // A verification certificate with CN `cn`, signed by `signer`.
  static std::string verification(const CertAndKey& signer, const std::string& cn) {
    return issue_client_cert({signer.cert_pem, signer.key_pem}, cn, 1).value().cert_pem;
  }
  CaService::RegisterRequest request(const CertAndKey& ca) const {
    CaService::RegisterRequest r;
    r.ca_pem = ca.cert_pem;
    r.verification_pem = verification(ca, code_);
    return r;
  }
  fs::path ca_file(const std::string& id) const { return dir_ / "device-cas" / (id + ".pem"); }

  sqlite::test::TempDir dir_;
  // Starts at the real time: the test certificates are issued valid around it.
  FixedClock clock_{test::system_now_ms()};
  std::shared_ptr<sqlite::Database> db_;
  std::unique_ptr<store::CaRepository> repo_;
  std::unique_ptr<CaService> service_;
  // What the service published (the bus delivers on its own thread: drain first).
  std::vector<std::string>& published() {
    bus_.drain();
    return events_;
  }
  std::vector<std::string> events_;
  EventBus bus_;  // after what its handlers write to: stopped (destroyed) before them
  std::string code_;
};

TEST_F(CaServiceTest, RegisterWithProofOfPossessionStoresInactiveAndInstalls) {
  auto ca = make_ca("Acme Device CA");
  auto info = parse_certificate(ca.cert_pem).value();
  auto row = service_->register_ca(request(ca));
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_EQ(row->id, info.subject_key_id);
  EXPECT_EQ(row->name, "Acme-Device-CA");
  EXPECT_EQ(row->status, CaStatus::kInactive);
  EXPECT_FALSE(row->auto_registration);
  EXPECT_FALSE(row->managed);
  EXPECT_EQ(row->fingerprint, info.sha256_fingerprint);
  EXPECT_EQ(row->subject, info.subject);
  EXPECT_EQ(row->created_at_ms, clock_.now_ms());
  // INACTIVE: not in the capath, so TLS itself refuses its devices.
  EXPECT_FALSE(fs::exists(ca_file(row->id)));
  EXPECT_EQ(published(), std::vector<std::string>{"disabled " + row->id});
  // Activated: installed (file + hash link), trusted at once.
  ASSERT_TRUE(service_->update(row->id, CaStatus::kActive, std::nullopt));
  ASSERT_TRUE(fs::exists(ca_file(row->id)));
  EXPECT_EQ(read_file(ca_file(row->id).string()).value(), ca.cert_pem);
  auto links = hash_links(dir_ / "device-cas");
  ASSERT_EQ(links.size(), 1u);
  EXPECT_EQ(links[0].filename().string(), subject_hash(ca.cert_pem).value() + ".0");

  auto described = service_->describe(row->id);
  ASSERT_TRUE(described);
  EXPECT_EQ(described->certificate_pem, ca.cert_pem);
}

TEST_F(CaServiceTest, RegisterActiveWithAutoRegistrationEnables) {
  auto ca = make_ca("Beta CA");
  auto r = request(ca);
  r.set_active = true;
  r.auto_registration = true;
  r.name = "beta";
  auto row = service_->register_ca(r);
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_EQ(row->name, "beta");
  EXPECT_EQ(row->status, CaStatus::kActive);
  EXPECT_TRUE(row->auto_registration);
  EXPECT_EQ(published(), std::vector<std::string>{"enabled " + row->id});
}

TEST_F(CaServiceTest, ProofOfPossessionFailures) {
  auto ca = make_ca("Acme CA");
  auto other = make_ca("Other CA");

  auto r = request(ca);
  r.verification_pem = verification(ca, "not-the-code");
  auto e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "RegistrationCodeMismatch");
  EXPECT_EQ(e.error().kind, ErrorKind::kUnprocessable);

  r.verification_pem = verification(other, code_);  // right CN, wrong key
  e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "VerificationSignatureInvalid");

  r.verification_pem = "garbage";
  e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "InvalidVerificationCertificate");

  EXPECT_TRUE(service_->list(true)->empty());
  EXPECT_FALSE(fs::exists(dir_ / "device-cas"));
  EXPECT_TRUE(published().empty());
}

TEST_F(CaServiceTest, InvalidCaCertificates) {
  auto ca = make_ca("Acme CA");
  auto r = request(ca);

  r.ca_pem = "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n";
  auto e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "InvalidCaCertificate");

  // A leaf certificate is not a CA.
  auto leaf = issue_client_cert({ca.cert_pem, ca.key_pem}, "leaf", 30).value();
  r.ca_pem = leaf.cert_pem;
  r.verification_pem = verification(ca, code_);
  e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "InvalidCaCertificate");
  EXPECT_NE(e.error().message.find("not a CA"), std::string::npos) << e.error().message;

  // Two certificates in one field.
  r.ca_pem = ca.cert_pem + make_ca("Second").cert_pem;
  e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "InvalidCaCertificate");

  // Expired (as seen by the clock).
  r = request(ca);
  clock_.advance(std::chrono::milliseconds(400LL * 86400 * 1000));
  e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "InvalidCaCertificate");
  EXPECT_NE(e.error().message.find("expired"), std::string::npos);

  // Oversize.
  r.ca_pem = std::string(kMaxCaPemBytes + 1, 'A');
  e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "CertificateTooLarge");
  EXPECT_EQ(e.error().kind, ErrorKind::kPayloadTooLarge);

  r = request(ca);
  r.name = "bad name!";
  e = service_->register_ca(r);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "InvalidCaName");
}

TEST_F(CaServiceTest, DuplicatesAndNames) {
  auto ca = make_ca("Acme CA");
  ASSERT_TRUE(service_->register_ca(request(ca)));
  auto dup = service_->register_ca(request(ca));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().name, "CaAlreadyRegistered");
  EXPECT_EQ(dup.error().kind, ErrorKind::kConflict);

  // Same subject, another key: refused (the plugin and the console could not tell them apart).
  auto twin = service_->register_ca(request(make_ca("Acme CA")));
  ASSERT_FALSE(twin);
  EXPECT_EQ(twin.error().name, "CaAlreadyRegistered");
  EXPECT_EQ(twin.error().kind, ErrorKind::kConflict);

  // A CN that makes a taken name: the default name falls back to the id prefix.
  auto row = service_->register_ca(request(make_ca("Acme/CA")));
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_EQ(row->name, row->id.substr(0, 16));

  auto third = request(make_ca("Third"));
  third.name = "Acme-CA";
  auto taken = service_->register_ca(third);
  ASSERT_FALSE(taken);
  EXPECT_EQ(taken.error().name, "CaNameTaken");
}

TEST_F(CaServiceTest, UpdateDescribeAndHooks) {
  auto row = service_->register_ca(request(make_ca("Acme CA"))).value();
  published().clear();
  auto active = service_->update("Acme-CA", CaStatus::kActive, true);
  ASSERT_TRUE(active) << active.error().message;
  EXPECT_EQ(active->status, CaStatus::kActive);
  EXPECT_TRUE(active->auto_registration);
  EXPECT_EQ(published(), std::vector<std::string>{"enabled " + row.id});

  // Only auto-registration: the broker is told too (it pre-authorizes registered devices of
  // auto-registering CAs); an update that changes nothing tells nobody.
  published().clear();
  clock_.advance(std::chrono::milliseconds(5000));
  ASSERT_TRUE(service_->update(row.id, std::nullopt, false));
  EXPECT_EQ(published(), std::vector<std::string>{"enabled " + row.id});
  published().clear();
  ASSERT_TRUE(service_->update(row.id, std::nullopt, false));
  EXPECT_TRUE(published().empty());

  // By id in lower case with colons, as openssl prints it.
  std::string colons;
  for (std::size_t i = 0; i < row.id.size(); i += 2) {
    if (!colons.empty()) colons += ':';
    colons += row.id.substr(i, 2);
  }
  for (auto& c : colons) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  auto described = service_->describe(colons);
  ASSERT_TRUE(described) << colons;
  EXPECT_FALSE(described->auto_registration);
  EXPECT_EQ(described->updated_at_ms, clock_.now_ms());

  ASSERT_TRUE(fs::exists(ca_file(row.id)));
  published().clear();
  ASSERT_TRUE(service_->update(row.id, CaStatus::kInactive, std::nullopt));
  // Out of the capath; the broker must forget it (restart), and the plugin refuse it.
  EXPECT_FALSE(fs::exists(ca_file(row.id)));
  EXPECT_EQ(published(), (std::vector<std::string>{"untrusted " + row.id, "disabled " + row.id}));

  auto bad = service_->update(row.id, CaStatus::kDeregistered, std::nullopt);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().name, "InvalidCaStatus");
  auto missing = service_->describe("nope");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().name, "CaNotFound");
  EXPECT_EQ(missing.error().kind, ErrorKind::kNotFound);
}

TEST_F(CaServiceTest, DeregisterRemovesFileRefusesUpdatesAndAllowsReRegistration) {
  auto ca = make_ca("Acme CA");
  auto r = request(ca);
  r.set_active = true;
  auto row = service_->register_ca(r).value();
  published().clear();
  auto gone = service_->deregister("Acme-CA");
  ASSERT_TRUE(gone) << gone.error().message;
  EXPECT_EQ(gone->status, CaStatus::kDeregistered);
  EXPECT_EQ(published(), (std::vector<std::string>{"disabled " + row.id, "untrusted " + row.id}));
  EXPECT_FALSE(fs::exists(ca_file(row.id)));
  EXPECT_TRUE(hash_links(dir_ / "device-cas").empty());

  auto upd = service_->update(row.id, CaStatus::kActive, std::nullopt);
  ASSERT_FALSE(upd);
  EXPECT_EQ(upd.error().name, "CaDeregistered");
  EXPECT_EQ(upd.error().kind, ErrorKind::kConflict);
  auto again = service_->deregister(row.id);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kConflict);
  // By name it is gone; by id it is history.
  EXPECT_FALSE(service_->describe("Acme-CA"));
  EXPECT_EQ(service_->describe(row.id)->status, CaStatus::kDeregistered);
  EXPECT_TRUE(service_->list(false)->empty());
  EXPECT_EQ(service_->list(true)->size(), 1u);

  auto back = service_->register_ca(request(ca));
  ASSERT_TRUE(back) << back.error().message;
  EXPECT_EQ(back->status, CaStatus::kInactive);
  EXPECT_FALSE(fs::exists(ca_file(row.id)));  // INACTIVE
  EXPECT_EQ(service_->list(true)->size(), 1u);
}

TEST_F(CaServiceTest, RefusesTheRootsOrAnotherCasIdentifiers) {
  auto root = make_ca("smartproduct root");
  ASSERT_TRUE(
      write_file_atomic((dir_ / "root-ca.crt").string(), root.cert_pem, 0644, Overwrite::kAllow));
  CaService with_root(*repo_, clock_,
                      CaServiceConfig{dir_ / "device-cas", dir_ / "managed", dir_ / "root-ca.crt"},
                      bus_);
  auto expect_conflict = [&](const CertAndKey& ca, const char* what) {
    auto r = with_root.register_ca(request(ca));
    ASSERT_FALSE(r) << what;
    EXPECT_EQ(r.error().kind, ErrorKind::kConflict) << what;
  };
  // The root itself (its key signs the proof), and another key under the root's subject.
  expect_conflict(root, "the root");
  expect_conflict(make_ca("smartproduct root"), "the root's subject");
  // A deregistered CA's id may only come back with the same certificate: another certificate
  // with its SKI (same key, new validity) would take over its devices' records.
  auto acme = make_ca("Acme CA");
  auto acme_row = with_root.register_ca(request(acme)).value();
  ASSERT_TRUE(with_root.deregister(acme_row.id));
  CertRequest renewed;
  renewed.profile = Profile::kRootCa;
  renewed.common_name = "Acme CA 2";
  renewed.key_pem = acme.key_pem;
  renewed.days = 30;
  auto same_key = issue_certificate(renewed, nullptr).value();
  expect_conflict(same_key, "another certificate with a deregistered CA's SKI");
  ASSERT_TRUE(with_root.register_ca(request(acme)));  // the same certificate: fine
}

TEST_F(CaServiceTest, ManagedCaIssuesDeviceCertificates) {
  auto row = service_->create_managed("factory", 3650);
  ASSERT_TRUE(row) << row.error().message;
  EXPECT_EQ(row->status, CaStatus::kActive);
  EXPECT_TRUE(row->auto_registration);
  EXPECT_TRUE(row->managed);
  EXPECT_EQ(row->name, "factory");
  EXPECT_TRUE(fs::exists(ca_file(row->id)));
  struct stat st {};
  ASSERT_EQ(::stat(service_->managed_key_path("factory").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((dir_ / "managed").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);

  auto issuer = service_->managed_issuer("factory");
  ASSERT_TRUE(issuer) << issuer.error().message;
  auto device = issue_client_cert(*issuer, "SN-1", 30).value();
  EXPECT_TRUE(verify_chain(device.cert_pem, "", row->certificate_pem));
  EXPECT_EQ(parse_certificate(device.cert_pem)->authority_key_id, row->id);

  auto dup = service_->create_managed("factory", 3650);
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().name, "CaNameTaken");

  // Deregistering keeps the key under another name and frees the name.
  ASSERT_TRUE(service_->deregister("factory"));
  EXPECT_FALSE(fs::exists(service_->managed_key_path("factory")));
  EXPECT_TRUE(fs::exists(dir_ / "managed" / ("factory." + row->id + ".key")));
  EXPECT_FALSE(service_->managed_issuer("factory"));
  auto second = service_->create_managed("factory", 30);
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_NE(second->id, row->id);
}

TEST_F(CaServiceTest, ManagedIssuerNeedsAManagedCa) {
  ASSERT_TRUE(service_->register_ca(request(make_ca("Acme CA"))));
  auto e = service_->managed_issuer("Acme-CA");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "CaNotManaged");
  auto bad = service_->create_managed("no/slash", 30);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().name, "InvalidCaName");
}

TEST_F(CaServiceTest, JsonShape) {
  auto row = service_->create_managed("factory", 30).value();
  auto j = ca_to_json(row, 3, false);
  EXPECT_EQ(j["caId"], row.id);
  EXPECT_EQ(j["status"], "ACTIVE");
  EXPECT_EQ(j["deviceCount"], 3);
  EXPECT_EQ(j["autoRegistration"], true);
  EXPECT_EQ(j["managed"], true);
  EXPECT_FALSE(j.contains("certificatePem"));
  const std::string nb = j["notBefore"];
  EXPECT_EQ(nb.size(), 24u);  // 2024-01-01T00:00:00.000Z
  EXPECT_EQ(nb.back(), 'Z');
  EXPECT_TRUE(ca_to_json(row, std::nullopt, true).contains("certificatePem"));
}

}  // namespace
}  // namespace sp::pki
