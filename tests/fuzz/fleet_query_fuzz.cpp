// libFuzzer target for the fleet search query parser (GET /api/devices?q=: any user controls the
// whole text). Parses the input with the daemon's limits; an error must point inside the text (or
// at the length limit); an accepted query must print to a canonical form that parses again to
// the same canonical form, and translate to SQL whose text holds none of the values (they are
// parameters). Crashes, sanitizer reports and broken invariants are findings.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "smartproduct/devices/query.hpp"
#include "store/sqlite/repositories/fleet_query_sql.hpp"

namespace {

using namespace sp::devices::query;

void check(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const Limits limits;
  auto node = parse(text, limits);
  if (!node) {
    check(node.error().position <= text.size() || node.error().position == limits.max_length);
    check(!node.error().message.empty());
    return 0;
  }
  const std::string canonical = to_string(*node);
  // The canonical form adds parentheses: parse it without the limits.
  const Limits roomy{1u << 20, 1 << 12, 1 << 12};
  auto again = parse(canonical, roomy);
  check(static_cast<bool>(again));
  check(to_string(*again) == canonical);
  const auto sql = sp::sqlite::fleet::predicate(*node);
  check(sql.text.find('\'') == std::string::npos);  // no literal ever enters the SQL text
  check(!sql.params.empty() || sql.text.find("device_presence") != std::string::npos);
  (void)parse_field(text);
  return 0;
}
