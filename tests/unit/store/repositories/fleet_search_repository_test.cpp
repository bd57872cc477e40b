// Fleet search on SQLite: the translator's SQL carries values only as parameters; a table of
// queries against a real database (registrations, shadows through the shadow repository, presence)
// with the expected serials; owner scoping, paging, the index following shadow updates, deletes
// and deregistrations (triggers in 0008_fleet_index.sql), the backfill of the migration, and
// the aggregations.

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "../main_db.hpp"
#include "../test_util.hpp"
#include "smartproduct/devices/query.hpp"
#include "store/sqlite/repositories/fleet_query_sql.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::sqlite {
namespace {

using devices::Registration;
using devices::RegistrationStatus;
using nlohmann::json;
using store::AggregateType;
using store::FleetScope;

devices::query::Node q(const std::string& text) {
  auto node = devices::query::parse(text);
  EXPECT_TRUE(node) << text << ": " << (node ? "" : node.error().message);
  return node ? *node : devices::query::Node{};
}

TEST(FleetQuerySql, ValuesAreParametersOnly) {
  const auto sql = fleet::predicate(
      q("deviceName:\"x' OR 1=1 --\" OR shadow.reported.t:[1 TO 2} OR thingName:SN*"));
  EXPECT_EQ(sql.text.find("OR 1=1"), std::string::npos) << sql.text;
  EXPECT_EQ(sql.text,
            "(r.device_name = ? OR r.device_id IN (SELECT device_id FROM fleet_index WHERE path = "
            "? AND (num >= ? AND num < ?)) OR (r.device_id >= ? AND r.device_id < ? AND "
            "r.device_id GLOB ?))");
  ASSERT_EQ(sql.params.size(), 7u);
  EXPECT_EQ(std::get<std::string>(sql.params[0]), "x' OR 1=1 --");
  EXPECT_EQ(std::get<std::string>(sql.params[1]), "shadow.reported.t");
  EXPECT_EQ(std::get<double>(sql.params[2]), 1.0);
  EXPECT_EQ(std::get<std::string>(sql.params[4]), "SN");
  EXPECT_EQ(std::get<std::string>(sql.params[5]), "SN\xFF");
  EXPECT_EQ(std::get<std::string>(sql.params[6]), "SN*");
}

TEST(FleetQuerySql, LargeSetsAreCheckedRowByRow) {
  const auto dense = [](const devices::query::Term&) { return false; };
  const auto sql = fleet::predicate(
      q("shadow.reported.t:80 AND connectivity.connected:false AND NOT deviceName:a"), dense);
  EXPECT_EQ(sql.text,
            "(EXISTS (SELECT 1 FROM fleet_index WHERE device_id = r.device_id AND path = ? AND "
            "(num = ? OR str = ?)) AND NOT EXISTS (SELECT 1 FROM device_presence WHERE device_id "
            "= r.device_id AND connected = 1) AND NOT (r.device_name = ?))");
  ASSERT_EQ(sql.params.size(), 4u);
  EXPECT_EQ(std::get<std::string>(sql.params[2]), "80");
  EXPECT_EQ(fleet::term_devices(q("shadow.reported.t:80").term).text,
            "SELECT device_id FROM fleet_index WHERE path = ? AND num = ? UNION ALL SELECT "
            "device_id FROM fleet_index WHERE path = ? AND str = ?");
}

TEST(FleetQuerySql, PathsQuoteKeysAsJsonTree) {
  EXPECT_EQ(fleet::index_path(q("shadow.reported.a1:x").term.field), "shadow.reported.a1");
  EXPECT_EQ(fleet::index_path(q("shadow.reported.a-b.c_d.e:x").term.field),
            "shadow.reported.\"a-b\".\"c_d\".e");
  EXPECT_EQ(fleet::index_path(q("attributes.9x:x").term.field), "attributes.\"9x\"");
  EXPECT_EQ(fleet::glob_of(q("thingName:a\\*b\\?c\\[*").term.value.pattern), "a[*]b[?]c[[]*");
}

class FleetSearchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    devices_ = make_device_repository(db_);
    shadows_ = make_shadow_repository(db_);
    search_ = make_fleet_search_repository(db_);
    // SN1..SN6 of alice, SN7 of bob; shadows as a thermostat fleet would report them.
    add("SN1", "alice", "Kitchen", {{"color", "red"}, {"fw", 3}},
        {{"powerStatus", "HEAT"},
         {"actualTemperature", 85},
         {"targetTemperature", 72},
         {"tags", {"a", "b"}}});
    add("SN2", "alice", "Bedroom", {{"color", "blue"}},
        {{"powerStatus", "AC"}, {"actualTemperature", 70.5}, {"online", true}});
    add("SN3", "alice", "Kitchen 2", {{"color", "red"}},
        {{"powerStatus", "OFF"}, {"actualTemperature", 80}, {"fw", "80"}});
    add("SN4", "alice", "Office", json::object(),
        {{"powerStatus", "HEAT"},
         {"actualTemperature", 65},
         {"nested", {{"deep", {{"x", 1}}}}},
         {"a-b", "dash"}});
    add("SN5", "alice", "Hall", json::object(), nullptr);  // no shadow
    add("SN6", "alice", "O'Brien", json::object(), {{"powerStatus", "heat"}});
    add("SN7", "bob", "Kitchen", {{"color", "red"}},
        {{"powerStatus", "HEAT"}, {"actualTemperature", 90}});
    set_connected("SN1", true);
    set_connected("SN2", false);
    set_connected("SN7", true);
  }
  void TearDown() override {
    search_.reset();
    shadows_.reset();
    devices_.reset();
    if (db_) db_->close();
  }

  void add(const std::string& id, const std::string& user, const std::string& name, json details,
           const json& reported) {
    Registration r;
    r.device_id = id;
    r.user_id = user;
    r.device_name = name;
    r.model_number = id == "SN7" ? "TH-2" : "TH-1";
    r.details = std::move(details);
    r.status = RegistrationStatus::kComplete;
    auto created = devices_->create_registration(r);
    ASSERT_TRUE(created) << created.error().message;
    registration_ids_[id] = created->id;
    if (!reported.is_null()) save_shadow(id, reported);  // null: no shadow
  }
  void save_shadow(const std::string& id, const json& reported, bool deleted = false) {
    auto current = shadows_->load(id);
    ASSERT_TRUE(current);
    store::ShadowRecord rec;
    rec.device_id = id;
    rec.state = deleted ? json::object()
                        : json{{"desired", {{"targetTemperature", 70}}}, {"reported", reported}};
    rec.metadata = json::object();
    rec.version = *current ? (*current)->version + 1 : 1;
    rec.deleted = deleted;
    std::optional<store::ShadowStamp> expected;
    if (*current) expected = store::ShadowStamp{(*current)->version, (*current)->deleted};
    auto saved = shadows_->save(rec, expected);
    ASSERT_TRUE(saved && *saved);
  }
  void set_connected(const std::string& id, bool connected) {
    auto r = db_->write([&](Connection& c) {
      return c.execute(
          "INSERT INTO device_presence (device_id, connected, since, last_seen, address, "
          "broker_epoch, conn_seq, cert_fingerprint) VALUES (?1, ?2, 1, 1, '', 1, 1, '')",
          id, connected ? 1 : 0);
    });
    ASSERT_TRUE(r) << r.error().detail;
  }

  std::vector<std::string> ids(const std::string& text, FleetScope scope = {},
                               store::FleetSearchRepository* repo = nullptr) {
    auto node = q(text);
    auto page = (repo ? repo : search_.get())->search(&node, scope, 100, std::nullopt);
    EXPECT_TRUE(page) << text << ": " << (page ? "" : page.error().detail);
    std::vector<std::string> out;
    if (page) {
      for (const auto& d : page->items) out.push_back(d.registration.device_id);
    }
    return out;
  }

  test::TempDir dir_;
  std::shared_ptr<Database> db_;
  std::unique_ptr<store::DeviceRepository> devices_;
  std::unique_ptr<store::ShadowRepository> shadows_;
  std::unique_ptr<store::FleetSearchRepository> search_;
  std::map<std::string, std::int64_t> registration_ids_;
};

