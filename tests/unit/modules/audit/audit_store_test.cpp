// The audit service over the SQLite repository: runs, the finding life cycle (open, fires again,
// resolved, reopened, suppressed), one running run at a time, and the snapshot queries.

#include <gtest/gtest.h>

#include <mutex>

#include "../../store/main_db.hpp"
#include "fakes/fixed_clock.hpp"
#include "smartproduct/audit/service.hpp"
#include "store/sqlite/repositories/audit_repository.hpp"

namespace sp::audit {
namespace {

constexpr std::int64_t kT0 = test::FixedClock::kDefaultNowMs;

// A snapshot the test edits between runs.
class FakeSource final : public SnapshotSource {
 public:
  Result<Snapshot> collect(std::int64_t now_ms) override {
    Snapshot s = snapshot;
    s.now_ms = now_ms;
    return s;
  }
  Snapshot snapshot;
};

class AuditStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = sqlite::make_audit_repository(db_);
    service_ = std::make_unique<AuditService>(*repo_, source_, clock_, bus_);
    source_.snapshot.plugin.read = true;
  }

  void exec(const std::string& sql) {
    auto r = db_->write([&](sqlite::Connection& c) { return c.exec(sql); });
    ASSERT_TRUE(r) << r.error().message;
  }

  void expiring(const std::string& fp, std::int64_t days) {
    DeviceCert c;
    c.fingerprint = fp;
    c.device_id = "SN-" + fp;
    c.ca_id = "CA";
    c.status = "ACTIVE";
    c.not_after_s = clock_.now_ms() / 1000 + days * 86400;
    source_.snapshot.device_certs.push_back(c);
  }

  std::vector<store::AuditFinding> all() {
    auto r = service_->findings({}, 100, std::nullopt);
    EXPECT_TRUE(r);
    return r ? *r : std::vector<store::AuditFinding>{};
  }

  sqlite::test::TempDir dir_;
  std::shared_ptr<sqlite::Database> db_;
  test::FixedClock clock_;
  EventBus bus_;
  FakeSource source_;
  std::unique_ptr<store::AuditRepository> repo_;
  std::unique_ptr<AuditService> service_;
};

TEST_F(AuditStoreTest, ARunRecordsItsCountsPerCheck) {
  expiring("F1", 1);
  auto run = service_->run_now("manual");
  ASSERT_TRUE(run) << run.error().message;
  EXPECT_EQ(run->status, "completed");
  EXPECT_EQ(run->trigger, "manual");
  EXPECT_EQ(run->checks["DEVICE_CERTIFICATE_EXPIRING_CHECK"], 1);
  EXPECT_EQ(run->checks["TLS_VERSION_CHECK"], 0);
  EXPECT_EQ(run->checks.size(), 12u);
  auto runs = service_->runs(10, std::nullopt);
  ASSERT_TRUE(runs);
  ASSERT_EQ(runs->size(), 1u);
}

TEST_F(AuditStoreTest, RunsAnnounceOnlyTheFindingsTheyMadeOpen) {
  std::mutex m;
  std::vector<AuditRunCompleted> seen;
  bus_.lane("test").on<AuditRunCompleted>([&](const AuditRunCompleted& e) {
    std::lock_guard lock(m);
    seen.push_back(e);
  });
  bus_.start();
  auto ids = [&](std::size_t i) {
    std::lock_guard lock(m);
    std::vector<std::string> out;
    for (const auto& f : seen.at(i).raised) out.push_back(f.resource_id);
    return out;
  };
  expiring("F1", 1);
  ASSERT_TRUE(service_->run_now("manual"));
  expiring("F2", 2);
  clock_.advance(std::chrono::hours(1));
  ASSERT_TRUE(service_->run_now("manual"));  // F1 still open: only F2 is news
  source_.snapshot.device_certs.clear();
  clock_.advance(std::chrono::hours(1));
  ASSERT_TRUE(service_->run_now("manual"));  // both resolved: nothing
  expiring("F1", 1);
  clock_.advance(std::chrono::hours(1));
  ASSERT_TRUE(service_->run_now("manual"));  // F1 reopened
  bus_.drain();
  ASSERT_EQ(seen.size(), 4u);
  EXPECT_EQ(ids(0), std::vector<std::string>{"F1"});
  EXPECT_EQ(ids(1), std::vector<std::string>{"F2"});
  EXPECT_TRUE(ids(2).empty());
  EXPECT_EQ(ids(3), std::vector<std::string>{"F1"});
  EXPECT_EQ(seen[1].new_findings, 1);
  EXPECT_EQ(seen[1].findings, 2);
  EXPECT_EQ(seen[3].raised[0].status, "open");
  bus_.stop();
}

