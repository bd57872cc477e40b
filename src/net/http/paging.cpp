// The paging helper declared in smartproduct/http/paging.hpp.

#include "smartproduct/http/paging.hpp"

#include <charconv>

#include "smartproduct/identity/base64url.hpp"

namespace sp::http {

Result<int> page_limit(const Request& request) {
  const auto v = request.query_param("limit");
  if (!v) return kDefaultPageLimit;  // `limit=` (empty) is not absent: refused below
  int n = 0;
  const auto [p, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
  if (ec != std::errc() || p != v->data() + v->size() || !valid_page_limit(n)) {
    return fail(errors::kInvalidLimit,
                "limit must be an integer from 1 to " + std::to_string(kMaxPageLimit) + ".");
  }
  return n;
}

std::string encode_cursor(const nlohmann::json& key) {
  return identity::base64url_encode(key.dump());
}

std::optional<nlohmann::json> decode_cursor(std::string_view text) {
  auto raw = identity::base64url_decode(text);
  if (!raw) return std::nullopt;
  auto key = nlohmann::json::parse(*raw, nullptr, /*allow_exceptions=*/false);
  // Every key this API issues is an object; anything else was not made by encode_cursor().
  if (!key.is_object()) return std::nullopt;
  return key;
}

Result<std::optional<nlohmann::json>> page_cursor(const Request& request, std::string_view param) {
  const auto v = request.query_param(param);
  if (!v || v->empty() || *v == "null") return std::optional<nlohmann::json>{};
  auto key = decode_cursor(*v);
  if (!key) return invalid_cursor(param);
  return key;
}

nlohmann::json page_json(nlohmann::json items, const std::optional<nlohmann::json>& next) {
  const auto count = items.size();
  nlohmann::json out{{"Items", std::move(items)}, {"Count", count}};
  if (next) out["LastEvaluatedKey"] = encode_cursor(*next);
  return out;
}

}  // namespace sp::http
