// libFuzzer target for the strict JSON parser that every API body and device payload goes through.
// Invariants: an accepted text is also accepted by nlohmann's own parser with the same value (the
// strict parser only refuses more), its rendering parses back to the same value, and no value is
// nested deeper than the limit. Crashes and sanitizer reports are findings too.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "smartproduct/core/strict_json.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

int depth_of(const nlohmann::json& v) {
  if (!v.is_structured()) return 0;
  int deepest = 0;
  for (const auto& child : v) deepest = std::max(deepest, depth_of(child));
  return deepest + 1;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr int kDepth = 8;
  auto strict = sp::json::parse_strict(text, kDepth);
  if (!strict) return 0;
  check(text.find('\0') == std::string_view::npos);
  check(depth_of(*strict) <= kDepth);
  const auto lenient = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  check(!lenient.is_discarded() && lenient == *strict);
  const auto again = sp::json::parse_strict(strict->dump(), kDepth);
  check(again && *again == *strict);
  return 0;
}