TEST_F(AuditStoreTest, FindingLifeCycle) {
  expiring("F1", 1);
  expiring("F2", 2);
  auto r1 = service_->run_now("manual");
  ASSERT_TRUE(r1);
  auto f = all();
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0].status, "open");
  EXPECT_EQ(f[0].first_seen_ms, kT0);

  // Firing again: last seen moves, first seen stays, same row.
  clock_.advance(std::chrono::hours(1));
  source_.snapshot.device_certs.pop_back();  // F2 renewed
  auto r2 = service_->run_now("scheduled");
  ASSERT_TRUE(r2);
  f = all();
  ASSERT_EQ(f.size(), 2u);
  const auto& f2 = f[0].resource_id == "F2" ? f[0] : f[1];
  const auto& f1 = f[0].resource_id == "F1" ? f[0] : f[1];
  EXPECT_EQ(f1.status, "open");
  EXPECT_EQ(f1.first_seen_ms, kT0);
  EXPECT_EQ(f1.last_seen_ms, kT0 + 3600000);
  EXPECT_EQ(f1.last_run, r2->id);
  EXPECT_EQ(f2.status, "resolved");
  EXPECT_EQ(f2.resolved_at_ms, kT0 + 3600000);

  // Suppressed until tomorrow: stays suppressed while it fires; reopen by hand.
  FindingChange sup{"suppressed", "replacement shipped", clock_.now_ms() + 86400000};
  auto s = service_->update_finding(f1.id, sup);
  ASSERT_TRUE(s) << s.error().message;
  EXPECT_EQ(s->status, "suppressed");
  ASSERT_TRUE(service_->run_now("manual"));
  EXPECT_EQ(service_->finding(f1.id)->status, "suppressed");
  // Past the expiry it is open again at the next run.
  clock_.advance(std::chrono::hours(25));
  ASSERT_TRUE(service_->run_now("manual"));
  auto reopened = service_->finding(f1.id);
  EXPECT_EQ(reopened->status, "open");
  EXPECT_FALSE(reopened->suppress_reason);

  // A resolved finding that fires again is open again, same id.
  expiring("F2", 1);
  ASSERT_TRUE(service_->run_now("manual"));
  EXPECT_EQ(service_->finding(f2.id)->status, "open");
  EXPECT_EQ(all().size(), 2u);
}

TEST_F(AuditStoreTest, UpdateFindingValidates) {
  expiring("F1", 1);
  ASSERT_TRUE(service_->run_now("manual"));
  const auto id = all().at(0).id;
  EXPECT_EQ(service_->update_finding(id, {"suppressed", std::nullopt, std::nullopt}).error().name,
            "InvalidParameter");
  EXPECT_EQ(service_->update_finding(id, {"suppressed", "x", kT0 - 1}).error().name,
            "InvalidParameter");
  EXPECT_EQ(service_->update_finding(id, {"resolved", std::nullopt, std::nullopt}).error().name,
            "InvalidParameter");
  EXPECT_EQ(service_->update_finding(id + 100, {"open", std::nullopt, std::nullopt}).error().name,
            "AuditFindingNotFound");
  auto indefinitely = service_->update_finding(id, {"suppressed", "known", std::nullopt});
  ASSERT_TRUE(indefinitely);
  EXPECT_FALSE(indefinitely->suppressed_until_ms);
  auto open = service_->update_finding(id, {"open", std::nullopt, std::nullopt});
  ASSERT_TRUE(open);
  EXPECT_EQ(open->status, "open");
  EXPECT_FALSE(open->suppress_reason);
}

