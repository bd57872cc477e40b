#include "json_strict.hpp"

#include <set>
#include <string>
#include <vector>

namespace sp::identity::detail {

std::optional<nlohmann::json> parse_json_object(std::string_view text, int max_depth) {
  // nlohmann silently skips a UTF-8 BOM; RFC 8259 forbids producing one, and we want a single
  // accepted form for signed content.
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") return std::nullopt;
  if (text.empty() || text.front() != '{') return std::nullopt;

  // nlohmann keeps the last of duplicate names; other parsers keep the first. Two readings of one
  // signed header is how confusion attacks start, so duplicates are refused outright.
  std::vector<std::set<std::string>> names;
  bool bad = false;
  const nlohmann::json::parser_callback_t cb = [&](int depth, nlohmann::json::parse_event_t event,
                                                   nlohmann::json& parsed) {
    using E = nlohmann::json::parse_event_t;
    switch (event) {
      case E::object_start:
        names.emplace_back();
        if (depth >= max_depth) bad = true;
        break;
      case E::array_start:
        if (depth >= max_depth) bad = true;
        break;
      case E::key:
        if (names.empty() || !names.back().insert(parsed.get<std::string>()).second) bad = true;
        break;
      case E::object_end:
        if (!names.empty()) names.pop_back();
        break;
      default:
        break;
    }
    return true;
  };
  nlohmann::json value = nlohmann::json::parse(text.begin(), text.end(), cb,
                                               /*allow_exceptions=*/false,
                                               /*ignore_comments=*/false);
  if (bad || value.is_discarded() || !value.is_object()) return std::nullopt;
  return value;
}

}  // namespace sp::identity::detail
