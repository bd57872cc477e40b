#pragma once
// Request-target parsing (Boost.URL, no Beast): fills Request::path and Request::query.

#include <string_view>

#include "smartproduct/http/types.hpp"

namespace sp::http {

/// Parses `request.target` (origin form, "/path?query") into the decoded `path` and `query`.
/// Fails with 400 "BadRequest" for a target that is not origin form, and with 404 "NotFound" for a
/// path containing an encoded '/', '\' or NUL (%2F, %5C, %00) or a raw backslash: those would let a
/// decoded path mean something else than its segments, so no route or file may see them.
Result<void> parse_target(Request& request);

/// The encoded path part of a request target (everything before '?' or '#').
std::string_view encoded_path_of(std::string_view target);

}  // namespace sp::http
