// The command service over the real SQLite repository (a fresh main database): one transaction for
// command + supersession + shadow desired, publications in the order devices need them, replies
// that may only move a pending command of that device, timeouts and resends, with a fixed clock.

#include "smartproduct/commands/service.hpp"

#include <gtest/gtest.h>

#include <mutex>

#include "../../store/main_db.hpp"
#include "fakes/fixed_clock.hpp"
#include "fakes/recording_publisher.hpp"
#include "smartproduct/commands/events.hpp"
#include "store/sqlite/repositories/repositories.hpp"

namespace sp::commands {
namespace {

using nlohmann::json;
using namespace std::chrono_literals;

json set_temp(double target) {
  return {{"commandDetails", {{"command", "set-temp"}, {"value", target}}},
          {"shadowDetails",
           {{"powerStatus", "HEAT"}, {"actualTemperature", 68}, {"targetTemperature", target}}}};
}

json set_mode(const char* mode) {
  return {{"commandDetails", {{"command", "set-mode"}, {"value", mode}}},
          {"shadowDetails", {{"powerStatus", mode}, {"targetTemperature", 72}}}};
}

class CommandServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    db_ = sqlite::test::open_main_database(dir_);
    ASSERT_TRUE(db_);
    repo_ = sqlite::make_command_repository(db_);
    shadows_ = sqlite::make_shadow_repository(db_);
    bus_.lane("test").on<CommandUpdated>([this](const CommandUpdated& e) {
      std::lock_guard lock(mutex_);
      updates_.push_back(e.command);
    });
    bus_.start();
    Settings settings;
    settings.timeout_s = 60;
    settings.max_ttl_s = 600;
    settings.resend_delay_ms = 1000;
    service_ = std::make_unique<CommandService>(*repo_, clock_, bus_, publisher_, settings);
  }

  std::vector<Command> updates() {
    bus_.drain();
    std::lock_guard lock(mutex_);
    return updates_;
  }

  Command create(const json& body, const std::string& device = "SN1") {
    auto c = service_->create(Target{device, "alice", json::object()}, body);
    EXPECT_TRUE(c) << (c ? "" : c.error().message);
    return c ? *c : Command{};
  }

  CommandStatus status_of(const Command& c) {
    auto row = service_->get(c.device_id, std::nullopt, c.id);
    EXPECT_TRUE(row);
    return row ? row->status : CommandStatus::kPending;
  }

  json desired(const std::string& device = "SN1") {
    auto row = shadows_->load(device);
    EXPECT_TRUE(row && *row);
    return row && *row ? (**row).state["desired"] : json();
  }

  sqlite::test::TempDir dir_;
  std::shared_ptr<sqlite::Database> db_;
  std::unique_ptr<store::CommandRepository> repo_;
  std::unique_ptr<store::ShadowRepository> shadows_;
  test::FixedClock clock_;
  test::RecordingPublisher publisher_;
  // Before the bus: its destructor delivers what is still queued to the handler that uses them.
  std::mutex mutex_;
  std::vector<Command> updates_;
  EventBus bus_;
  std::unique_ptr<CommandService> service_;
};

TEST_F(CommandServiceTest, CreateWritesOnlyTheFieldAndPublishesDeltaBeforeTheCommand) {
  Command c = create(set_temp(72.499));
  EXPECT_EQ(c.status, CommandStatus::kPending);
  EXPECT_EQ(c.value, json(72.5));
  EXPECT_EQ(c.expires_at_ms, clock_.now_ms() + 60000);
  EXPECT_EQ(desired(), json({{"targetTemperature", 72.5}}));  // never actualTemperature

  auto sent = publisher_.published();
  ASSERT_EQ(sent.size(), 4u);
  EXPECT_EQ(sent[0].topic, "$aws/things/SN1/shadow/update/accepted");
  EXPECT_EQ(sent[1].topic, "$aws/things/SN1/shadow/update/delta");
  EXPECT_EQ(json::parse(sent[1].payload)["state"], json({{"targetTemperature", 72.5}}));
  EXPECT_EQ(sent[2].topic, "$aws/things/SN1/shadow/update/documents");
  EXPECT_EQ(sent[3].topic, "smartproduct/commands/SN1");
  EXPECT_EQ(sent[3].qos, 1);
  EXPECT_EQ(
      json::parse(sent[3].payload),
      json({{"commandId", c.id},
            {"deviceId", "SN1"},
            {"status", "pending"},
            {"details",
             {{"powerStatus", "HEAT"}, {"targetTemperature", 72.5}, {"actualTemperature", 68}}}}));
  ASSERT_EQ(updates().size(), 1u);
  EXPECT_EQ(updates()[0].id, c.id);
}

