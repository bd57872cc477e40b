// The SQLite DeviceRepository over a real database file: registrations (one live row per device,
// history kept), the device list joined with presence and its paging, the delete transaction that
// revokes the device's certificates, certificate upsert / activation / revocation, security events
// and the status names.

#include <gtest/gtest.h>

#include <set>

#include "../main_db.hpp"
#include "../test_util.hpp"
#include "smartproduct/store/failure.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::sqlite {
namespace {

using devices::CertificateStatus;
using devices::DeviceCertificate;
using devices::Registration;
using devices::RegistrationStatus;

class DeviceRepositoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = make_device_repository(db_);
  }
  void TearDown() override {
    repo_.reset();
    if (db_) db_->close();
  }

  static Registration reg(std::string device, std::string user, std::string name = "name",
                          std::int64_t at = 1000) {
    Registration r;
    r.device_id = std::move(device);
    r.user_id = std::move(user);
    r.device_name = std::move(name);
    r.model_number = "25HNB9";
    r.details = {{"model", "INFINITY 19"}};
    r.created_at_ms = at;
    r.updated_at_ms = at;
    return r;
  }

  static DeviceCertificate cert(std::string fp, std::string device, std::int64_t seen = 100,
                                CertificateStatus status = CertificateStatus::kPendingActivation) {
    DeviceCertificate c;
    c.fingerprint = std::move(fp);
    c.device_id = std::move(device);
    c.ca_id = "CA1";
    c.issuer = "CN=Maker CA";
    c.serial = "01AB";
    c.not_before_s = 1600000000;
    c.not_after_s = 1900000000;
    c.status = status;
    c.first_seen_at_ms = seen;
    c.last_seen_at_ms = seen;
    c.updated_at_ms = seen;
    return c;
  }

  Registration create(Registration r) {
    auto created = repo_->create_registration(std::move(r));
    EXPECT_TRUE(created) << created.error().message << " " << created.error().detail;
    return created ? *created : Registration{};
  }

  void set_presence(const std::string& device, bool connected, std::int64_t since) {
    auto r = db_->write([&](Connection& conn) {
      return conn.execute(
          "INSERT INTO device_presence (device_id, connected, since, last_seen, address, "
          "broker_epoch, conn_seq, cert_fingerprint) VALUES (?1, ?2, ?3, ?3, '', 1, 1, '') "
          "ON CONFLICT (device_id) DO UPDATE SET connected = ?2, since = ?3",
          device, static_cast<int>(connected), since);
    });
    ASSERT_TRUE(r) << r.error().detail;
  }

  CertificateStatus status_of(const std::string& fp) {
    auto c = repo_->certificate(fp);
    EXPECT_TRUE(c && *c);
    return c && *c ? (*c)->status : CertificateStatus::kRefused;
  }

  test::TempDir dir_;
  std::shared_ptr<Database> db_;
  std::unique_ptr<store::DeviceRepository> repo_;
};

TEST_F(DeviceRepositoryTest, StatusNamesRoundTrip) {
  for (auto s : {RegistrationStatus::kPending, RegistrationStatus::kComplete,
                 RegistrationStatus::kDeleted}) {
    EXPECT_EQ(devices::registration_status_from(devices::to_string(s)), s);
  }
  for (auto s : {CertificateStatus::kPendingActivation, CertificateStatus::kActive,
                 CertificateStatus::kRevoked, CertificateStatus::kRefused}) {
    EXPECT_EQ(devices::certificate_status_from(devices::to_string(s)), s);
  }
  EXPECT_EQ(devices::to_string(RegistrationStatus::kComplete), "complete");
  EXPECT_EQ(devices::to_string(CertificateStatus::kPendingActivation), "PENDING_ACTIVATION");
  EXPECT_FALSE(devices::registration_status_from("Pending"));
  EXPECT_FALSE(devices::certificate_status_from("active"));
}

