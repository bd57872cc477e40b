#pragma once
// Storage of the alerts module: reading events (the seed's routes 8, 11, 12), alert groups (routes
// 9, 10) and writing acknowledgements and suppressions. The grouping of new events is not here: it
// runs inside the events store step (EventRepository::append), in the event's transaction.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/alerts/types.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::store {

struct EventListQuery {
  std::optional<std::string> user_id;    // only events stamped with this owner
  std::optional<std::string> device_id;  // only this device
  std::optional<std::string> type;       // only this event type
  int limit = 20;                        // rows returned (callers ask one extra to see more)
  std::optional<alerts::EventKey> after;
};

class AlertRepository {
 public:
  virtual ~AlertRepository() = default;

  /// Newest device timestamp first, each with the owner's device name.
  virtual Result<std::vector<alerts::EventView>> events(const EventListQuery& query) = 0;
  virtual Result<std::optional<alerts::EventView>> event(const std::string& device_id,
                                                         const std::string& event_id) = 0;
  /// Open groups of `user_id` whose type is in `types` (not empty), newest activity first.
  virtual Result<std::vector<alerts::AlertRecord>> alerts(
      const std::string& user_id, const std::vector<std::string>& types, int limit,
      const std::optional<alerts::AlertKey>& after) = 0;
  /// COUNT of alerts(): an index-only count.
  virtual Result<std::int64_t> count(const std::string& user_id,
                                     const std::vector<std::string>& types) = 0;
  /// The stored alertLevel / sendNotification of a user (defaults when none).
  virtual Result<alerts::UserAlertSettings> settings(const std::string& user_id) = 0;

  /// Applies `change` to one event (ack true also acknowledges its alert group and the group's
  /// events; suppress sets or lifts the suppression of the event owner's device + type). Returns
  /// the event after the change, nullopt when it does not exist, and in `result` what changed.
  virtual Result<std::optional<alerts::EventView>> update_event(const std::string& device_id,
                                                                const std::string& event_id,
                                                                const alerts::EventChange& change,
                                                                std::int64_t now_ms,
                                                                alerts::AckResult& result) = 0;
  /// Marks these events read (with their groups); `only_user` restricts to one owner's events.
  virtual Result<alerts::AckResult> ack_events(const std::vector<std::string>& event_ids,
                                               const std::optional<std::string>& only_user,
                                               std::int64_t now_ms) = 0;
  /// Marks read, with their groups, the events of `device_id` whose messageId is `message_id`
  /// (the copies of one system event, one per administrator).
  virtual Result<alerts::AckResult> ack_by_message_id(const std::string& device_id,
                                                      const std::string& message_id,
                                                      std::int64_t now_ms) = 0;
  /// Marks every unread event of `user_id` (optionally of one type) read, with its groups.
  virtual Result<alerts::AckResult> ack_all(const std::string& user_id,
                                            const std::optional<std::string>& type,
                                            std::int64_t now_ms) = 0;
};

}  // namespace sp::store