TEST_F(CommandServiceTest, NewerCommandForTheSameFieldSupersedesTheOlder) {
  Command first = create(set_temp(70));
  Command mode = create(set_mode("AC"));
  clock_.advance(5ms);
  Command second = create(set_temp(71));
  EXPECT_EQ(status_of(first), CommandStatus::kSuperseded);
  EXPECT_EQ(status_of(mode), CommandStatus::kPending);
  EXPECT_EQ(status_of(second), CommandStatus::kPending);
  EXPECT_EQ(service_->get("SN1", std::nullopt, first.id)->reason, "superseded by " + second.id);
  EXPECT_EQ(desired(), json({{"targetTemperature", 71}, {"powerStatus", "AC"}}));
  EXPECT_EQ(service_->stats().superseded, 1u);
}

TEST_F(CommandServiceTest, RepliesMoveOnlyAPendingCommandOfThatDevice) {
  Command c = create(set_mode("OFF"));
  Command other = create(set_mode("OFF"), "SN2");
  EXPECT_EQ(service_->on_reply("SN1", {{"commandId", c.id}, {"status", "pending"}}),
            ReplyResult::kIgnored);
  EXPECT_EQ(service_->on_reply("SN1", {{"commandId", c.id}}), ReplyResult::kIgnored);
  EXPECT_EQ(service_->on_reply("SN1", {{"commandId", c.id}, {"status", "done"}}),
            ReplyResult::kInvalid);
  EXPECT_EQ(service_->on_reply("SN1", {{"status", "success"}}), ReplyResult::kInvalid);
  EXPECT_EQ(service_->on_reply("SN1", {{"commandId", c.id}, {"status", "success"}, {"reason", 5}}),
            ReplyResult::kInvalid);
  EXPECT_EQ(service_->on_reply("SN1", {{"commandId", other.id}, {"status", "success"}}),
            ReplyResult::kForeign);
  EXPECT_EQ(service_->on_reply("SN1", {{"commandId", "nope"}, {"status", "success"}}),
            ReplyResult::kUnknown);
  EXPECT_EQ(status_of(other), CommandStatus::kPending);

  EXPECT_EQ(service_->on_reply(
                "SN1", {{"commandId", c.id}, {"status", "failed"}, {"reason", "compressor fault"}}),
            ReplyResult::kApplied);
  auto row = service_->get("SN1", std::nullopt, c.id);
  EXPECT_EQ(row->status, CommandStatus::kFailed);
  EXPECT_EQ(row->reason, "compressor fault");
  EXPECT_EQ(service_->on_reply("SN1", {{"commandId", c.id}, {"status", "success"}}),
            ReplyResult::kNotPending);
  EXPECT_EQ(service_->get("SN1", std::nullopt, c.id)->status, CommandStatus::kFailed);
}

TEST_F(CommandServiceTest, TickExpiresOverdueCommandsAndLateRepliesChangeNothing) {
  json quick = set_mode("AC");
  quick["ttlSeconds"] = 5;
  Command fast = create(quick);
  Command slow = create(set_temp(80));
  clock_.advance(4999ms);
  EXPECT_EQ(service_->tick(), 0u);
  clock_.advance(1ms);
  EXPECT_EQ(service_->tick(), 1u);
  auto row = service_->get("SN1", std::nullopt, fast.id);
  EXPECT_EQ(row->status, CommandStatus::kFailed);
  EXPECT_EQ(row->reason, "timeout");
  EXPECT_EQ(status_of(slow), CommandStatus::kPending);
  // Expired but not swept yet: a reply is too late all the same.
  clock_.advance(60s);
  EXPECT_EQ(service_->on_reply("SN1", {{"commandId", slow.id}, {"status", "success"}}),
            ReplyResult::kNotPending);
  EXPECT_EQ(service_->tick(), 1u);
  EXPECT_EQ(service_->stats().expired, 2u);
}

