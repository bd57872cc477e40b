#pragma once
// Time-series reads of a device's telemetry (GET /api/devices/{id}/telemetry, /latest, .csv):
// raw samples paged, or 1m / 1h rollups (1d merged from hours), owners' history kept apart.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"
#include "smartproduct/store/telemetry_repository.hpp"

namespace sp::telemetry {

enum class Interval { kRaw, kMinute, kHour, kDay };
std::optional<Interval> interval_from(std::string_view text);
std::string_view to_string(Interval interval);
/// Bucket width in ms (0 for raw).
int64_t interval_ms(Interval interval);
/// The longest time range one query may span at this interval (ms).
int64_t max_span_ms(Interval interval);

inline constexpr const char* kAggregates[] = {"avg", "min", "max", "count", "first", "last", "sum"};

struct SeriesQuery {
  std::string device_id;
  std::optional<std::string> owner;  // nullopt: every owner (administrators)
  int64_t from_ms = 0, to_ms = 0;    // [from, to)
  Interval interval = Interval::kRaw;
  std::vector<std::string> fields;  // empty: all
  std::vector<std::string> aggs;    // rollups only; validated by the caller
  int limit = 100;
  std::optional<nlohmann::json> after;  // the decoded cursor
};

struct SeriesPage {
  nlohmann::json points = nlohmann::json::array();
  std::optional<nlohmann::json> next;  // cursor key when more exists
};

/// Points of one page. Raw: {t, <attribute>: value, ...} (only `fields` when given); rollups:
/// {t, <field>: {<agg>: value}}. The cursor key is {"t", "i"} for raw, {"b"} for rollups.
Result<SeriesPage> query_series(store::TelemetryReader& reader, const SeriesQuery& q);

/// The store query of one raw page of `q`: `q.limit` + 1 rows (the extra one says whether more
/// exist), after the cursor key `q.after` ({"t", "i"}) when set.
store::TelemetryReader::RawQuery raw_page_query(const SeriesQuery& q);

/// {<field>: {value, t}} of each attribute's newest value among the newest `scan` samples, and the
/// newest sample's time; `found` false when the device has no samples.
struct Latest {
  bool found = false;
  int64_t t = 0;
  nlohmann::json fields = nlohmann::json::object();
};
Result<Latest> query_latest(store::TelemetryReader& reader, const std::string& device_id,
                            const std::optional<std::string>& owner, int scan = 200);

/// Parses a time bound: epoch ms digits, or ISO-8601 UTC "YYYY-MM-DDTHH:MM:SS[.fff]Z".
std::optional<int64_t> parse_time(std::string_view text);

}  // namespace sp::telemetry
