// libFuzzer target for the sp_expr compiler and evaluator ([telemetry.pipeline] expressions today;
// fleet search and rules later, where users control the whole text). Compiles the input with the
// library's limits; an error must point inside the text (or at the length limit); an accepted
// program must evaluate against a fixed document without crashing, and a copy of it must give
// the same result. Crashes, sanitizer reports (stack exhaustion included) and broken invariants
// are findings.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/expr/expr.hpp"

namespace {

void check(bool ok) {
  if (!ok) std::abort();
}

const nlohmann::json& document() {
  static const nlohmann::json doc = {{"actualTemperature", 45.75}, {"targetTemperature", 70},
                                     {"timestamp", 1556739787113}, {"s", "Hello"},
                                     {"nested", {{"x", {{"y", 7}}}}}, {"b", true}};
  return doc;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto program = sp::expr::compile(text);
  if (!program) {
    check(program.error().position <= text.size() ||
          program.error().position == sp::expr::kMaxLength);
    check(!program.error().message.empty());
    return 0;
  }
  sp::expr::Evaluator evaluator;
  sp::expr::JsonFields fields(document());
  const nlohmann::json a = evaluator.evaluate(*program, fields, 1000).to_json();
  sp::expr::Program copy = *program;
  const nlohmann::json b = evaluator.evaluate(copy, fields, 1000).to_json();
  check(a == b || (a.is_number() && b.is_number() && a.dump() == b.dump()));
  return 0;
}
