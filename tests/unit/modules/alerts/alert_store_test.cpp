// The events store step with alert grouping, and the alert repository, on a real SQLite database.

#include <gtest/gtest.h>

#include <future>

#include "../../store/main_db.hpp"
#include "fakes/fixed_clock.hpp"
#include "smartproduct/core/ids.hpp"
#include "store/sqlite/repositories/alert_sql.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::alerts {
namespace {

using nlohmann::json;
constexpr std::int64_t kT0 = test::FixedClock::kDefaultNowMs;
constexpr std::int64_t kWindowMs = 600'000;

class AlertStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    events_ = sqlite::make_event_repository(db_, Grouping{kWindowMs});
    alerts_ = sqlite::make_alert_repository(db_);
    register_device("alice", "SN1", "Living room");
    register_device("bob", "SN2", "Garage");
    set_settings("alice", R"({"alertLevel":["error","warning"],"sendNotification":true})");
  }

  void exec(const std::string& sql) {
    auto r = db_->write([&](sqlite::Connection& c) { return c.exec(sql); });
    ASSERT_TRUE(r) << r.error().message;
  }
  void register_device(const std::string& user, const std::string& device,
                       const std::string& name) {
    auto r = db_->write([&](sqlite::Connection& c) {
      return c.execute(
          "INSERT INTO registrations (device_id, user_id, device_name, model_number, status, "
          "created_at, updated_at) VALUES (?1, ?2, ?3, 'M1', 'complete', 1, 1)",
          device, user, name);
    });
    ASSERT_TRUE(r) << r.error().message;
  }
  void set_settings(const std::string& user, const std::string& setting) {
    auto r = db_->write([&](sqlite::Connection& c) {
      return c.execute(
          "INSERT INTO settings (setting_id, setting, created_at, updated_at) VALUES (?1, ?2, 1, "
          "1) "
          "ON CONFLICT (setting_id) DO UPDATE SET setting = excluded.setting",
          user, setting);
    });
    ASSERT_TRUE(r) << r.error().message;
  }

  // Stores one event through the events store step and waits for its commit.
  events::EventRecord store(const std::string& device, std::optional<std::string> user,
                            const std::string& type, const std::string& message, std::int64_t at_ms,
                            json details = json::object()) {
    events::EventRecord e;
    e.id = ids::uuid_v4();
    e.device_id = device;
    e.user_id = std::move(user);
    e.type = type;
    e.message = message;
    e.details = std::move(details);
    e.timestamp_ms = at_ms;
    e.created_at_ms = e.updated_at_ms = at_ms;
    e.payload = json{{"type", type}, {"message", message}}.dump();
    e.dedup_key = "mid:" + e.id;
    std::promise<Result<events::AppendOutcome>> p;
    events_->append(e, [&p](Result<events::AppendOutcome> r) { p.set_value(std::move(r)); });
    auto r = p.get_future().get();
    EXPECT_TRUE(r && *r == events::AppendOutcome::kStored);
    return e;
  }

  std::int64_t scalar(const std::string& sql) {
    auto v = db_->read([&](sqlite::Connection& c) { return c.query_value<std::int64_t>(sql); });
    EXPECT_TRUE(v);
    return v && *v ? **v : -1;
  }

  std::vector<AlertRecord> open_alerts(const std::string& user,
                                       std::vector<std::string> types = {"error", "warning"}) {
    auto r = alerts_->alerts(user, types, 100, std::nullopt);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : std::vector<AlertRecord>{};
  }

  std::int64_t count(const std::string& user,
                     std::vector<std::string> types = {"error", "warning"}) {
    auto r = alerts_->count(user, types);
    EXPECT_TRUE(r);
    return r ? *r : -1;
  }

  sqlite::test::TempDir dir_;
  std::shared_ptr<sqlite::Database> db_;
  std::unique_ptr<store::EventRepository> events_;
  std::unique_ptr<store::AlertRepository> alerts_;
};

