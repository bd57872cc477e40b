#pragma once
#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "smartproduct/core/device_message.hpp"

namespace sp::events {

/// The event types the seed's devices, console and alert settings know.
bool is_event_type(std::string_view type);

/// One device event as stored (the seed's Events item).
struct EventRecord {
  std::string id;  // uuid v4, assigned at ingest
  std::string device_id;
  std::optional<std::string> user_id;  // the device's owner when the event arrived
  std::string message_id;              // the device's messageId ("" when absent)
  std::string type;                    // error | warning | info | diagnostic
  std::string message;
  nlohmann::json details = nlohmann::json::object();
  int64_t timestamp_ms = 0;  // the device's timestamp, or the receive time when it had none
  bool timestamp_from_device = false;
  std::string sent_at;  // as the device sent it ("" when absent)
  int64_t created_at_ms = 0;
  int64_t updated_at_ms = 0;
  bool ack = false;
  bool suppress = false;
  std::string payload;  // the device's whole JSON object, compact
  std::string dedup_key;
  /// Set when the event comes from the broker's spool (committed with the row).
  std::optional<SpoolMark> spool_mark;

  /// The seed's JSON shape: the device's fields, then the server's (id, deviceId, createdAt,
  /// updatedAt, ack, suppress, userId, timestamp) on top.
  nlohmann::json to_json() const;
};

enum class AppendOutcome { kStored, kDuplicate };

}  // namespace sp::events