TEST_F(CommandServiceTest, ReconnectResendsPendingUnexpiredCommandsAfterTheDelay) {
  Command done = create(set_mode("AC"));
  Command waiting = create(set_temp(75));
  ASSERT_EQ(service_->on_reply("SN1", {{"commandId", done.id}, {"status", "success"}}),
            ReplyResult::kApplied);
  publisher_.clear();
  service_->on_connected("SN1");
  service_->tick();
  EXPECT_TRUE(publisher_.published().empty());  // the device is still subscribing
  clock_.advance(1000ms);
  service_->tick();
  auto sent = publisher_.published();
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0].topic, "smartproduct/commands/SN1");
  EXPECT_EQ(json::parse(sent[0].payload)["commandId"], waiting.id);
  service_->tick();
  EXPECT_EQ(publisher_.published().size(), 1u);  // once per connection
}

TEST_F(CommandServiceTest, DeletingTheDeviceFailsItsPendingCommandsOnly) {
  Command done = create(set_mode("AC"));
  ASSERT_EQ(service_->on_reply("SN1", {{"commandId", done.id}, {"status", "success"}}),
            ReplyResult::kApplied);
  Command waiting = create(set_temp(75));
  Command other = create(set_temp(75), "SN2");
  service_->on_device_deleted("SN1");
  auto row = service_->get("SN1", std::nullopt, waiting.id);
  EXPECT_EQ(row->status, CommandStatus::kFailed);
  EXPECT_EQ(row->reason, "device deleted");
  EXPECT_EQ(status_of(done), CommandStatus::kSuccess);
  EXPECT_EQ(status_of(other), CommandStatus::kPending);
  publisher_.clear();
  service_->on_connected("SN1");
  clock_.advance(1000ms);
  service_->tick();
  EXPECT_TRUE(publisher_.published().empty());  // nothing left to resend
}

TEST_F(CommandServiceTest, AShadowRefusalRollsTheCommandBack) {
  // A nearly full shadow: the command's desired value would take it over 8 KiB.
  store::ShadowRecord big;
  big.device_id = "SN1";
  big.state = {{"desired", json::object()}, {"reported", {{"blob", std::string(8100, 'x')}}}};
  big.metadata = {{"desired", json::object()}, {"reported", json::object()}};
  big.version = 3;
  big.updated_at_s = 1;
  ASSERT_TRUE(shadows_->save(big, std::nullopt));
  const json details = {
      {"commands", {{"say", {{"type", "string"}, {"field", "message"}, {"maxLength", 1000}}}}}};
  auto c = service_->create(
      Target{"SN1", "alice", details},
      {{"commandDetails", {{"command", "say"}, {"value", std::string(500, 'y')}}}});
  ASSERT_FALSE(c);
  EXPECT_EQ(c.error().name, "ShadowTooLarge");
  auto rows = service_->list("SN1", std::nullopt, std::nullopt, 10, std::nullopt);
  ASSERT_TRUE(rows);
  EXPECT_TRUE(rows->items.empty());
  EXPECT_EQ((*shadows_->load("SN1"))->version, 3);
  EXPECT_TRUE(publisher_.published().empty());
}

TEST_F(CommandServiceTest, ListPagesNewestFirstFiltersAndScopesToTheOwner) {
  std::vector<std::string> ids;
  for (int i = 0; i < 5; ++i) {
    ids.push_back(create(set_temp(60 + i)).id);
    if (i % 2 == 0) clock_.advance(1ms);  // some share a millisecond: the seq orders them
  }
  std::vector<std::string> seen;
  std::optional<CommandKey> after;
  do {
    auto page = service_->list("SN1", std::nullopt, std::nullopt, 2, after);
    ASSERT_TRUE(page);
    for (const auto& c : page->items) seen.push_back(c.id);
    after = page->next;
  } while (after);
  EXPECT_EQ(seen, std::vector<std::string>(ids.rbegin(), ids.rend()));
  auto pending = service_->list("SN1", std::nullopt, CommandStatus::kPending, 10, std::nullopt);
  ASSERT_EQ(pending->items.size(), 1u);
  EXPECT_EQ(pending->items[0].id, ids.back());
  EXPECT_TRUE(
      service_->list("SN1", std::string("bob"), std::nullopt, 10, std::nullopt)->items.empty());
  auto hidden = service_->get("SN1", std::string("bob"), ids[0]);
  ASSERT_FALSE(hidden);
  EXPECT_EQ(hidden.error().name, "MissingCommand");
}

}  // namespace
}  // namespace sp::commands
