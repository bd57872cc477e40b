#pragma once
// One JSON parser for everything that comes from outside (API bodies, device payloads, token
// segments). nlohmann's own parse() is lenient in three ways that matter here: it stops at a NUL
// byte and ignores what follows ("{…}\0garbage" parses), it keeps the last of duplicate member
// names (two readers of one message can disagree about "deviceId"), and it recurses without a
// bound.

#include <cstddef>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::json {

/// Deep enough for any document this product defines (shadow state, catalog details, settings);
/// far below what would exhaust a stack in the recursive copies and dumps that follow a parse.
inline constexpr int kDefaultMaxDepth = 32;

enum class StrictJsonError {
  kSyntax,        // not JSON in its entirety (includes a NUL byte anywhere and trailing data)
  kDuplicateKey,  // an object names one member twice
  kTooDeep,       // objects/arrays nested deeper than the limit
};

std::string_view describe(StrictJsonError error);

/// Parses `text` as one JSON value. Comments are not JSON and are refused.
tl::expected<nlohmann::json, StrictJsonError> parse_strict(std::string_view text,
                                                           int max_depth = kDefaultMaxDepth);

}  // namespace sp::json
