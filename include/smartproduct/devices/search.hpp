#pragma once
// Fleet search of the devices module: GET /api/devices?q= and GET /api/devices/aggregate. Parses
// the query (devices/query.hpp), scopes it to the caller (their live devices; admins: the whole
// fleet, as GET /api/devices) and runs it on store::FleetSearchRepository. No HTTP, no SQL.
//
// Error names: InvalidSearchQuery (422, with the 0-based position of a syntax error),
// InvalidAggregation (422: unknown type, missing or unusable field).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"
#include "smartproduct/devices/query.hpp"
#include "smartproduct/devices/types.hpp"
#include "smartproduct/store/fleet_search_repository.hpp"

namespace sp::devices {

/// An error, and for a query syntax error where in the query it is.
struct SearchError {
  Error error;
  std::optional<std::size_t> position;
};

template <class T>
using SearchResult = tl::expected<T, SearchError>;

class FleetSearch {
 public:
  /// `repo` must outlive the service. Thread-safe.
  explicit FleetSearch(store::FleetSearchRepository& repo, query::Limits limits = {});

  /// One page (limit 1..http::kMaxPageLimit) of the caller's live devices matching `text`, in
  /// thingName order, after the device id `after`.
  SearchResult<store::FleetPage> search(const Caller& caller, std::string_view text, int limit,
                                        const std::optional<std::string>& after);

  /// `type` count|stats|cardinality over the caller's live devices matching `text` (empty: all);
  /// `field` is required for stats (a shadow.* or attributes.<detail> field) and cardinality.
  SearchResult<store::FleetAggregate> aggregate(const Caller& caller, std::string_view text,
                                                std::string_view type, std::string_view field);

 private:
  SearchResult<std::optional<query::Node>> parse(std::string_view text, bool allow_empty) const;

  store::FleetSearchRepository& repo_;
  query::Limits limits_;
};

/// {"count": n} | {"statistics": {count, average?, sum?, minimum?, maximum?, sumOfSquares?,
/// variance?, stdDeviation?}} | {"cardinality": n} (AWS GetStatistics / GetCardinality shapes).
nlohmann::json aggregate_to_json(store::AggregateType type, const store::FleetAggregate& result);

}  // namespace sp::devices
