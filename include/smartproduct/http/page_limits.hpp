#pragma once
// The page sizes of every list in the API (DESIGN.md §7), apart from the paging helper
// (smartproduct/http/paging.hpp) so that services can check the limits they are given without
// seeing HTTP request types.

namespace sp::http {

/// Page size when the request names none.
inline constexpr int kDefaultPageLimit = 20;
/// Largest page a client may ask for; services may rely on it as their upper bound.
inline constexpr int kMaxPageLimit = 100;

/// True when `limit` is a page size the API accepts (1..kMaxPageLimit).
constexpr bool valid_page_limit(int limit) { return limit >= 1 && limit <= kMaxPageLimit; }

}  // namespace sp::http
