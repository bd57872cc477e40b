#include "json_strict.hpp"

#include "smartproduct/core/strict_json.hpp"

namespace sp::identity::detail {

std::optional<nlohmann::json> parse_json_object(std::string_view text, int max_depth) {
  // nlohmann silently skips a UTF-8 BOM; RFC 8259 forbids producing one, and we want a single
  // accepted form for signed content.
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") return std::nullopt;
  if (text.empty() || text.front() != '{') return std::nullopt;
  // Duplicate names are refused by the strict parser: nlohmann keeps the last, other parsers the
  // first, and two readings of one signed header is how confusion attacks start.
  auto value = sp::json::parse_strict(text, max_depth);
  if (!value || !value->is_object()) return std::nullopt;
  return std::move(*value);
}

}  // namespace sp::identity::detail
