#pragma once
// JSON of the alerts module's routes (the seed's event shape plus the additions of issue 13).

#include <cstdint>
#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/alerts/types.hpp"

namespace sp::alerts {

/// An event: the seed's item (device fields, then id, deviceId, timestamp, createdAt, updatedAt,
/// ack, suppress, userId) plus deviceName and, when it joined one, alertId.
nlohmann::json event_to_json(const EventView& v);
/// An alert group: its newest event as event_to_json() (so `id` is that event's id) plus
/// alertId, occurrences, firstEventId, firstSeenAt and lastSeenAt.
nlohmann::json alert_to_json(const AlertRecord& a);

/// Epoch ms of an ISO-8601 date-time with a zone ("2026-12-03T10:00:00Z",
/// "2026-12-03T10:00:00.250+01:00"); nullopt when `text` is not one.
std::optional<std::int64_t> parse_iso8601_ms(std::string_view text);

}  // namespace sp::alerts
