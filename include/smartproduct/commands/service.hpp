#pragma once
// The commands module's service: create a command (validate, write it with its shadow change in
// one transaction, then send the shadow delta and the command to the device), take the device's
// replies, time commands out, and resend pending ones when a device comes back.
//
// It knows nothing of HTTP or SQLite; it publishes through the transport-neutral mqtt::Publisher
// and announces every change as commands::CommandUpdated on the event bus (after the commit).
// Thread-safe.

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/commands/types.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/shadow/types.hpp"
#include "smartproduct/store/command_repository.hpp"

namespace sp::commands {

/// [commands] settings.
struct Settings {
  /// A command without its own ttlSeconds fails with reason "timeout" after this long.
  std::int64_t timeout_s = 60;
  /// The largest ttlSeconds a request may ask for.
  std::int64_t max_ttl_s = 86400;
  /// After a device connects, its pending commands are sent again this much later (it needs a
  /// moment to subscribe after CONNACK).
  std::int64_t resend_delay_ms = 1000;
  /// smartproduct/commands: <topic>/<serial> carries commands (and the seed's replies),
  /// <topic>/<serial>/response the replies.
  std::string topic = "smartproduct/commands";
};

/// Who sends a command: the live registration it goes out under.
struct Target {
  std::string device_id;
  std::string owner;                                        // the registration's user id
  nlohmann::json model_details = nlohmann::json::object();  // the catalog details (schema)
};

/// What a device's reply did (each result has its own counter).
enum class ReplyResult {
  kApplied,     // a pending command of that device moved to success/failed
  kIgnored,     // our own command message seen on the shared topic (status "pending" / none)
  kInvalid,     // not a reply: no commandId, bad status or reason
  kUnknown,     // no such command
  kForeign,     // another device's command
  kNotPending,  // already finished or expired
  kStoreFailed,
};
std::string_view to_string(ReplyResult result);

struct CommandPage {
  std::vector<Command> items;
  std::optional<CommandKey> next;  // set when another page exists
};

class CommandService {
 public:
  /// Everything must outlive the service. `shadow_limits` are the shadow module's.
  CommandService(store::CommandRepository& repository, const Clock& clock, EventBus& bus,
                 mqtt::Publisher& publisher, Settings settings, shadow::Limits shadow_limits = {});

  /// POST /api/devices/{id}/commands after the ownership check: validates `body` (422
  /// InvalidParameter), writes the command, supersedes an older pending one of the same field and
  /// writes only that field into the shadow's desired state (one transaction), then publishes the
  /// shadow's update/accepted, update/delta, update/documents and the command message (QoS 1), and
  /// CommandUpdated/ShadowUpdated on the bus.
  Result<Command> create(const Target& target, const nlohmann::json& body);

  /// One page of a device's commands, newest first; `owner` limits it to that user's commands.
  Result<CommandPage> list(std::string_view device_id, const std::optional<std::string>& owner,
                           std::optional<CommandStatus> status, int limit,
                           const std::optional<CommandKey>& after);

  /// One command of the device (404 MissingCommand, also for another owner's).
  Result<Command> get(std::string_view device_id, const std::optional<std::string>& owner,
                      std::string_view command_id);

  /// A message from the device `device_id` (taken from the topic) on its command or response
  /// topic, already parsed as a JSON object.
  ReplyResult on_reply(const std::string& device_id, const nlohmann::json& reply);

  /// The device connected: its pending, unexpired commands are sent again after
  /// resend_delay_ms (by tick()).
  void on_connected(const std::string& device_id);

  /// The device's registration was deleted: its pending commands fail with reason
  /// "device deleted" (they must not reach the device under a later owner).
  void on_device_deleted(const std::string& device_id);

  /// Periodic work (the module calls it every 250 ms): expires overdue commands and performs due
  /// resends. Returns the number of commands expired.
  std::size_t tick();

  struct Stats {
    std::uint64_t created = 0, expired = 0, superseded = 0, resent = 0;
  };
  Stats stats() const;

 private:
  void announce(const Command& command);
  void send(const Command& command);
  std::string command_topic(const std::string& device_id) const;

  store::CommandRepository& repository_;
  const Clock& clock_;
  EventBus& bus_;
  mqtt::Publisher& publisher_;
  Settings settings_;
  shadow::Limits shadow_limits_;

  std::mutex resend_mutex_;
  std::map<std::string, std::int64_t> resend_due_;  // device → when (ms)

  std::atomic<std::uint64_t> created_{0}, expired_{0}, superseded_{0}, resent_{0};
};

}  // namespace sp::commands