TEST_F(AlertStoreTest, ThirtyRepeatsFoldIntoOneAlertWithThirtyOutboxRows) {
  std::string first_id, last_id;
  for (int i = 0; i < 30; ++i) {
    auto e = store("SN1", "alice", "error", "Temperature out of band", kT0 + i * 10'000,
                   {{"value", 120 + i}});
    if (i == 0) first_id = e.id;
    last_id = e.id;
  }
  auto list = open_alerts("alice");
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].occurrences, 30);
  EXPECT_EQ(list[0].first_event_id, first_id);
  EXPECT_EQ(list[0].last_event.id, last_id);
  EXPECT_EQ(list[0].first_seen_at_ms, kT0);
  EXPECT_EQ(list[0].last_seen_at_ms, kT0 + 29 * 10'000);
  EXPECT_EQ(list[0].device_name, "Living room");
  EXPECT_EQ(count("alice"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE alert_id IS NOT NULL"), 30);

  // One outbox row per occurrence (the notifications worker rate-limits per group_key).
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 30);
  EXPECT_EQ(scalar("SELECT count(DISTINCT group_key) FROM notification_outbox"), 1);
  auto last = db_->read([](sqlite::Connection& c) {
    return c.query_value<std::string>(
        "SELECT json_object('k', kind, 'g', group_key, 'u', user_id, 'd', device_id, 'p', "
        "json(payload)) FROM notification_outbox ORDER BY id DESC LIMIT 1");
  });
  ASSERT_TRUE(last && *last);
  auto row = json::parse(**last);
  EXPECT_EQ(row["k"], "alert");
  EXPECT_EQ(row["g"], "SN1|error|Temperature out of band");
  EXPECT_EQ(row["u"], "alice");
  EXPECT_EQ(row["d"], "SN1");
  EXPECT_EQ(row["p"]["alertId"], list[0].id);
  EXPECT_EQ(row["p"]["eventId"], last_id);
  EXPECT_EQ(row["p"]["deviceName"], "Living room");
  EXPECT_EQ(row["p"]["eventType"], "error");
  EXPECT_EQ(row["p"]["message"], "Temperature out of band");
  EXPECT_EQ(row["p"]["value"], 149);
  EXPECT_EQ(row["p"]["occurrences"], 30);
  EXPECT_EQ(row["p"]["createdAt"], iso8601_ms(kT0 + 29 * 10'000));
}

TEST_F(AlertStoreTest, GroupsSplitByMessageTypeAndDeviceAndAfterAQuietWindow) {
  store("SN1", "alice", "error", "A", kT0);
  store("SN1", "alice", "error", "B", kT0 + 1);
  store("SN1", "alice", "warning", "A", kT0 + 2);
  store("SN1", "alice", "error", "A", kT0 + kWindowMs);  // still within: the window is inclusive
  EXPECT_EQ(count("alice"), 3);
  // Quiet for longer than the window: a new group, even though the old one is still open.
  store("SN1", "alice", "error", "A", kT0 + 2 * kWindowMs + 1);
  EXPECT_EQ(count("alice"), 4);
}

TEST_F(AlertStoreTest, AlertLevelFiltersTheListAndCountButGroupsEveryType) {
  store("SN1", "alice", "info", "Mode changed", kT0);
  store("SN1", "alice", "error", "Broken", kT0 + 1);
  EXPECT_EQ(count("alice"), 1);
  EXPECT_EQ(count("alice", {"error", "warning", "info"}), 2);
  EXPECT_EQ(count("alice", {}), 0);
  // info is not in alice's alertLevel: no notification for it.
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 1);
}

TEST_F(AlertStoreTest, NoOutboxRowWhenNotificationsAreOffOrNoSettings) {
  set_settings("alice", R"({"alertLevel":["error"],"sendNotification":false})");
  store("SN1", "alice", "error", "Broken", kT0);
  store("SN2", "bob", "error", "Broken", kT0);  // bob has no settings row: the seed's defaults
  EXPECT_EQ(count("alice"), 1);
  EXPECT_EQ(count("bob"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 0);
}

TEST_F(AlertStoreTest, EventsOfUnownedDevicesRaiseNothing) {
  store("SN9", std::nullopt, "error", "Broken", kT0);
  EXPECT_EQ(scalar("SELECT count(*) FROM alerts"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM events"), 1);
}

TEST_F(AlertStoreTest, ARedeliveredEventIsNotCountedTwice) {
  auto e = store("SN1", "alice", "error", "Broken", kT0);
  std::promise<Result<events::AppendOutcome>> p;
  events_->append(e, [&p](Result<events::AppendOutcome> r) { p.set_value(std::move(r)); });
  auto r = p.get_future().get();
  ASSERT_TRUE(r);
  EXPECT_EQ(*r, events::AppendOutcome::kDuplicate);
  EXPECT_EQ(open_alerts("alice").at(0).occurrences, 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 1);
}

TEST_F(AlertStoreTest, SuppressStopsAlertsAndNotificationsUntilLiftedOrExpired) {
  auto e = store("SN1", "alice", "error", "Broken", kT0);
  AckResult changed;
  auto r = alerts_->update_event("SN1", e.id, EventChange{std::nullopt, true, std::nullopt},
                                 kT0 + 1, changed);
  ASSERT_TRUE(r && *r);
  EXPECT_TRUE((*r)->event.suppress);
  EXPECT_FALSE((*r)->event.ack);  // suppressing does not mark read
  EXPECT_EQ(changed.users, std::vector<std::string>{"alice"});

  auto s = store("SN1", "alice", "error", "Broken", kT0 + 2);
  store("SN1", "alice", "error", "Other message", kT0 + 3);
  EXPECT_EQ(open_alerts("alice").at(0).occurrences, 1);  // the existing group did not grow
  EXPECT_EQ(count("alice"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 1);
  auto stored = alerts_->event("SN1", s.id);
  ASSERT_TRUE(stored && *stored);
  EXPECT_TRUE((*stored)->event.suppress);
  EXPECT_FALSE((*stored)->alert_id);
  // Another type of the same device, and another user's device, are not suppressed.
  store("SN1", "alice", "warning", "Broken", kT0 + 4);
  EXPECT_EQ(count("alice"), 2);

  // Lifted: alerts again.
  r = alerts_->update_event("SN1", e.id, EventChange{std::nullopt, false, std::nullopt}, kT0 + 5,
                            changed);
  ASSERT_TRUE(r && *r);
  store("SN1", "alice", "error", "Broken", kT0 + 6);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 3);

  // Until a time: nothing before it, alerts again from it on.
  r = alerts_->update_event("SN1", e.id, EventChange{std::nullopt, true, kT0 + 1000}, kT0 + 7,
                            changed);
  ASSERT_TRUE(r && *r);
  store("SN1", "alice", "error", "Broken", kT0 + 999);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 3);
  store("SN1", "alice", "error", "Broken", kT0 + 1000);
  EXPECT_EQ(scalar("SELECT count(*) FROM notification_outbox"), 4);
}

TEST_F(AlertStoreTest, AcknowledgingOneEventAcknowledgesItsGroupAndItsEvents) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) ids.push_back(store("SN1", "alice", "error", "Broken", kT0 + i).id);
  store("SN1", "alice", "warning", "Other", kT0 + 10);
  AckResult changed;
  auto r = alerts_->update_event("SN1", ids[2], EventChange{true, std::nullopt, std::nullopt},
                                 kT0 + 20, changed);
  ASSERT_TRUE(r && *r);
  EXPECT_TRUE((*r)->event.ack);
  EXPECT_FALSE((*r)->event.suppress);  // reading is not suppressing (the seed's fault)
  EXPECT_EQ(changed.alerts, 1);
  EXPECT_EQ(changed.events, 5);
  EXPECT_EQ(count("alice"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE ack = 1"), 5);
  // A new occurrence after the acknowledgement opens a new group.
  store("SN1", "alice", "error", "Broken", kT0 + 30);
  EXPECT_EQ(count("alice"), 2);
  // Marking an event unread again leaves the acknowledged group alone.
  r = alerts_->update_event("SN1", ids[0], EventChange{false, std::nullopt, std::nullopt}, kT0 + 40,
                            changed);
  ASSERT_TRUE(r && *r);
  EXPECT_FALSE((*r)->event.ack);
  EXPECT_EQ(count("alice"), 2);
}

TEST_F(AlertStoreTest, BulkAcknowledgeByIdsRespectsTheOwnerAndAllByType) {
  auto a1 = store("SN1", "alice", "error", "A", kT0);
  auto a2 = store("SN1", "alice", "warning", "B", kT0 + 1);
  auto b1 = store("SN2", "bob", "error", "A", kT0 + 2);
  auto r = alerts_->ack_events({a1.id, b1.id, "no-such-id"}, std::string("alice"), kT0 + 3);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->events, 1);
  EXPECT_EQ(r->alerts, 1);
  EXPECT_EQ(r->users, std::vector<std::string>{"alice"});
  EXPECT_EQ(count("bob"), 1);  // not alice's: untouched
  EXPECT_EQ(count("alice"), 1);

  store("SN1", "alice", "error", "C", kT0 + 4);
  r = alerts_->ack_all("alice", std::string("warning"), kT0 + 5);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->alerts, 1);
  EXPECT_EQ(count("alice"), 1);  // the error C remains
  r = alerts_->ack_all("alice", std::nullopt, kT0 + 6);
  ASSERT_TRUE(r);
  EXPECT_EQ(count("alice"), 0);
  EXPECT_EQ(scalar("SELECT count(*) FROM events WHERE user_id = 'alice' AND ack = 0"), 0);
  r = alerts_->ack_all("alice", std::nullopt, kT0 + 7);
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->users.empty());  // nothing changed: nobody to tell
  (void)a2;
}

TEST_F(AlertStoreTest, TheCountIsAnIndexOnlySearch) {
  auto plan = db_->read([](sqlite::Connection& c) -> Result<std::string> {
    auto stmt = c.prepare("EXPLAIN QUERY PLAN " + sqlite::alert_count_sql(2));
    if (!stmt) return tl::unexpected(stmt.error());
    stmt->bind(":user", "alice").bind(":t1", "error").bind(":t2", "warning");
    std::string out;
    for (;;) {
      auto row = stmt->step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) break;
      out += stmt->column<std::string>(3) + "\n";
    }
    return out;
  });
  ASSERT_TRUE(plan) << plan.error().message;
  EXPECT_NE(
      plan->find("SEARCH alerts USING COVERING INDEX alerts_open_type (user_id=? AND event_type=?"),
      std::string::npos)
      << *plan;
  EXPECT_EQ(plan->find("SCAN"), std::string::npos) << *plan;
}

TEST_F(AlertStoreTest, EventListsPageNewestDeviceTimestampFirstWithDeviceNames) {
  for (int i = 0; i < 5; ++i) store("SN1", "alice", "info", "I", kT0 + 100 - i);
  store("SN2", "bob", "info", "I", kT0 + 500);
  store::EventListQuery q{std::string("alice"), std::nullopt, std::nullopt, 3, std::nullopt};
  auto page1 = alerts_->events(q);
  ASSERT_TRUE(page1);
  ASSERT_EQ(page1->size(), 3u);
  EXPECT_EQ((*page1)[0].event.timestamp_ms, kT0 + 100);
  EXPECT_EQ((*page1)[0].device_name, "Living room");
  q.after = EventKey{page1->back().event.timestamp_ms, page1->back().event.id};
  auto page2 = alerts_->events(q);
  ASSERT_TRUE(page2);
  ASSERT_EQ(page2->size(), 2u);
  EXPECT_EQ((*page2)[1].event.timestamp_ms, kT0 + 96);
  q.type = "error";
  q.after.reset();
  EXPECT_TRUE(alerts_->events(q)->empty());
}

}  // namespace
}  // namespace sp::alerts
