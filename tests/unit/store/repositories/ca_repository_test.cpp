// The SQLite CaRepository: registration conflicts, re-registration of a deregistered CA, the
// broker enforcement state derived from CAs and device certificates, the revision counter and
// the registration code the migration creates.

#include <gtest/gtest.h>

#include "../main_db.hpp"
#include "../test_util.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::sqlite {
namespace {

using pki::CaStatus;
using pki::CertificateAuthority;

CertificateAuthority make_ca(std::string id, std::string name, std::string fingerprint,
                             CaStatus status = CaStatus::kInactive) {
  CertificateAuthority ca;
  ca.id = std::move(id);
  ca.name = std::move(name);
  ca.subject = "CN=" + ca.name;
  ca.issuer = ca.subject;
  ca.serial = "01AB";
  ca.fingerprint = std::move(fingerprint);
  ca.not_before_s = 1700000000;
  ca.not_after_s = 2000000000;
  ca.certificate_pem = "-----BEGIN CERTIFICATE-----\n...\n-----END CERTIFICATE-----\n";
  ca.status = status;
  ca.auto_registration = true;
  ca.managed = false;
  ca.created_at_ms = 1000;
  ca.updated_at_ms = 1000;
  return ca;
}

class CaRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = make_ca_repository(db_);
  }
  void TearDown() override {
    repo_.reset();
    if (db_) db_->close();
  }

  void add_device_cert(const std::string& fingerprint, const std::string& device,
                       const std::string& ca_id, const std::string& status) {
    auto r = db_->write([&](Connection& conn) {
      return conn.execute(
          "INSERT INTO device_certificates (fingerprint, device_id, ca_id, issuer, serial, status, "
          "first_seen_at, last_seen_at, updated_at) VALUES (?1, ?2, ?3, 'CN=x', '01', ?4, 1, 1, 1)",
          fingerprint, device, ca_id, status);
    });
    ASSERT_TRUE(r) << r.error().message;
  }

  test::TempDir dir_;
  std::shared_ptr<Database> db_;
  std::unique_ptr<store::CaRepository> repo_;
};

TEST_F(CaRepositoryTest, InsertFindAndList) {
  auto a = make_ca("AA01", "acme", "F1");
  a.managed = true;
  ASSERT_TRUE(repo_->insert(a));
  ASSERT_TRUE(repo_->insert(make_ca("BB02", "beta", "F2", CaStatus::kActive)));

  auto found = repo_->find("AA01");
  ASSERT_TRUE(found && *found);
  EXPECT_EQ((*found)->name, "acme");
  EXPECT_EQ((*found)->subject, "CN=acme");
  EXPECT_EQ((*found)->fingerprint, "F1");
  EXPECT_EQ((*found)->not_before_s, 1700000000);
  EXPECT_EQ((*found)->not_after_s, 2000000000);
  EXPECT_EQ((*found)->status, CaStatus::kInactive);
  EXPECT_TRUE((*found)->auto_registration);
  EXPECT_TRUE((*found)->managed);
  EXPECT_EQ((*found)->certificate_pem, a.certificate_pem);

  auto by_name = repo_->find_by_name("beta");
  ASSERT_TRUE(by_name && *by_name);
  EXPECT_EQ((*by_name)->id, "BB02");
  EXPECT_EQ((*by_name)->status, CaStatus::kActive);

  auto missing = repo_->find("CC03");
  ASSERT_TRUE(missing);
  EXPECT_FALSE(missing->has_value());

  auto all = repo_->list(false);
  ASSERT_TRUE(all);
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].name, "acme");
  EXPECT_EQ((*all)[1].name, "beta");
}

TEST_F(CaRepositoryTest, DuplicatesAndNameConflicts) {
  ASSERT_TRUE(repo_->insert(make_ca("AA01", "acme", "F1")));
  auto same_id = repo_->insert(make_ca("AA01", "other", "F9"));
  ASSERT_FALSE(same_id);
  EXPECT_EQ(same_id.error().name, "CaAlreadyRegistered");
  EXPECT_EQ(same_id.error().kind, ErrorKind::kConflict);
  auto same_fp = repo_->insert(make_ca("ZZ99", "other", "F1"));
  ASSERT_FALSE(same_fp);
  EXPECT_EQ(same_fp.error().name, "CaAlreadyRegistered");
  auto same_name = repo_->insert(make_ca("BB02", "acme", "F2"));
  ASSERT_FALSE(same_name);
  EXPECT_EQ(same_name.error().name, "CaNameTaken");
  EXPECT_EQ(same_name.error().kind, ErrorKind::kConflict);
  auto all = repo_->list(true);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->size(), 1u);
}

