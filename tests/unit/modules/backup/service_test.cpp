// The daemon's backups: ids that map to files, one backup at a time, no partial archive after a
// failure, retention, and the backups folder kept out of the archives. Real archives (tar) of a
// small instance folder; the databases are a fake (the SQLite side has its own tests).

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <set>

#include "fakes/fixed_clock.hpp"
#include "smartproduct/backup/service.hpp"

namespace sp::backup {
namespace {

namespace fs = std::filesystem;

class FakeDatabases final : public DatabaseSnapshots {
 public:
  bool fail_snapshot = false;
  std::vector<std::string> database_files() const override { return {"smartproduct.db"}; }
  bool is_database_file(const fs::path& p) const override { return p.extension() == ".db"; }
  Result<void> snapshot(const fs::path& from, const fs::path& to) const override {
    if (fail_snapshot) return fail(ErrorKind::kUnprocessable, "BackupFailed", "disk full");
    std::ofstream(to) << "snapshot of " << from.string();
    return {};
  }
  Result<DatabaseFacts> describe(const fs::path&) const override {
    return DatabaseFacts{"main", 16, {{"devices", 3}}};
  }
  std::optional<int> newest_version(std::string_view) const override { return 16; }
  Result<std::string> integrity_check(const fs::path&) const override { return std::string("ok"); }
};

std::set<std::string> names_in(const fs::path& dir) {
  std::set<std::string> out;
  for (const auto& e : fs::directory_iterator(dir)) out.insert(e.path().filename().string());
  return out;
}

std::string archive_listing(const fs::path& archive) {
  std::string out;
  FILE* p = popen(("tar -tzf '" + archive.string() + "'").c_str(), "r");
  char buf[512];
  while (p && fgets(buf, sizeof buf, p)) out += buf;
  if (p) pclose(p);
  return out;
}

class BackupServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(::testing::TempDir()) /
           ("sp-backup-" + std::to_string(::getpid()) + "-" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    for (const char* sub : {"pki", "broker", "data/keys"}) fs::create_directories(dir_ / sub);
    std::ofstream(dir_ / "smartproduct.toml") << "# config\n";
    std::ofstream(dir_ / "pki" / "root-ca.key") << "key\n";
    std::ofstream(dir_ / "broker" / "mosquitto.conf") << "listener 8883\n";
    std::ofstream(dir_ / "data" / "smartproduct.db") << "live database\n";
    settings_.dir = dir_ / "data" / "backups";
    settings_.keep = 2;
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::unique_ptr<BackupService> make() {
    auto sources =
        instance_sources(dir_, dir_ / "smartproduct.toml", dir_ / "data", dir_ / "data" / "keys");
    EXPECT_TRUE(sources);
    auto s = std::make_unique<BackupService>(settings_, sources, databases_, clock_);
    EXPECT_TRUE(s->open());
    return s;
  }

  BackupRecord backup(BackupService& s) {
    auto started = s.start("manual");
    EXPECT_TRUE(started) << started.error().message;
    clock_.advance(std::chrono::seconds(1));
    return s.execute(started->id);
  }

  fs::path dir_;
  BackupSettings settings_;
  FakeDatabases databases_;
  test::FixedClock clock_;
};

TEST(BackupIds, AreUtcStartTimesAndNothingElse) {
  EXPECT_EQ(backup_id(1700000000123), "20231114-221320-123");
  EXPECT_EQ(backup_id_time_ms("20231114-221320-123"), 1700000000123);
  EXPECT_EQ(archive_name("20231114-221320-123"), "smartproduct-20231114-221320-123.tar.gz");
  for (const char* bad :
       {"", "../../etc/passwd", "20231114-221320-12", "20231114-221320-1234", "20231114T221320-123",
        "20230231-000000-000", "2023111x-221320-123", "20231114-221320-123/..", "%2e%2e"}) {
    EXPECT_FALSE(backup_id_time_ms(bad)) << bad;
  }
}

TEST(BackupRetention, DeletesAllButTheNewest) {
  EXPECT_EQ(
      beyond_retention({"20240103-000000-000", "20240101-000000-000", "20240102-000000-000"}, 2),
      std::vector<std::string>{"20240101-000000-000"});
  EXPECT_TRUE(beyond_retention({"20240101-000000-000"}, 1).empty());
  EXPECT_TRUE(beyond_retention({}, 7).empty());
}

TEST_F(BackupServiceTest, WritesArchivesAndKeepsTheNewest) {
  auto s = make();
  std::vector<BackupRecord> done;
  for (int i = 0; i < 3; ++i) done.push_back(backup(*s));
  for (const auto& r : done) {
    EXPECT_EQ(r.status, "completed") << r.error;
    EXPECT_GT(r.size, 0u);
    EXPECT_TRUE(r.duration_s);
  }
  // keep = 2: the first archive is gone, from the folder and from the list.
  EXPECT_EQ(names_in(settings_.dir), (std::set<std::string>{done[1].file, done[2].file}));
  auto listed = s->list(10, std::nullopt);
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(listed[0].id, done[2].id);  // newest first
  EXPECT_EQ(listed[1].id, done[1].id);
  EXPECT_EQ(s->list(10, done[2].id).size(), 1u);  // the page after the newest
  EXPECT_FALSE(s->get(done[0].id));
  EXPECT_EQ(s->stats().completed_total, 3);
  EXPECT_EQ(s->stats().last_size, done[2].size);
  EXPECT_EQ(*s->archive(done[2].id), settings_.dir / done[2].file);
  EXPECT_EQ(fs::status(settings_.dir / done[2].file).permissions() & fs::perms::all,
            fs::perms::owner_read | fs::perms::owner_write);
}

TEST_F(BackupServiceTest, TheBackupsFolderIsNotInTheArchives) {
  auto s = make();
  backup(*s);
  auto second = backup(*s);
  const auto listing = archive_listing(settings_.dir / second.file);
  EXPECT_NE(listing.find("smartproduct-backup/pki/root-ca.key"), std::string::npos) << listing;
  EXPECT_NE(listing.find("smartproduct-backup/data/smartproduct.db"), std::string::npos) << listing;
  EXPECT_EQ(listing.find("backups"), std::string::npos) << listing;
}

TEST_F(BackupServiceTest, OneAtATime) {
  auto s = make();
  auto first = s->start("manual");
  ASSERT_TRUE(first);
  auto second = s->start("scheduled");
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().name, "BackupRunning");
  EXPECT_EQ(s->get(first->id)->status, "running");
  EXPECT_EQ(s->archive(first->id).error().name, "BackupRunning");
  EXPECT_EQ(s->remove(first->id).error().name, "BackupRunning");
  EXPECT_EQ(s->execute(first->id).status, "completed");
  EXPECT_TRUE(s->start("manual"));
}

TEST_F(BackupServiceTest, AFailedBackupLeavesNoFile) {
  auto s = make();
  databases_.fail_snapshot = true;
  auto r = backup(*s);
  EXPECT_EQ(r.status, "failed");
  EXPECT_NE(r.error.find("disk full"), std::string::npos) << r.error;
  EXPECT_TRUE(names_in(settings_.dir).empty());  // neither the archive nor its temporary folder
  EXPECT_EQ(s->stats().failures_total, 1);
  EXPECT_EQ(s->archive(r.id).error().name, "BackupNotFound");
  EXPECT_TRUE(s->remove(r.id));
  EXPECT_FALSE(s->get(r.id));
}

TEST_F(BackupServiceTest, ThePackagedLayoutBacksUpTheStateFolder) {
  // init --dir <etc> --data-dir <state>: the config alone in etc, data/, pki/, broker/ in state.
  const fs::path etc = dir_ / "etc", state = dir_ / "state";
  for (const auto* sub : {"data/keys", "pki", "broker"}) fs::create_directories(state / sub);
  fs::create_directories(etc);
  auto sources =
      instance_sources(etc, etc / "smartproduct.toml", state / "data", state / "data" / "keys");
  ASSERT_TRUE(sources) << sources.error().message;
  EXPECT_EQ(sources->dir, fs::absolute(state).lexically_normal());
  EXPECT_EQ(sources->pki(), sources->dir / "pki");
  EXPECT_EQ(sources->config_file, etc / "smartproduct.toml");
  // Keys outside the state folder are still refused.
  EXPECT_FALSE(instance_sources(etc, etc / "smartproduct.toml", state / "data", "/var/lib/keys"));
}

TEST_F(BackupServiceTest, AnInstanceWithStateOutsideItsFolderIsRefused) {
  auto sources = instance_sources(dir_, dir_ / "smartproduct.toml", "/var/lib/elsewhere",
                                  dir_ / "data" / "keys");
  ASSERT_FALSE(sources);
  BackupService s(settings_, sources, databases_, clock_);
  ASSERT_TRUE(s.open());
  ASSERT_TRUE(s.unsupported());
  auto started = s.start("manual");
  ASSERT_FALSE(started);
  EXPECT_EQ(started.error().name, "BackupFailed");
  EXPECT_NE(started.error().message.find("outside the instance directory"), std::string::npos);
}

TEST_F(BackupServiceTest, OpenFindsArchivesAndRemovesLeftovers) {
  fs::create_directories(settings_.dir / ".smartproduct-20240101-000000-000.tar.gz.tmp-AbC123");
  std::ofstream(settings_.dir / "smartproduct-20240101-000000-000.tar.gz") << "archive";
  std::ofstream(settings_.dir / "smartproduct-not-an-id.tar.gz") << "x";
  std::ofstream(settings_.dir / "notes.txt") << "x";
  clock_.set(1717200000000);  // 2024-06-01: after the archive found
  auto s = make();
  auto listed = s->list(10, std::nullopt);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].id, "20240101-000000-000");
  EXPECT_EQ(listed[0].trigger, "found");
  EXPECT_EQ(listed[0].size, 7u);
  EXPECT_FALSE(listed[0].duration_s);
  EXPECT_FALSE(fs::exists(settings_.dir / ".smartproduct-20240101-000000-000.tar.gz.tmp-AbC123"));
  // Files the service did not write are not backups: not listed, never deleted by retention.
  backup(*s);
  backup(*s);
  EXPECT_TRUE(fs::exists(settings_.dir / "notes.txt"));
  EXPECT_TRUE(fs::exists(settings_.dir / "smartproduct-not-an-id.tar.gz"));
  EXPECT_FALSE(fs::exists(settings_.dir / "smartproduct-20240101-000000-000.tar.gz"));
  EXPECT_EQ(s->get("../notes.txt").error().name, "BackupNotFound");
}

}  // namespace
}  // namespace sp::backup
