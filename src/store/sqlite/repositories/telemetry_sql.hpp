#pragma once
// The statements the telemetry repository writes with: a sample's row and the rollup upsert of
// one (device, bucket, field, owner). Exposed so that the large-store benchmark
// (tests/bench/telemetry/store_query_bench.cpp) bulk-writes exactly the rows ingest would.

#include <string>

namespace sp::sqlite {

/// ?1 device_id, ?2 device_ts, ?3 received_at, ?4 payload, ?5 dedup_key (NULL: none), ?6 t,
/// ?7 owner_id (NULL: none). A redelivery (same device and dedup key) changes nothing.
inline constexpr const char* kTelemetryInsertSql =
    "INSERT INTO telemetry (device_id, device_ts, received_at, payload, dedup_key, t, owner_id) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT DO NOTHING";

/// Merges one Aggregate into `table` (telemetry_rollup_1m or telemetry_rollup_1h): ?1 device_id,
/// ?2 bucket, ?3 field, ?4 owner_id ('' for none), then count, sum, min, max, first_t, first,
/// last_t, last.
inline std::string telemetry_rollup_upsert_sql(const char* table) {
  return std::string("INSERT INTO ") + table +
         " (device_id, bucket, field, owner_id, count, sum, min, max, first_t, first, last_t, "
         "last) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12) "
         "ON CONFLICT DO UPDATE SET count = count + excluded.count, sum = sum + excluded.sum, "
         "min = min(min, excluded.min), max = max(max, excluded.max), "
         "first = CASE WHEN excluded.first_t < first_t THEN excluded.first ELSE first END, "
         "first_t = min(first_t, excluded.first_t), "
         "last = CASE WHEN excluded.last_t >= last_t THEN excluded.last ELSE last END, "
         "last_t = max(last_t, excluded.last_t)";
}

}  // namespace sp::sqlite