TEST_F(CaRepositoryTest, DeregisteredCaCanBeRegisteredAgainAndFreesItsName) {
  auto a = make_ca("AA01", "acme", "F1", CaStatus::kActive);
  ASSERT_TRUE(repo_->insert(a));
  a.status = CaStatus::kDeregistered;
  a.updated_at_ms = 2000;
  auto updated = repo_->update(a);
  ASSERT_TRUE(updated);
  EXPECT_TRUE(*updated);

  // Hidden from the default list and from find_by_name, still visible by id.
  EXPECT_EQ(repo_->list(false)->size(), 0u);
  EXPECT_EQ(repo_->list(true)->size(), 1u);
  EXPECT_FALSE(repo_->find_by_name("acme")->has_value());
  auto row = repo_->find("AA01");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->status, CaStatus::kDeregistered);
  EXPECT_EQ((*row)->updated_at_ms, 2000);

  // Its name is free for another CA.
  ASSERT_TRUE(repo_->insert(make_ca("BB02", "acme", "F2")));
  // And the CA itself may be registered again (new certificate of the same key), replacing the
  // deregistered row.
  auto again = make_ca("AA01", "acme-2", "F3", CaStatus::kInactive);
  again.created_at_ms = 3000;
  ASSERT_TRUE(repo_->insert(again)) << "re-registration";
  row = repo_->find("AA01");
  ASSERT_TRUE(row && *row);
  EXPECT_EQ((*row)->status, CaStatus::kInactive);
  EXPECT_EQ((*row)->fingerprint, "F3");
  EXPECT_EQ((*row)->created_at_ms, 3000);
  EXPECT_EQ(repo_->list(true)->size(), 2u);
}

TEST_F(CaRepositoryTest, UpdateOfUnknownCaReportsFalse) {
  auto r = repo_->update(make_ca("NOPE", "x", "F"));
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
}

TEST_F(CaRepositoryTest, DeviceCountCountsDistinctLiveDevices) {
  ASSERT_TRUE(repo_->insert(make_ca("AA01", "acme", "F1", CaStatus::kActive)));
  add_device_cert(std::string(64, 'A'), "SN-1", "AA01", "ACTIVE");
  add_device_cert(std::string(64, 'B'), "SN-1", "AA01", "PENDING_ACTIVATION");  // same device
  add_device_cert(std::string(64, 'C'), "SN-2", "AA01", "PENDING_ACTIVATION");
  add_device_cert(std::string(64, 'D'), "SN-3", "AA01", "REVOKED");
  add_device_cert(std::string(64, 'E'), "SN-4", "AA01", "REFUSED");
  add_device_cert(std::string(64, 'F'), "SN-5", "OTHER", "ACTIVE");
  auto n = repo_->device_count("AA01");
  ASSERT_TRUE(n);
  EXPECT_EQ(*n, 2);
  EXPECT_EQ(*repo_->device_count("NONE"), 0);
}

TEST_F(CaRepositoryTest, BrokerStateFromCertificatesAndCas) {
  ASSERT_TRUE(repo_->insert(make_ca("AA01", "active", "F1", CaStatus::kActive)));
  ASSERT_TRUE(repo_->insert(make_ca("BB02", "inactive", "F2", CaStatus::kInactive)));
  auto gone = make_ca("CC03", "gone", "F3", CaStatus::kActive);
  ASSERT_TRUE(repo_->insert(gone));
  gone.status = CaStatus::kDeregistered;
  ASSERT_TRUE(repo_->update(gone));
  const std::string a(64, 'A'), b(64, 'B'), c(64, 'C'), d(64, 'D');
  add_device_cert(b, "SN-2", "AA01", "ACTIVE");
  add_device_cert(a, "SN-1", "AA01", "ACTIVE");
  add_device_cert(c, "SN-3", "AA01", "REVOKED");
  add_device_cert(d, "SN-4", "AA01", "PENDING_ACTIVATION");

  auto state = repo_->broker_state();
  ASSERT_TRUE(state) << state.error().message;
  EXPECT_EQ(state->activated_fingerprints, (std::vector<std::string>{a, b}));
  EXPECT_EQ(state->revoked_fingerprints, (std::vector<std::string>{c}));
  // Ids and subject DNs (the plugin matches certificates without an AKI by issuer DN).
  EXPECT_EQ(state->disabled_cas,
            (std::vector<std::string>{"BB02", "CC03", "CN=gone", "CN=inactive"}));
  EXPECT_EQ(state->auto_activate_cas, std::vector<std::string>{"AA01"});
  EXPECT_TRUE(state->registered_devices.empty());
}

TEST_F(CaRepositoryTest, RevisionStartsAtZeroAndBumps) {
  auto r0 = repo_->broker_state_revision();
  ASSERT_TRUE(r0);
  EXPECT_EQ(*r0, 0);
  ASSERT_TRUE(repo_->bump_broker_state_revision());
  ASSERT_TRUE(repo_->bump_broker_state_revision());
  EXPECT_EQ(*repo_->broker_state_revision(), 2);
}

TEST_F(CaRepositoryTest, RegistrationCodeIsStableRandomHex) {
  auto code = repo_->registration_code();
  ASSERT_TRUE(code) << code.error().message;
  EXPECT_EQ(code->size(), 64u);
  EXPECT_EQ(code->find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(*repo_->registration_code(), *code);
}

TEST_F(CaRepositoryTest, StatusNamesRoundTrip) {
  for (auto s : {CaStatus::kActive, CaStatus::kInactive, CaStatus::kDeregistered}) {
    EXPECT_EQ(pki::ca_status_from(pki::to_string(s)), s);
  }
  EXPECT_FALSE(pki::ca_status_from("active"));
}

}  // namespace
}  // namespace sp::sqlite