using Ids = std::vector<std::string>;

TEST_F(FleetSearchTest, QueryTable) {
  const std::vector<std::pair<std::string, Ids>> table = {
      {"thingName:SN1", {"SN1"}},
      {"thingName:SN*", {"SN1", "SN2", "SN3", "SN4", "SN5", "SN6", "SN7"}},
      {"thingName:SN?", {"SN1", "SN2", "SN3", "SN4", "SN5", "SN6", "SN7"}},
      {"thingName:sn*", {}},  // case-sensitive
      {"deviceName:Kitchen", {"SN1", "SN7"}},
      {"deviceName:Kitchen*", {"SN1", "SN3", "SN7"}},
      {"deviceName:\"Kitchen 2\"", {"SN3"}},
      {"deviceName:\"O'Brien\"", {"SN6"}},
      {"attributes.deviceName:Office", {"SN4"}},
      {"modelNumber:TH-2", {"SN7"}},
      {"attributes.modelNumber:TH-1 AND attributes.color:red", {"SN1", "SN3"}},
      {"attributes.color:red", {"SN1", "SN3", "SN7"}},
      {"attributes.fw:3", {"SN1"}},
      {"attributes.fw>2", {"SN1"}},
      {"shadow.reported.powerStatus:HEAT", {"SN1", "SN4", "SN7"}},
      {"shadow.reported.powerStatus:heat", {"SN6"}},
      {"shadow.reported.actualTemperature>80", {"SN1", "SN7"}},
      {"shadow.reported.actualTemperature>=80", {"SN1", "SN3", "SN7"}},
      {"shadow.reported.actualTemperature<70.5", {"SN4"}},
      {"shadow.reported.actualTemperature:[70 TO 80]", {"SN2", "SN3"}},
      {"shadow.reported.actualTemperature:{70.5 TO 80]", {"SN3"}},
      {"shadow.reported.actualTemperature:[85 TO *]", {"SN1", "SN7"}},
      {"shadow.reported.actualTemperature:80", {"SN3"}},
      {"shadow.reported.fw:80", {"SN3"}},   // the text "80" too
      {"shadow.reported.tags:b", {"SN1"}},  // array elements
      {"shadow.reported.online:true", {"SN2"}},
      {"shadow.reported.nested.deep.x:1", {"SN4"}},
      {"shadow.reported.a-b:dash", {"SN4"}},
      {"shadow.desired.targetTemperature:70", {"SN1", "SN2", "SN3", "SN4", "SN6", "SN7"}},
      {"shadow.version:1", {"SN1", "SN2", "SN3", "SN4", "SN6", "SN7"}},
      {"connectivity.connected:true", {"SN1", "SN7"}},
      {"connectivity.connected:false", {"SN2", "SN3", "SN4", "SN5", "SN6"}},
      {"shadow.reported.powerStatus:HEAT AND connectivity.connected:true", {"SN1", "SN7"}},
      {"shadow.reported.powerStatus:HEAT AND NOT deviceName:Kitchen", {"SN4"}},
      {"shadow.reported.powerStatus:AC OR shadow.reported.powerStatus:OFF", {"SN2", "SN3"}},
      {"(deviceName:Kitchen OR deviceName:Office) AND shadow.reported.actualTemperature<88",
       {"SN1", "SN4"}},
      {"NOT shadow.reported.powerStatus:*", {"SN5"}},
      {"deviceName:\"x' OR 1=1 --\"", {}},
      {"thingName:\"SN*\"", {}},  // quoted: no wildcard
  };
  // Every set computed whole (IN), and every set checked row by row (EXISTS): same answers.
  auto row_by_row = make_fleet_search_repository(db_, 0);
  for (const auto& [text, expected] : table) {
    EXPECT_EQ(ids(text), expected) << text;
    EXPECT_EQ(ids(text, {}, row_by_row.get()), expected) << text << " (row by row)";
  }
}

