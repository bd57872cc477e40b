#include "smartproduct/devices/search.hpp"

#include "smartproduct/http/errors.hpp"
#include "smartproduct/http/page_limits.hpp"

namespace sp::devices {
namespace {

bool blank(std::string_view text) {
  return text.find_first_not_of(" \t\r\n") == std::string_view::npos;
}

tl::unexpected<SearchError> invalid_aggregation(std::string message) {
  return tl::unexpected(SearchError{errors::kInvalidAggregation.error(std::move(message)), {}});
}

}  // namespace

FleetSearch::FleetSearch(store::FleetSearchRepository& repo, query::Limits limits)
    : repo_(repo), limits_(limits) {}

SearchResult<std::optional<query::Node>> FleetSearch::parse(std::string_view text,
                                                            bool allow_empty) const {
  if (allow_empty && blank(text)) return std::optional<query::Node>{};
  auto node = query::parse(text, limits_);
  if (!node) {
    const auto& e = node.error();
    return tl::unexpected(SearchError{
        errors::kInvalidSearchQuery.error("Syntax error at position " + std::to_string(e.position) +
                                          ": " + e.message + "."),
        e.position});
  }
  return std::optional<query::Node>(std::move(*node));
}

SearchResult<store::FleetPage> FleetSearch::search(const Caller& caller, std::string_view text,
                                                   int limit,
                                                   const std::optional<std::string>& after) {
  if (!http::valid_page_limit(limit)) {
    return tl::unexpected(SearchError{errors::kInvalidLimit.error(), {}});
  }
  auto node = parse(text, false);
  if (!node) return tl::unexpected(node.error());
  store::FleetScope scope;
  if (!caller.admin) scope.user_id = caller.user_id;
  auto page = repo_.search(&**node, scope, limit, after);
  if (!page) return tl::unexpected(SearchError{page.error(), {}});
  return std::move(*page);
}

SearchResult<store::FleetAggregate> FleetSearch::aggregate(const Caller& caller,
                                                           std::string_view text,
                                                           std::string_view type,
                                                           std::string_view field) {
  store::AggregateType kind;
  if (type.empty() || type == "count") {
    kind = store::AggregateType::kCount;
  } else if (type == "stats") {
    kind = store::AggregateType::kStats;
  } else if (type == "cardinality") {
    kind = store::AggregateType::kCardinality;
  } else {
    return invalid_aggregation("type must be count, stats or cardinality.");
  }
  std::optional<query::Field> parsed_field;
  if (!field.empty()) {
    auto f = query::parse_field(field);
    if (!f) return invalid_aggregation("field: " + f.error().message + ".");
    parsed_field = std::move(*f);
  }
  if (kind != store::AggregateType::kCount && !parsed_field) {
    return invalid_aggregation("type " + std::string(type) + " needs a field.");
  }
  if (kind == store::AggregateType::kStats && parsed_field->source != query::Source::kIndexed) {
    return invalid_aggregation("stats need a numeric field: shadow.* or attributes.<detail>.");
  }
  auto node = parse(text, true);
  if (!node) return tl::unexpected(node.error());
  store::FleetScope scope;
  if (!caller.admin) scope.user_id = caller.user_id;
  auto result = repo_.aggregate(*node ? &**node : nullptr, scope, kind,
                                parsed_field ? &*parsed_field : nullptr);
  if (!result) return tl::unexpected(SearchError{result.error(), {}});
  return std::move(*result);
}

nlohmann::json aggregate_to_json(store::AggregateType type, const store::FleetAggregate& r) {
  using nlohmann::json;
  switch (type) {
    case store::AggregateType::kCount:
      return json{{"count", r.count}};
    case store::AggregateType::kCardinality:
      return json{{"cardinality", r.cardinality}};
    case store::AggregateType::kStats: {
      json s{{"count", r.count}};
      auto put = [&s](const char* name, const std::optional<double>& v) {
        if (v) s[name] = *v;
      };
      put("average", r.average);
      put("sum", r.sum);
      put("minimum", r.minimum);
      put("maximum", r.maximum);
      put("sumOfSquares", r.sum_of_squares);
      put("variance", r.variance);
      put("stdDeviation", r.std_deviation);
      return json{{"statistics", std::move(s)}};
    }
  }
  return json::object();
}

}  // namespace sp::devices