TEST_F(AuditStoreTest, OneRunningRunAtATimeAndInterruptedRunsFail) {
  auto first = service_->start_run("manual");
  ASSERT_TRUE(first);
  auto second = service_->start_run("scheduled");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().name, "AuditRunning");
  EXPECT_EQ(*service_->fail_interrupted(), 1);
  EXPECT_EQ(service_->run(*first)->status, "failed");
  EXPECT_TRUE(service_->start_run("manual"));
  EXPECT_EQ(service_->run(9999).error().name, "AuditRunNotFound");
}

TEST_F(AuditStoreTest, FindingFiltersAndPaging) {
  expiring("F1", 1);
  expiring("F2", -1);  // expired: high
  expiring("F3", 3);
  ASSERT_TRUE(service_->run_now("manual"));
  store::AuditFindingFilter high;
  high.severity = "high";
  EXPECT_EQ(service_->findings(high, 10, std::nullopt)->size(), 1u);
  store::AuditFindingFilter check;
  check.check = "CONFLICTING_CLIENT_IDS_CHECK";
  EXPECT_TRUE(service_->findings(check, 10, std::nullopt)->empty());
  auto page1 = service_->findings({}, 2, std::nullopt);
  ASSERT_EQ(page1->size(), 2u);
  auto page2 = service_->findings({}, 2, page1->back().id);
  ASSERT_EQ(page2->size(), 1u);
  EXPECT_LT(page2->at(0).id, page1->back().id);
}

TEST_F(AuditStoreTest, SnapshotQueriesReadDevicesCasAndPresence) {
  exec(
      "INSERT INTO certificate_authorities (id, name, subject, issuer, serial, fingerprint, "
      "not_before, not_after, certificate_pem, status, auto_registration, managed, created_at, "
      "updated_at) VALUES ('CA1', 'factory', 's', 'i', '1', 'FPCA', 0, 99, 'pem', 'INACTIVE', 0, "
      "0, 1, 1)");
  exec(
      "INSERT INTO device_certificates (fingerprint, device_id, ca_id, issuer, serial, not_after, "
      "status, first_seen_at, last_seen_at, updated_at) VALUES "
      "('FA', 'SN1', 'CA1', 'i', '1', 1000, 'ACTIVE', 1, 1, 1), "
      "('FR', 'SN2', 'CA1', 'i', '2', 1000, 'REVOKED', 1, 1, 1), "
      "('FP', 'SN3', 'CA1', 'i', '3', 1000, 'PENDING_ACTIVATION', 1, 1, 1)");
  exec(
      "INSERT INTO device_presence (device_id, connected, since, last_seen, address, "
      "broker_epoch, conn_seq, cert_fingerprint) VALUES ('SN2', 1, 1, 1, '10.0.0.1', 1, 7, 'FR')");
  exec(
      "INSERT INTO presence_history (device_id, event, client_id, cert_fingerprint, issuer, "
      "serial, address, protocol_version, broker_epoch, conn_seq, at, reason) VALUES "
      "('SN2', 'connected', 'SN2', 'FR', 'i', '2', '10.0.0.1', 5, 1, 7, 500, ''), "
      "('SN2', 'rejected', 'SN2', 'FR', 'i', '2', '10.0.0.1', 5, 1, 0, 600, 'revoked'), "
      "('SN2', 'connected', 'SN2', 'FR', 'i', '2', '10.0.0.1', 5, 1, 6, 10, '')");
  auto certs = repo_->device_certificates();
  ASSERT_TRUE(certs) << certs.error().message;
  ASSERT_EQ(certs->size(), 2u);
  for (const auto& c : *certs) EXPECT_EQ(c.connected, c.fingerprint == "FR") << c.fingerprint;
  std::vector<std::string> pems;
  auto cas = repo_->certificate_authorities(pems);
  ASSERT_TRUE(cas);
  ASSERT_EQ(cas->size(), 1u);
  EXPECT_EQ(cas->at(0).connected_devices, 1);
  EXPECT_EQ(pems.at(0), "pem");
  auto connections = repo_->connections_since(100);
  ASSERT_TRUE(connections);
  ASSERT_EQ(connections->size(), 1u);
  EXPECT_EQ(connections->at(0).conn_seq, 7);
}

}  // namespace
}  // namespace sp::audit