TEST_F(FleetSearchTest, OwnerScope) {
  EXPECT_EQ(ids("deviceName:Kitchen", FleetScope{"alice"}), Ids{"SN1"});
  EXPECT_EQ(ids("deviceName:Kitchen", FleetScope{"bob"}), Ids{"SN7"});
  EXPECT_EQ(ids("thingName:SN*", FleetScope{"carol"}), Ids{});
}

TEST_F(FleetSearchTest, PagesInThingNameOrder) {
  auto node = q("thingName:SN*");
  std::vector<std::string> seen;
  std::optional<std::string> after;
  int pages = 0;
  do {
    auto page = search_->search(&node, FleetScope{"alice"}, 4, after);
    ASSERT_TRUE(page);
    for (const auto& d : page->items) seen.push_back(d.registration.device_id);
    after = page->next_after;
    ++pages;
  } while (after && pages < 10);
  EXPECT_EQ(pages, 2);
  EXPECT_EQ(seen, (Ids{"SN1", "SN2", "SN3", "SN4", "SN5", "SN6"}));
  auto page = search_->search(&node, {}, 7, std::nullopt);
  ASSERT_TRUE(page);
  EXPECT_FALSE(page->next_after);  // exactly 7: no further page
  ASSERT_EQ(page->items.size(), 7u);
  EXPECT_TRUE(page->items[0].connected);
  EXPECT_FALSE(page->items[1].connected);
}

