#pragma once
// The one paging helper of every list route (DESIGN.md §7): `limit` with one default and one
// maximum for the whole API, the seed's `lastevalkey` cursor (absent, empty or the literal "null"
// mean the first page: the seed's console sends "null"), opaque cursors (base64url of a small JSON
// key, so a route may change its key without clients noticing) and the response shape
// {Items, Count, LastEvaluatedKey?} with LastEvaluatedKey only when another page exists.
//
// A route supplies only the conversion between its typed key and JSON:
//
//   auto page = http::parse_page<store::CatalogKey>(req, catalog_key_from_json);
//   if (!page) return Response::error(page.error());
//   auto rows = service.list(page->limit, page->after);
//   ...
//   return Response::json(200, http::page_json(std::move(items), next_key_json_or_nullopt));

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"
#include "smartproduct/http/errors.hpp"
#include "smartproduct/http/page_limits.hpp"
#include "smartproduct/http/types.hpp"

namespace sp::http {

/// The query parameter carrying the cursor (the seed's name).
inline constexpr std::string_view kCursorParam = "lastevalkey";

/// The `limit` query parameter: kDefaultPageLimit when absent or empty, else an integer
/// 1..kMaxPageLimit; anything else is 422 InvalidLimit.
Result<int> page_limit(const Request& request);

/// Encodes a small JSON key as an opaque cursor (base64url of its compact JSON, no padding).
std::string encode_cursor(const nlohmann::json& key);
/// The key of a cursor made by encode_cursor(), or nullopt when `text` is not one.
std::optional<nlohmann::json> decode_cursor(std::string_view text);

/// The decoded `param` cursor of the request: nullopt for the first page (absent, empty or
/// "null"), the key otherwise; 400 InvalidCursor when it is not a cursor.
Result<std::optional<nlohmann::json>> page_cursor(const Request& request,
                                                  std::string_view param = kCursorParam);

/// 400 InvalidCursor naming the parameter.
inline tl::unexpected<Error> invalid_cursor(std::string_view param = kCursorParam) {
  return fail(errors::kInvalidCursor, std::string(param) + " is not a valid cursor.");
}

/// What a list route needs from its query: the page size and where to resume.
template <class Key>
struct PageRequest {
  int limit = kDefaultPageLimit;
  std::optional<Key> after;  // nullopt: first page
};

/// Parses `limit` and `lastevalkey`; `from_json` turns a decoded cursor into the route's key
/// (nullopt when the JSON is not a key of this route, which is 400 InvalidCursor too).
template <class Key, class FromJson>
Result<PageRequest<Key>> parse_page(const Request& request, FromJson&& from_json) {
  auto limit = page_limit(request);
  if (!limit) return tl::unexpected(limit.error());
  auto cursor = page_cursor(request);
  if (!cursor) return tl::unexpected(cursor.error());
  PageRequest<Key> page{*limit, std::nullopt};
  if (*cursor) {
    std::optional<Key> key = from_json(**cursor);
    if (!key) return invalid_cursor();
    page.after = std::move(*key);
  }
  return page;
}

/// A numeric id from a path segment: 1 to 18 decimal digits, else nullopt (the resource does not
/// exist: routes answer their NotFound).
inline std::optional<std::int64_t> decimal_id(std::string_view text) {
  if (text.empty() || text.size() > 18) return std::nullopt;
  std::int64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

/// The key of lists paged by a numeric id, {"i": id}, for parse_page<std::int64_t>.
inline std::optional<std::int64_t> id_page_key(const nlohmann::json& key) {
  auto i = key.find("i");
  if (i == key.end() || !i->is_number_integer()) return std::nullopt;
  return i->get<std::int64_t>();
}

/// The rows of a page fetched with limit + 1: drops the extra row and returns the cursor key of the
/// last row kept (`key_of(row)`) when there was one, i.e. when another page exists.
template <class Row, class KeyOf>
std::optional<nlohmann::json> trim_page(std::vector<Row>& rows, int limit, KeyOf&& key_of) {
  if (static_cast<int>(rows.size()) <= limit) return std::nullopt;
  rows.resize(static_cast<std::size_t>(limit));
  return key_of(rows.back());
}

/// The key of a row paged by its numeric `id` ({"i": id}, the inverse of id_page_key).
inline constexpr auto id_key_of = [](const auto& row) { return nlohmann::json{{"i", row.id}}; };

/// {"Items": items, "Count": items.size(), "LastEvaluatedKey": encode_cursor(*next)} with
/// LastEvaluatedKey only when `next` holds a key (another page exists).
nlohmann::json page_json(nlohmann::json items, const std::optional<nlohmann::json>& next);

}  // namespace sp::http
