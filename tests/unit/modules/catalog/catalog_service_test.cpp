// The catalog service over the real SQLite repository (a fresh database file per test): create,
// find, delete, paging and the model filter, claim codes (hashed, checked), bulk import.

#include <gtest/gtest.h>

#include "../../store/main_db.hpp"
#include "../../store/test_util.hpp"
#include "fakes/fixed_clock.hpp"
#include "smartproduct/catalog/service.hpp"
#include "store/sqlite/migrations.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::catalog {
namespace {

using test::FixedClock;

const std::string kPepper(32, 'p');

class CatalogServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = sqlite::make_catalog_repository(db_);
    service_ = std::make_unique<CatalogService>(*repo_, clock_, identity::CodeHasher(kPepper));
  }
  void TearDown() override {
    service_.reset();
    repo_.reset();
    if (db_) db_->close();
  }
  static NewEntry entry(std::string id, std::string model = "25HNB9",
                        std::optional<std::string> code = std::nullopt) {
    return NewEntry{
        std::move(id), std::move(model), {{"model", "INFINITY 19"}}, std::move(code), std::nullopt};
  }

  sqlite::test::TempDir dir_;
  FixedClock clock_;
  std::shared_ptr<sqlite::Database> db_;
  std::unique_ptr<store::CatalogRepository> repo_;
  std::unique_ptr<CatalogService> service_;
};

TEST_F(CatalogServiceTest, CreateFindDelete) {
  auto created = service_->create(entry("SN-1"));
  ASSERT_TRUE(created) << created.error().message;
  EXPECT_EQ(created->created_at_ms, clock_.now_ms());
  auto found = service_->find("SN-1", "25HNB9");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->details["model"], "INFINITY 19");
  EXPECT_FALSE(found->claim_code_hash);
  const auto j = to_json(*found);
  EXPECT_EQ(j["hasClaimCode"], false);
  EXPECT_EQ(j["createdAt"], "2023-11-14T22:13:20.000Z");

  auto dup = service_->create(entry("SN-1"));
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().kind, ErrorKind::kConflict);
  EXPECT_EQ(dup.error().name, "CatalogEntryExists");
  // Same serial, other model: a different entry.
  EXPECT_TRUE(service_->create(entry("SN-1", "OTHER")));

  EXPECT_EQ(service_->find("SN-1", "nope").error().kind, ErrorKind::kNotFound);
  ASSERT_TRUE(service_->remove("SN-1", "25HNB9"));
  EXPECT_EQ(service_->remove("SN-1", "25HNB9").error().kind, ErrorKind::kNotFound);
  EXPECT_EQ(service_->find("SN-1", "25HNB9").error().name, "CatalogEntryNotFound");
  EXPECT_TRUE(service_->find("SN-1", "OTHER"));
}

TEST_F(CatalogServiceTest, InvalidEntriesAre422) {
  for (const auto& bad : {entry("bad id"), entry("SN", "model number"), entry("SN", "M", "x")}) {
    auto r = service_->create(bad);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::kUnprocessable);
  }
  auto r = entry_from_json({{"deviceId", "A"}, {"modelNumber", "M"}, {"details", 5}});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "InvalidCatalogEntry");
  EXPECT_FALSE(entry_from_json({{"modelNumber", "M"}}));
  EXPECT_TRUE(entry_from_json({{"deviceId", "A"}, {"modelNumber", "M"}, {"details", nullptr}}));
  // caId: a CA id in hex (colons allowed), null for none; anything else is refused.
  EXPECT_FALSE(entry_from_json({{"deviceId", "A"}, {"modelNumber", "M"}, {"caId", 5}}));
  EXPECT_FALSE(entry_from_json({{"deviceId", "A"}, {"modelNumber", "M"}, {"caId", "not-hex"}}));
  EXPECT_FALSE(entry_from_json({{"deviceId", "A"}, {"modelNumber", "M"}, {"caId", ""}}));
  EXPECT_EQ(entry_from_json({{"deviceId", "A"}, {"modelNumber", "M"}, {"caId", "ab:CD"}})->ca_id,
            "ab:CD");
  EXPECT_FALSE(
      entry_from_json({{"deviceId", "A"}, {"modelNumber", "M"}, {"caId", nullptr}})->ca_id);
  // An unknown CA is refused at create time; an unbound entry shows caId null.
  auto unknown =
      service_->create({"SN-CA", "M", nlohmann::json::object(), std::nullopt, std::string("ABCD")});
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::kUnprocessable);
  auto plain = service_->create(entry("SN-PLAIN"));
  ASSERT_TRUE(plain);
  EXPECT_TRUE(to_json(*plain)["caId"].is_null());
}