TEST_F(FleetSearchTest, IndexFollowsShadowWritesAndRegistrations) {
  save_shadow("SN1", {{"powerStatus", "AC"}});
  EXPECT_EQ(ids("shadow.reported.powerStatus:HEAT"), (Ids{"SN4", "SN7"}));
  EXPECT_EQ(ids("shadow.reported.actualTemperature>80"), Ids{"SN7"});
  EXPECT_EQ(ids("shadow.reported.powerStatus:AC"), (Ids{"SN1", "SN2"}));
  save_shadow("SN4", json::object(), true);  // deleted shadow: a tombstone, nothing indexed
  EXPECT_EQ(ids("shadow.reported.powerStatus:HEAT"), Ids{"SN7"});
  EXPECT_EQ(ids("shadow.version:*"), Ids{});  // the version is a number, not text
  EXPECT_EQ(ids("shadow.version>0"), (Ids{"SN1", "SN2", "SN3", "SN6", "SN7"}));
  auto deleted = devices_->delete_registration(registration_ids_["SN7"], 5);
  ASSERT_TRUE(deleted);
  EXPECT_EQ(ids("shadow.reported.powerStatus:HEAT"), Ids{});
  EXPECT_EQ(ids("attributes.color:red"), (Ids{"SN1", "SN3"}));
  auto count = db_->read([](Connection& c) {
    return c.query_value<std::int64_t>(
        "SELECT count(*) FROM fleet_index WHERE device_id = 'SN7' AND path LIKE 'attributes.%'");
  });
  ASSERT_TRUE(count);
  EXPECT_EQ(count->value_or(-1), 0);
}