TEST_F(DeviceRepositoryTest, CreateAndFindRegistrations) {
  auto a = create(reg("SN-1", "alice", "kitchen", 1000));
  EXPECT_GT(a.id, 0);
  auto live = repo_->live_registration("SN-1");
  ASSERT_TRUE(live && *live);
  EXPECT_EQ((*live)->id, a.id);
  EXPECT_EQ((*live)->user_id, "alice");
  EXPECT_EQ((*live)->device_name, "kitchen");
  EXPECT_EQ((*live)->details["model"], "INFINITY 19");
  EXPECT_EQ((*live)->status, RegistrationStatus::kPending);
  EXPECT_EQ((*live)->created_at_ms, 1000);
  EXPECT_FALSE((*live)->activated_at_ms);
  EXPECT_FALSE((*live)->deleted_at_ms);

  auto none = repo_->live_registration("SN-2");
  ASSERT_TRUE(none);
  EXPECT_FALSE(*none);
  auto of_bob = repo_->latest_registration_of_user("SN-1", "bob");
  ASSERT_TRUE(of_bob);
  EXPECT_FALSE(*of_bob);
}

// The store reports a typed conflict; the seed's DeviceRegisteredFailure text is the service's.
TEST_F(DeviceRepositoryTest, SecondLiveRegistrationIsATypedConflict) {
  create(reg("SN-1", "alice"));
  for (const char* user : {"alice", "bob"}) {
    auto dup = repo_->create_registration(reg("SN-1", user));
    ASSERT_FALSE(dup);
    EXPECT_EQ(dup.error().kind, ErrorKind::kConflict);
    EXPECT_EQ(store::failure_of(dup.error()), store::Failure::kConflict);
    EXPECT_NE(dup.error().detail.find("UNIQUE"), std::string::npos) << dup.error().detail;
  }
}

TEST_F(DeviceRepositoryTest, DeleteKeepsHistoryAndAllowsReRegistration) {
  auto a = create(reg("SN-1", "alice", "a", 1000));
  auto revoked = repo_->delete_registration(a.id, 2000);
  ASSERT_TRUE(revoked) << revoked.error().detail;
  EXPECT_TRUE(revoked->empty());
  auto again = repo_->delete_registration(a.id, 3000);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(store::failure_of(again.error()), store::Failure::kNotFound);

  EXPECT_FALSE(*repo_->live_registration("SN-1"));
  auto old = repo_->latest_registration("SN-1");
  ASSERT_TRUE(old && *old);
  EXPECT_EQ((*old)->status, RegistrationStatus::kDeleted);
  EXPECT_EQ((*old)->updated_at_ms, 2000);
  EXPECT_EQ((*old)->deleted_at_ms, 2000);

  auto b = create(reg("SN-1", "bob", "b", 4000));
  EXPECT_NE(b.id, a.id);
  EXPECT_EQ((*repo_->live_registration("SN-1"))->user_id, "bob");
  EXPECT_EQ((*repo_->latest_registration("SN-1"))->id, b.id);
  // Alice still has her deleted row; a new one of hers would be the newest of hers.
  auto alice = repo_->latest_registration_of_user("SN-1", "alice");
  ASSERT_TRUE(alice && *alice);
  EXPECT_EQ((*alice)->id, a.id);
  EXPECT_EQ((*alice)->status, RegistrationStatus::kDeleted);
  EXPECT_EQ((*repo_->latest_registration_of_user("SN-1", "bob"))->id, b.id);
}

TEST_F(DeviceRepositoryTest, RegistrationsOfUserSortedByNameWithEveryStatus) {
  create(reg("SN-3", "alice", "zeta"));
  auto gone = create(reg("SN-1", "alice", "alpha"));
  create(reg("SN-2", "alice", "mid"));
  create(reg("SN-4", "bob", "beta"));
  ASSERT_TRUE(repo_->delete_registration(gone.id, 5000));
  create(reg("SN-1", "alice", "alpha"));  // re-registered: two rows with the same name

  auto rows = repo_->registrations_of_user("alice");
  ASSERT_TRUE(rows);
  std::vector<std::pair<std::string, RegistrationStatus>> got;
  for (const auto& r : *rows) got.emplace_back(r.device_name, r.status);
  const std::vector<std::pair<std::string, RegistrationStatus>> want = {
      {"alpha", RegistrationStatus::kDeleted},
      {"alpha", RegistrationStatus::kPending},
      {"mid", RegistrationStatus::kPending},
      {"zeta", RegistrationStatus::kPending}};
  EXPECT_EQ(got, want);
  EXPECT_TRUE(repo_->registrations_of_user("nobody")->empty());
}

