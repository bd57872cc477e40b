#pragma once
// Strict JSON parsing for untrusted token segments (internal to the identity module).

#include <optional>
#include <string_view>

#include <nlohmann/json.hpp>

namespace sp::identity::detail {

/// Parses `text` as a JSON object. Refuses: invalid JSON or UTF-8, a byte-order mark, trailing
/// data, duplicate member names at any level, nesting deeper than `max_depth`, non-objects.
std::optional<nlohmann::json> parse_json_object(std::string_view text, int max_depth = 8);

}  // namespace sp::identity::detail