TEST_F(FleetSearchTest, Aggregations) {
  auto all = search_->aggregate(nullptr, {}, AggregateType::kCount, nullptr);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->count, 7);
  auto heat = q("shadow.reported.powerStatus:HEAT");
  auto mine = search_->aggregate(&heat, FleetScope{"alice"}, AggregateType::kCount, nullptr);
  ASSERT_TRUE(mine);
  EXPECT_EQ(mine->count, 2);

  auto temperature = devices::query::parse_field("shadow.reported.actualTemperature");
  ASSERT_TRUE(temperature);
  auto stats = search_->aggregate(&heat, {}, AggregateType::kStats, &*temperature);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->count, 3);  // 85, 65, 90
  EXPECT_DOUBLE_EQ(*stats->sum, 240);
  EXPECT_DOUBLE_EQ(*stats->minimum, 65);
  EXPECT_DOUBLE_EQ(*stats->maximum, 90);
  EXPECT_DOUBLE_EQ(*stats->average, 80);
  EXPECT_DOUBLE_EQ(*stats->sum_of_squares, 85 * 85 + 65 * 65 + 90 * 90);
  EXPECT_NEAR(*stats->variance, (25.0 + 225.0 + 100.0) / 3, 1e-9);
  EXPECT_NEAR(*stats->std_deviation, std::sqrt(350.0 / 3), 1e-9);
  auto none = q("thingName:nothing");
  auto empty = search_->aggregate(&none, {}, AggregateType::kStats, &*temperature);
  ASSERT_TRUE(empty);
  EXPECT_EQ(empty->count, 0);
  EXPECT_FALSE(empty->average);

  auto power = devices::query::parse_field("shadow.reported.powerStatus");
  auto kinds = search_->aggregate(nullptr, {}, AggregateType::kCardinality, &*power);
  ASSERT_TRUE(kinds);
  EXPECT_EQ(kinds->cardinality, 4);  // HEAT AC OFF heat
  auto names = devices::query::parse_field("deviceName");
  auto distinct =
      search_->aggregate(nullptr, FleetScope{"alice"}, AggregateType::kCardinality, &*names);
  ASSERT_TRUE(distinct);
  EXPECT_EQ(distinct->cardinality, 6);
  auto connected = devices::query::parse_field("connectivity.connected");
  auto both = search_->aggregate(nullptr, {}, AggregateType::kCardinality, &*connected);
  ASSERT_TRUE(both);
  EXPECT_EQ(both->cardinality, 2);
}

// The migration indexes what was stored before it ran.
TEST(FleetIndexMigration, BackfillsExistingShadowsAndRegistrations) {
  test::TempDir dir;
  auto all = embedded_migrations("main");
  std::vector<Migration> before;
  for (const auto& m : all) {
    if (m.name.find("fleet_index") != std::string::npos) break;
    before.push_back(m);
  }
  ASSERT_LT(before.size(), all.size());
  {
    DatabaseConfig config;
    config.path = dir / "smartproduct.db";
    config.migrations = before;
    auto db = Database::open(std::move(config));
    ASSERT_TRUE(db) << db.error().message;
    auto r = (*db)->write([](Connection& c) -> Result<void> {
      if (auto e = c.execute(
              "INSERT INTO registrations (device_id, user_id, device_name, model_number, details, "
              "status, created_at, updated_at) VALUES ('SN9', 'u', 'n', 'm', "
              "'{\"color\":\"red\"}', 'complete', 0, 0)");
          !e) {
        return e;
      }
      return c.execute(
          "INSERT INTO shadows (device_id, state, metadata, version, updated_at) VALUES ('SN9', "
          "'{\"reported\":{\"powerStatus\":\"HEAT\",\"t\":81}}', '{}', 4, 0)");
    });
    ASSERT_TRUE(r) << r.error().detail;
    (*db)->close();
  }
  auto db = test::open_main_database(dir);
  ASSERT_TRUE(db);
  auto search = make_fleet_search_repository(db);
  for (const char* text : {"shadow.reported.powerStatus:HEAT", "shadow.reported.t>80",
                           "attributes.color:red", "shadow.version:4"}) {
    auto node = q(text);
    auto page = search->search(&node, {}, 10, std::nullopt);
    ASSERT_TRUE(page);
    ASSERT_EQ(page->items.size(), 1u) << text;
    EXPECT_EQ(page->items[0].registration.device_id, "SN9");
  }
  search.reset();
  db->close();
}

}  // namespace
}  // namespace sp::sqlite
