#pragma once
// sp_expr: one small, safe expression language shared by the telemetry pipeline and, later, fleet
// search and a rules engine.
//
//   expression := or
//   or         := and { ("||" | "or") and }
//   and        := not { ("&&" | "and") not }
//   not        := ("!" | "not") not | comparison
//   comparison := sum [ ("==" | "!=" | "<" | "<=" | ">" | ">=") sum ]
//   sum        := product { ("+" | "-") product }
//   product    := unary { ("*" | "/" | "%") unary }
//   unary      := "-" unary | primary
//   primary    := number | 'string' | "string" | true | false | null
//               | name [ "(" [ expression { "," expression } ] ")" ] | "(" expression ")"
//   name       := [A-Za-z_][A-Za-z0-9_]* { "." [A-Za-z_][A-Za-z0-9_]* }   (a field path, or a
//                 function when followed by "(")
//
// Values are null, booleans, numbers (double) and strings. A missing field is null. Arithmetic
// and ordering comparisons on anything but numbers (or strings, for ordering) give null; division
// by zero gives null; `and`/`or`/`not` use truthiness (null, false, 0 and "" are false). `==` of
// different types is false, `null == null` is true.
//
// Functions: round(x[, digits]) (half away from zero on the exact decimal value, as JavaScript's
// toFixed), abs, floor, ceil, min(...), max(...), coalesce(...), num(x) (numbers and numeric
// strings to numbers), str(x), len(s), lower(s), upper(s), contains(s, sub), startswith(s, p),
// endswith(s, p), concat(...), now() (epoch ms of the evaluation), iso(ms) (ISO-8601 UTC with
// milliseconds, as JavaScript's Date.toISOString), hour(ms), weekday(ms) (0 = Sunday), day(ms)
// (epoch ms of the UTC day's start).
//
// compile() parses once into a flat postfix program (no tree, no recursion at evaluation time);
// nesting deeper than kMaxDepth and texts longer than kMaxLength are errors, so hostile input
// cannot exhaust the stack. evaluate() allocates nothing for numeric and boolean expressions: its
// stack and scratch space live in an Evaluator that callers keep and reuse.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>
#include <tl/expected.hpp>

namespace sp::expr {

inline constexpr std::size_t kMaxDepth = 64;
inline constexpr std::size_t kMaxLength = 4096;

/// A value during evaluation. Strings point into the program's constants, the evaluated document,
/// or the evaluator's scratch space: valid until the next evaluate() on the same evaluator.
struct Value {
  enum class Type : std::uint8_t { kNull, kBool, kNumber, kString };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string_view string;

  static Value null() { return {}; }
  static Value of(bool b) { return {Type::kBool, b, 0, {}}; }
  static Value of(double d) { return {Type::kNumber, false, d, {}}; }
  static Value of(std::string_view s) { return {Type::kString, false, 0, s}; }
  bool is_null() const { return type == Type::kNull; }
  bool truthy() const;
  /// The value as JSON (null, bool, number, string).
  nlohmann::json to_json() const;
};

/// Where a compile error is: `position` is the 0-based offset in the text (the text's length
/// for "unexpected end"), `column` the 1-based column.
struct ParseError {
  std::size_t position = 0;
  std::string message;
  std::size_t column() const { return position + 1; }
  /// "column N: message"
  std::string to_string() const;
};

/// The fields an expression reads, resolved by the caller (a JSON document, a registry row...).
class Fields {
 public:
  virtual ~Fields() = default;
  /// The value of the dotted `path` (null when absent).
  virtual Value get(std::string_view path) const = 0;
};

/// Fields of a JSON object: "a.b" is member b of object member a. Arrays and objects read as null.
class JsonFields final : public Fields {
 public:
  explicit JsonFields(const nlohmann::json& document) : document_(document) {}
  Value get(std::string_view path) const override;

 private:
  const nlohmann::json& document_;
};

class Program;

/// Reusable evaluation state (stack, scratch strings). Not thread-safe: one per thread.
class Evaluator {
 public:
  Evaluator();
  ~Evaluator();
  Evaluator(const Evaluator&) = delete;
  Evaluator& operator=(const Evaluator&) = delete;

  /// Evaluates `program` against `fields`; `now_ms` is what now() returns.
  Value evaluate(const Program& program, const Fields& fields, std::int64_t now_ms = 0);

 private:
  friend class Program;
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// A compiled expression. Immutable and shareable across threads.
class Program {
 public:
  Program();
  ~Program();
  Program(Program&&) noexcept;
  Program& operator=(Program&&) noexcept;
  Program(const Program&);
  Program& operator=(const Program&);

  /// The source text.
  const std::string& text() const;
  /// The field paths the expression reads, each once.
  const std::vector<std::string>& fields() const;

  struct Impl;
  const Impl& impl() const { return *impl_; }

 private:
  friend tl::expected<Program, ParseError> compile(std::string_view text);
  std::unique_ptr<Impl> impl_;
};

/// Parses `text` into a program, or the first error with its position.
tl::expected<Program, ParseError> compile(std::string_view text);

/// JavaScript's Number.prototype.toFixed(digits) then parseFloat: half away from zero on the
/// exact binary value. digits 0..15.
double round_decimal(double x, int digits);

/// JavaScript's new Date(ms).toISOString() ("2019-05-01T19:43:07.113Z"; years outside 0..9999 in
/// the extended form "+010000-01-01T00:00:00.000Z"). False when |ms| > 8.64e15 or not finite.
bool iso_utc(double ms, std::string& out);

}  // namespace sp::expr