TEST_F(DeviceRepositoryTest, ListDevicesPagesLiveRowsWithPresence) {
  std::vector<std::int64_t> alice_ids;
  for (int i = 0; i < 7; ++i) {
    alice_ids.push_back(create(reg("A-" + std::to_string(i), "alice")).id);
    create(reg("B-" + std::to_string(i), "bob"));
  }
  ASSERT_TRUE(repo_->delete_registration(alice_ids[3], 9000));
  set_presence("A-0", true, 111);
  set_presence("A-1", false, 222);

  std::vector<std::string> seen;
  std::optional<std::int64_t> after;
  int pages = 0;
  while (true) {
    auto page = repo_->list_devices(std::string("alice"), 2, after);
    ASSERT_TRUE(page) << page.error().detail;
    ++pages;
    for (const auto& d : page->items) {
      seen.push_back(d.registration.device_id);
      EXPECT_EQ(d.registration.user_id, "alice");
      if (d.registration.device_id == "A-0") {
        EXPECT_TRUE(d.connected);
        EXPECT_EQ(d.connectivity_since_ms, 111);
      } else if (d.registration.device_id == "A-1") {
        EXPECT_FALSE(d.connected);
        EXPECT_EQ(d.connectivity_since_ms, 222);
      } else {
        EXPECT_FALSE(d.connected);
        EXPECT_FALSE(d.connectivity_since_ms);
      }
    }
    if (!page->next_after_id) break;
    EXPECT_EQ(page->items.size(), 2u);
    EXPECT_EQ(*page->next_after_id, page->items.back().registration.id);
    after = page->next_after_id;
  }
  EXPECT_EQ(seen, (std::vector<std::string>{"A-0", "A-1", "A-2", "A-4", "A-5", "A-6"}));
  EXPECT_EQ(pages, 3);

  // Exactly a page full: no cursor on the last page.
  auto all = repo_->list_devices(std::nullopt, 13, std::nullopt);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->items.size(), 13u);
  EXPECT_FALSE(all->next_after_id);
  auto short_page = repo_->list_devices(std::nullopt, 12, std::nullopt);
  ASSERT_TRUE(short_page);
  EXPECT_TRUE(short_page->next_after_id);
}

TEST_F(DeviceRepositoryTest, SaveCertificateUpsertsButKeepsFirstSeen) {
  ASSERT_TRUE(repo_->save_certificate(cert("FP1", "SN-1", 100)));
  auto c = cert("FP1", "SN-1", 500, CertificateStatus::kRefused);
  c.status_reason = "device_not_in_catalog";
  c.issuer = "CN=Other";
  ASSERT_TRUE(repo_->save_certificate(c));
  auto got = repo_->certificate("FP1");
  ASSERT_TRUE(got && *got);
  EXPECT_EQ((*got)->first_seen_at_ms, 100);
  EXPECT_EQ((*got)->last_seen_at_ms, 500);
  EXPECT_EQ((*got)->status, CertificateStatus::kRefused);
  EXPECT_EQ((*got)->status_reason, "device_not_in_catalog");
  EXPECT_EQ((*got)->issuer, "CN=Other");
  EXPECT_EQ((*got)->not_after_s, 1900000000);
  EXPECT_FALSE((*got)->registration_id);
  EXPECT_FALSE(*repo_->certificate("nope"));
}

