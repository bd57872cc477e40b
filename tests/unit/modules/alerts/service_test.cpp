// AlertService over a real SQLite store: who sees what, input checks, bus announcements.

#include "smartproduct/alerts/service.hpp"

#include <gtest/gtest.h>

#include <future>
#include <mutex>

#include "../../store/main_db.hpp"
#include "fakes/fixed_clock.hpp"
#include "smartproduct/events/events.hpp"
#include "smartproduct/http/errors.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::alerts {
namespace {

using devices::Caller;

class AlertServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    events_ = sqlite::make_event_repository(db_, Grouping{});
    repo_ = sqlite::make_alert_repository(db_);
    bus_.lane("test").on<events::AlertsChanged>([this](const events::AlertsChanged& e) {
      std::lock_guard lock(mutex_);
      changed_.push_back(e.user_id);
    });
    bus_.start();
    // SN1: alice's now, bob's before; SN3: nobody may read it but an admin.
    service_ = std::make_unique<AlertService>(
        *repo_, clock_, bus_, [](const Caller& c, const std::string& device) -> Result<void> {
          if (device == "SN404") return fail(errors::kMissingDevice);
          if (c.admin || device == "SN1") return {};
          return fail(errors::kDeviceAccessDenied);
        });
    bob_event_ = store("SN1", "bob", "error", "old owner's");
    alice_event_ = store("SN1", "alice", "error", "new owner's");
  }

  std::string store(const std::string& device, const std::string& user, const std::string& type,
                    const std::string& message) {
    events::EventRecord e;
    e.id = "ev-" + std::to_string(++seq_);
    e.device_id = device;
    e.user_id = user;
    e.type = type;
    e.message = message;
    e.timestamp_ms = e.created_at_ms = e.updated_at_ms = clock_.now_ms() + seq_;
    e.payload = "{}";
    std::promise<void> p;
    events_->append(e, [&p](Result<events::AppendOutcome>) { p.set_value(); });
    p.get_future().get();
    return e.id;
  }

  std::vector<std::string> changed() {
    bus_.drain();
    std::lock_guard lock(mutex_);
    return changed_;
  }

  sqlite::test::TempDir dir_;
  std::shared_ptr<sqlite::Database> db_;
  std::unique_ptr<store::EventRepository> events_;
  std::unique_ptr<store::AlertRepository> repo_;
  test::FixedClock clock_;
  std::mutex mutex_;
  std::vector<std::string> changed_;
  EventBus bus_;  // after what its handler writes to: stopped (destroyed) before them
  std::unique_ptr<AlertService> service_;
  int seq_ = 0;
  std::string bob_event_, alice_event_;
  const Caller alice_{"alice", false};
  const Caller bob_{"bob", false};
  const Caller admin_{"root", true};
};

TEST_F(AlertServiceTest, OwnersSeeTheirOwnEventsOfADeviceAndAdminsSeeAll) {
  auto a = service_->device_events(alice_, "SN1", std::nullopt, 20, std::nullopt);
  ASSERT_TRUE(a);
  ASSERT_EQ(a->items.size(), 1u);
  EXPECT_EQ(a->items[0].event.id, alice_event_);
  auto b = service_->device_events(bob_, "SN1", std::nullopt, 20, std::nullopt);
  ASSERT_TRUE(b);
  ASSERT_EQ(b->items.size(), 1u);
  EXPECT_EQ(b->items[0].event.id, bob_event_);
  auto all = service_->device_events(admin_, "SN1", std::nullopt, 20, std::nullopt);
  ASSERT_TRUE(all);
  EXPECT_EQ(all->items.size(), 2u);
  EXPECT_FALSE(all->next);
}

TEST_F(AlertServiceTest, PagesSayWhetherMoreExists) {
  store("SN1", "alice", "error", "x");
  auto p = service_->my_events(alice_, std::nullopt, std::nullopt, 1, std::nullopt);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->items.size(), 1u);
  ASSERT_TRUE(p->next);
  p = service_->my_events(alice_, std::nullopt, std::nullopt, 1, p->next);
  ASSERT_TRUE(p);
  ASSERT_EQ(p->items.size(), 1u);
  EXPECT_EQ(p->items[0].event.id, alice_event_);
  EXPECT_FALSE(p->next);
}

TEST_F(AlertServiceTest, AccessErrorsAndAnotherOwnersEventIsMissing) {
  auto e = service_->event(alice_, "SN3", "x");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "DeviceAccessDenied");
  e = service_->event(alice_, "SN404", "x");
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "MissingDevice");
  e = service_->event(alice_, "SN1", bob_event_);
  ASSERT_FALSE(e);
  EXPECT_EQ(e.error().name, "MissingEvent");
  EXPECT_EQ(e.error().kind, ErrorKind::kNotFound);
  auto u = service_->update_event(alice_, "SN1", bob_event_, EventChange{true, {}, {}});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().name, "MissingEvent");
  EXPECT_TRUE(service_->event(admin_, "SN1", bob_event_));
}

TEST_F(AlertServiceTest, SuppressUntilMustBeInTheFutureAndNeedsSuppress) {
  auto u =
      service_->update_event(alice_, "SN1", alice_event_, EventChange{{}, true, clock_.now_ms()});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().name, "InvalidParameter");
  u = service_->update_event(alice_, "SN1", alice_event_,
                             EventChange{{}, false, clock_.now_ms() + 1000});
  ASSERT_FALSE(u);
  EXPECT_EQ(u.error().name, "InvalidParameter");
  u = service_->update_event(alice_, "SN1", alice_event_,
                             EventChange{{}, true, clock_.now_ms() + 1000});
  ASSERT_TRUE(u) << u.error().message;
  EXPECT_TRUE(u->event.suppress);
  EXPECT_FALSE(u->event.ack);
}

TEST_F(AlertServiceTest, AcknowledgingAnnouncesTheChangedUserOnly) {
  EXPECT_EQ(*service_->count(alice_), 1);
  auto u = service_->update_event(alice_, "SN1", alice_event_, EventChange{true, {}, {}});
  ASSERT_TRUE(u);
  EXPECT_EQ(*service_->count(alice_), 0);
  EXPECT_EQ(*service_->count(bob_), 1);
  EXPECT_EQ(changed(), std::vector<std::string>{"alice"});
  // Nothing left to acknowledge: nothing announced.
  ASSERT_TRUE(service_->ack_all(alice_, std::nullopt));
  EXPECT_EQ(changed().size(), 1u);
  auto r = service_->ack(alice_, {});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "InvalidParameter");
}

TEST_F(AlertServiceTest, AlertsFollowTheUsersAlertLevel) {
  store("SN1", "alice", "info", "mode changed");
  auto page = service_->alerts(alice_, 20, std::nullopt);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);  // the seed's default alertLevel: error, warning
  auto r = db_->write([](sqlite::Connection& c) {
    return c.exec(
        "INSERT INTO settings VALUES ('alice', '{\"alertLevel\":[\"info\"],"
        "\"sendNotification\":false}', 1, 1)");
  });
  ASSERT_TRUE(r);
  page = service_->alerts(alice_, 20, std::nullopt);
  ASSERT_TRUE(page);
  ASSERT_EQ(page->items.size(), 1u);
  EXPECT_EQ(page->items[0].event_type, "info");
  EXPECT_EQ(*service_->count(alice_), 1);
}

}  // namespace
}  // namespace sp::alerts
