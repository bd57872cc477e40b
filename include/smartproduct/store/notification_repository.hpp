#pragma once
// Storage of the notifications module: the outbox (read; producers write it), the fan-out cursor,
// deliveries, channel choices and rate-limit windows, all in smartproduct.db.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/notifications/outbox.hpp"
#include "smartproduct/notifications/types.hpp"

namespace sp::store {

/// What the worker decided about a run of outbox rows, committed in ONE transaction.
struct FanoutBatch {
  std::int64_t cursor = 0;  // new last_outbox_id
  std::vector<notifications::Delivery> deliveries;
  std::vector<notifications::Window> window_upserts;
  std::vector<std::pair<std::string, std::string>> window_deletes;  // (user_id, group_key)
};

/// Work waiting for the notifications worker (for the metrics).
struct NotificationBacklog {
  std::int64_t outbox_rows = 0;         // outbox rows after the fan-out cursor
  std::int64_t pending_deliveries = 0;  // deliveries not yet sent (nor dead)
};

class NotificationRepository {
 public:
  virtual ~NotificationRepository() = default;

  virtual Result<std::int64_t> cursor() = 0;
  virtual Result<std::vector<notifications::OutboxRow>> outbox_after(std::int64_t id,
                                                                     int limit) = 0;
  virtual Result<std::int64_t> insert_outbox(const notifications::OutboxMessage& m) = 0;

  /// The account and its channel choices; nullopt for an unknown user.
  virtual Result<std::optional<notifications::Recipient>> recipient(std::string_view user_id) = 0;
  /// Saves the channel choices and, when given, the account's phone number.
  virtual Result<void> save_channels(std::string_view user_id,
                                     const notifications::ChannelSettings& c,
                                     const std::optional<std::string>& phone,
                                     std::int64_t now_ms) = 0;

  virtual Result<std::optional<notifications::Window>> window(std::string_view user_id,
                                                              std::string_view group_key) = 0;
  /// Windows that started at or before `started_before_ms`.
  virtual Result<std::vector<notifications::Window>> windows_started_before(
      std::int64_t started_before_ms, int limit) = 0;
  virtual Result<void> commit_fanout(const FanoutBatch& batch) = 0;

  /// Pending deliveries whose next attempt is due, oldest first.
  virtual Result<std::vector<notifications::Delivery>> due(std::int64_t now_ms, int limit) = 0;
  virtual Result<void> mark_sent(std::int64_t id, int attempts, std::int64_t now_ms) = 0;
  virtual Result<void> mark_retry(std::int64_t id, int attempts, std::int64_t next_ms,
                                  std::string_view error) = 0;
  virtual Result<void> mark_dead(std::int64_t id, int attempts, std::string_view error) = 0;

  /// Deliveries newest first, optionally of one state, after `before_id` (exclusive).
  virtual Result<std::vector<notifications::Delivery>> list(
      std::optional<notifications::DeliveryState> state, int limit,
      std::optional<std::int64_t> before_id) = 0;
  virtual Result<std::optional<notifications::Delivery>> find(std::int64_t id) = 0;
  /// A dead delivery back to pending (attempts 0, due now); false when it is not dead.
  virtual Result<bool> revive(std::int64_t id, std::int64_t now_ms) = 0;

  virtual Result<NotificationBacklog> backlog() = 0;
};

}  // namespace sp::store