TEST_F(DeviceRepositoryTest, ActivateCompletesPendingRegistrationOnce) {
  auto a = create(reg("SN-1", "alice"));
  ASSERT_TRUE(repo_->save_certificate(cert("FP1", "SN-1", 100)));
  auto r = repo_->activate_certificate("FP1", a.id, 2000);
  ASSERT_TRUE(r) << r.error().detail;
  auto c = *repo_->certificate("FP1");
  EXPECT_EQ(c->status, CertificateStatus::kActive);
  EXPECT_EQ(c->registration_id, a.id);
  EXPECT_EQ(c->activated_at_ms, 2000);
  auto live = *repo_->live_registration("SN-1");
  EXPECT_EQ(live->status, RegistrationStatus::kComplete);
  EXPECT_EQ(live->activated_at_ms, 2000);

  // Idempotent: a second activation (reconciliation) keeps both timestamps.
  ASSERT_TRUE(repo_->activate_certificate("FP1", a.id, 3000));
  EXPECT_EQ((*repo_->certificate("FP1"))->activated_at_ms, 2000);
  EXPECT_EQ((*repo_->live_registration("SN-1"))->activated_at_ms, 2000);

  // A rotated certificate activates without touching the completed registration.
  ASSERT_TRUE(repo_->save_certificate(cert("FP2", "SN-1", 4000)));
  ASSERT_TRUE(repo_->activate_certificate("FP2", a.id, 4500));
  EXPECT_EQ((*repo_->certificate("FP2"))->activated_at_ms, 4500);
  EXPECT_EQ((*repo_->live_registration("SN-1"))->activated_at_ms, 2000);

  auto unknown = repo_->activate_certificate("FP-unknown", a.id, 5000);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::kNotFound);
}

TEST_F(DeviceRepositoryTest, ActivateRefusesADeletedRegistrationAndChangesNothing) {
  auto a = create(reg("SN-1", "alice"));
  ASSERT_TRUE(repo_->delete_registration(a.id, 1500));
  ASSERT_TRUE(repo_->save_certificate(cert("FP1", "SN-1", 2000)));
  auto r = repo_->activate_certificate("FP1", a.id, 2500);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(store::failure_of(r.error()), store::Failure::kConflict);
  EXPECT_EQ(status_of("FP1"), CertificateStatus::kPendingActivation);
  EXPECT_FALSE((*repo_->certificate("FP1"))->registration_id);
  EXPECT_EQ((*repo_->latest_registration("SN-1"))->status, RegistrationStatus::kDeleted);
}

TEST_F(DeviceRepositoryTest, DeleteRevokesTheDevicesLiveCertificatesInOneGo) {
  auto a = create(reg("SN-1", "alice"));
  create(reg("SN-2", "alice"));
  ASSERT_TRUE(repo_->save_certificate(cert("FP-active", "SN-1", 100)));
  ASSERT_TRUE(repo_->activate_certificate("FP-active", a.id, 150));
  ASSERT_TRUE(repo_->save_certificate(cert("FP-pending", "SN-1", 200)));
  ASSERT_TRUE(
      repo_->save_certificate(cert("FP-refused", "SN-1", 300, CertificateStatus::kRefused)));
  ASSERT_TRUE(repo_->save_certificate(cert("FP-old", "SN-1", 50)));
  ASSERT_TRUE(repo_->revoke_certificate("FP-old", "manual", 60));
  ASSERT_TRUE(repo_->save_certificate(cert("FP-other", "SN-2", 100)));

  auto revoked = repo_->delete_registration(a.id, 1000);
  ASSERT_TRUE(revoked) << revoked.error().detail;
  EXPECT_EQ(*revoked, (std::vector<std::string>{"FP-active", "FP-pending"}));
  for (const char* fp : {"FP-active", "FP-pending"}) {
    auto c = *repo_->certificate(fp);
    EXPECT_EQ(c->status, CertificateStatus::kRevoked) << fp;
    EXPECT_EQ(c->status_reason, "device_deleted");
    EXPECT_EQ(c->revoked_at_ms, 1000);
  }
  EXPECT_EQ(status_of("FP-refused"), CertificateStatus::kRefused);
  auto old = *repo_->certificate("FP-old");
  EXPECT_EQ(old->status_reason, "manual");
  EXPECT_EQ(old->revoked_at_ms, 60);
  EXPECT_EQ(status_of("FP-other"), CertificateStatus::kPendingActivation);
  // Registration history of the device's certificates stays readable.
  auto all = repo_->certificates_of_device("SN-1");
  ASSERT_TRUE(all);
  std::vector<std::string> order;
  for (const auto& c : *all) order.push_back(c.fingerprint);
  EXPECT_EQ(order, (std::vector<std::string>{"FP-old", "FP-active", "FP-pending", "FP-refused"}));
}

