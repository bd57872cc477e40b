#pragma once
// Fleet search over the registry, the shadows and presence (the devices module's read model for
// GET /api/devices?q= and GET /api/devices/aggregate). The query is the devices module's AST
// (devices/query.hpp); the SQLite implementation translates it into parameterized SQL over
// registrations, device_presence and the flattened fleet_index table that triggers keep in step
// with shadows and registrations (migrations/main/0008_fleet_index.sql).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/devices/query.hpp"
#include "smartproduct/devices/types.hpp"

namespace sp::store {

/// Whose devices a search sees: one user's live registrations, or everyone's (nullopt: admins).
struct FleetScope {
  std::optional<std::string> user_id;
};

struct FleetPage {
  std::vector<devices::DeviceSummary> items;  // in thingName (device id) order
  /// Device id after which the next page starts; set only when more rows exist.
  std::optional<std::string> next_after;
};

enum class AggregateType { kCount, kStats, kCardinality };

struct FleetAggregate {
  std::int64_t count = 0;  // kCount: matching devices; kStats: numeric values of the field
  // kStats (absent when count is 0)
  std::optional<double> sum, average, minimum, maximum, sum_of_squares, variance, std_deviation;
  std::int64_t cardinality = 0;  // kCardinality: distinct values of the field
};

class FleetSearchRepository {
 public:
  virtual ~FleetSearchRepository() = default;

  /// Live devices in scope matching `query` (nullptr: all), `limit` >= 1 rows with a device id
  /// greater than `after`.
  virtual Result<FleetPage> search(const devices::query::Node* query, const FleetScope& scope,
                                   int limit, const std::optional<std::string>& after) = 0;

  /// Over the live devices in scope matching `query` (nullptr: all): kCount counts them; kStats
  /// summarizes the numeric values of `field`; kCardinality counts its distinct values. `field` is
  /// required for kStats and kCardinality.
  virtual Result<FleetAggregate> aggregate(const devices::query::Node* query,
                                           const FleetScope& scope, AggregateType type,
                                           const devices::query::Field* field) = 0;
};

}  // namespace sp::store