TEST_F(CatalogServiceTest, ClaimCodeIsStoredHashedAndChecked) {
  ASSERT_TRUE(service_->create(entry("SN-C", "25HNB9", "WXYZ-9876")));
  ASSERT_TRUE(service_->create(entry("SN-N")));
  auto row = repo_->find("SN-C", "25HNB9");
  ASSERT_TRUE(row && *row && (*row)->claim_code_hash);
  EXPECT_EQ((*row)->claim_code_hash->find("WXYZ"), std::string::npos);
  EXPECT_EQ((*row)->claim_code_hash->size(), 64u);
  EXPECT_EQ(to_json(**row)["hasClaimCode"], true);
  EXPECT_FALSE(to_json(**row).contains("claimCode"));

  EXPECT_EQ(service_->check_claim_code("SN-C", "25HNB9", "WXYZ-9876").value(), true);
  EXPECT_EQ(service_->check_claim_code("SN-C", "25HNB9", "WXYZ-9877").value(), false);
  EXPECT_EQ(service_->check_claim_code("SN-C", "25HNB9", "").value(), false);
  EXPECT_EQ(service_->check_claim_code("SN-N", "25HNB9", "").value(), true);
  EXPECT_EQ(service_->check_claim_code("SN-X", "25HNB9", "").error().kind, ErrorKind::kNotFound);
  // The hash is bound to its entry: the same code hashes differently for another serial.
  EXPECT_NE(service_->hash_claim_code("A", "M", "code"),
            service_->hash_claim_code("B", "M", "code"));
  // ... and to the pepper.
  CatalogService other(*repo_, clock_, identity::CodeHasher(std::string(32, 'q')));
  EXPECT_EQ(other.check_claim_code("SN-C", "25HNB9", "WXYZ-9876").value(), false);
}

TEST_F(CatalogServiceTest, PagesInKeyOrderAndFiltersByModel) {
  std::vector<NewEntry> all;
  for (int i = 0; i < 25; ++i) {
    all.push_back(
        entry("SN-" + std::string(i < 10 ? "0" : "") + std::to_string(i), i % 2 ? "ODD" : "EVEN"));
  }
  ASSERT_TRUE(service_->import(all, store::ExistingEntries::kSkip));

  std::vector<std::string> seen;
  std::optional<store::CatalogKey> after;
  int pages = 0;
  do {
    auto page = service_->list(10, std::nullopt, after);
    ASSERT_TRUE(page);
    for (const auto& e : page->items) seen.push_back(e.device_id);
    after = page->next;
    ++pages;
  } while (after);
  EXPECT_EQ(pages, 3);
  ASSERT_EQ(seen.size(), 25u);
  EXPECT_TRUE(std::is_sorted(seen.begin(), seen.end()));

  // Exactly one full page: no cursor.
  auto exact = service_->list(25, std::nullopt, std::nullopt);
  ASSERT_TRUE(exact);
  EXPECT_EQ(exact->items.size(), 25u);
  EXPECT_FALSE(exact->next);

  auto odd = service_->list(5, std::string("ODD"), std::nullopt);
  ASSERT_TRUE(odd);
  ASSERT_EQ(odd->items.size(), 5u);
  ASSERT_TRUE(odd->next);
  for (const auto& e : odd->items) EXPECT_EQ(e.model_number, "ODD");
  auto odd2 = service_->list(100, std::string("ODD"), odd->next);
  ASSERT_TRUE(odd2);
  EXPECT_EQ(odd2->items.size(), 7u);  // 12 odd entries in all
  EXPECT_FALSE(odd2->next);

  EXPECT_EQ(service_->list(0, std::nullopt, std::nullopt).error().kind, ErrorKind::kUnprocessable);
  EXPECT_EQ(service_->list(101, std::nullopt, std::nullopt).error().kind,
            ErrorKind::kUnprocessable);
}

TEST_F(CatalogServiceTest, ImportSkipsOrReplacesExisting) {
  ASSERT_TRUE(service_->create(entry("SN-1")));
  clock_.advance(std::chrono::milliseconds(1000));
  std::vector<NewEntry> rows = {entry("SN-1", "25HNB9", "CODE-0001"), entry("SN-2")};
  rows[0].details = {{"v", 2}};
  std::size_t last_done = 0;
  auto skip = service_->import(rows, store::ExistingEntries::kSkip,
                               [&](std::size_t done, std::size_t total) {
                                 EXPECT_EQ(total, 2u);
                                 last_done = done;
                               });
  ASSERT_TRUE(skip) << skip.error().message;
  EXPECT_EQ(skip->inserted, 1u);
  EXPECT_EQ(skip->skipped, 1u);
  EXPECT_EQ(last_done, 2u);
  EXPECT_EQ(service_->find("SN-1", "25HNB9")->details["model"], "INFINITY 19");

  clock_.advance(std::chrono::milliseconds(1000));
  auto replace = service_->import(rows, store::ExistingEntries::kReplace);
  ASSERT_TRUE(replace);
  EXPECT_EQ(replace->replaced, 2u);
  EXPECT_EQ(replace->inserted, 0u);
  auto one = service_->find("SN-1", "25HNB9");
  EXPECT_EQ(one->details["v"], 2);
  EXPECT_EQ(one->created_at_ms, 1700000000000);
  EXPECT_EQ(one->updated_at_ms, clock_.now_ms());
  EXPECT_EQ(service_->check_claim_code("SN-1", "25HNB9", "CODE-0001").value(), true);

  // An invalid entry fails the whole import before anything is written.
  auto bad = service_->import({entry("SN-3"), entry("bad id")}, store::ExistingEntries::kSkip);
  ASSERT_FALSE(bad);
  EXPECT_FALSE(service_->find("SN-3", "25HNB9"));
}

TEST_F(CatalogServiceTest, ImportIsOneTransaction) {
  std::vector<NewEntry> rows;
  for (int i = 0; i < 2000; ++i) rows.push_back(entry("SN-" + std::to_string(i)));
  const auto before = db_->stats().transactions_committed;
  auto r = service_->import(rows, store::ExistingEntries::kSkip);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->inserted, 2000u);
  EXPECT_EQ(db_->stats().transactions_committed - before, 1u);
}

}  // namespace
}  // namespace sp::catalog