TEST_F(DeviceRepositoryTest, RevokeAndStatusQueries) {
  ASSERT_TRUE(repo_->save_certificate(cert("FP1", "SN-1", 100)));
  ASSERT_TRUE(repo_->save_certificate(cert("FP2", "SN-2", 200)));
  ASSERT_TRUE(repo_->save_certificate(cert("FP3", "SN-2", 300)));

  auto r = repo_->revoke_certificate("FP2", "admin", 1000);
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  EXPECT_FALSE(*repo_->revoke_certificate("FP2", "again", 2000));
  EXPECT_FALSE(*repo_->revoke_certificate("unknown", "x", 2000));
  auto c = *repo_->certificate("FP2");
  EXPECT_EQ(c->status_reason, "admin");
  EXPECT_EQ(c->revoked_at_ms, 1000);

  auto pending = repo_->certificates_with_status(CertificateStatus::kPendingActivation, "");
  ASSERT_TRUE(pending);
  ASSERT_EQ(pending->size(), 2u);
  EXPECT_EQ((*pending)[0].fingerprint, "FP1");
  EXPECT_EQ((*pending)[1].fingerprint, "FP3");
  auto of_sn2 = repo_->certificates_with_status(CertificateStatus::kPendingActivation, "SN-2");
  ASSERT_TRUE(of_sn2);
  ASSERT_EQ(of_sn2->size(), 1u);
  EXPECT_EQ((*of_sn2)[0].fingerprint, "FP3");
  EXPECT_EQ(repo_->certificates_with_status(CertificateStatus::kRevoked, "")->size(), 1u);
}

TEST_F(DeviceRepositoryTest, SecurityEventsNewestFirstWithPagingAndFilter) {
  for (int i = 0; i < 5; ++i) {
    devices::SecurityEvent e;
    e.at_ms = 1000 + i;
    e.kind = i % 2 ? "revoked" : "device_not_in_catalog";
    e.device_id = i % 2 ? "SN-odd" : "SN-even";
    e.cert_fingerprint = "FP" + std::to_string(i);
    e.ca_id = "CA1";
    e.detail = "event " + std::to_string(i);
    ASSERT_TRUE(repo_->add_security_event(e));
  }
  auto first = repo_->security_events(2, std::nullopt, "");
  ASSERT_TRUE(first);
  ASSERT_EQ(first->size(), 2u);
  EXPECT_EQ((*first)[0].detail, "event 4");
  EXPECT_EQ((*first)[1].detail, "event 3");
  EXPECT_EQ((*first)[0].kind, "device_not_in_catalog");
  EXPECT_EQ((*first)[0].at_ms, 1004);
  EXPECT_EQ((*first)[0].ca_id, "CA1");
  auto next = repo_->security_events(10, (*first)[1].id, "");
  ASSERT_TRUE(next);
  ASSERT_EQ(next->size(), 3u);
  EXPECT_EQ((*next)[0].detail, "event 2");
  EXPECT_EQ((*next)[2].detail, "event 0");
  auto odd = repo_->security_events(10, std::nullopt, "SN-odd");
  ASSERT_TRUE(odd);
  ASSERT_EQ(odd->size(), 2u);
  EXPECT_EQ((*odd)[0].cert_fingerprint, "FP3");
  EXPECT_EQ((*odd)[1].cert_fingerprint, "FP1");
}

}  // namespace
}  // namespace sp::sqlite
