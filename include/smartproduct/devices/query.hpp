#pragma once
// The fleet search query language (GET /api/devices?q=, GET /api/devices/aggregate): a subset of
// AWS IoT fleet-indexing query syntax, parsed into an AST. Plain C++: no SQL, no HTTP. The store
// translates the AST into parameterized SQL (store/fleet_search_repository.hpp).
//
//   query  := or
//   or     := and ("OR" and)*
//   and    := unary (["AND"] unary)*           juxtaposition is AND
//   unary  := "NOT" unary | "(" or ")" | term
//   term   := field ":" value                  equality; unquoted * and ? are wildcards
//           | field [":"] ("<" | "<=" | ">" | ">=") value
//           | field ":" ("[" | "{") bound "TO" bound ("]" | "}")   [ ] inclusive, { } exclusive
//   bound  := value | "*"                      * = open
//   value  := word | "\"" chars "\""           \ escapes the next character in both
//   field  := thingName | deviceName | modelNumber | connectivity.connected
//           | attributes.<seg>(.<seg>)* | shadow.(reported|desired).<seg>(.<seg>)* | shadow.version
//   seg    := [A-Za-z0-9_-]+
//
// attributes.deviceName / attributes.modelNumber / attributes.userId are the registration's
// columns (the names GET /api/devices shows under "attributes"); other attributes are the
// catalog details copied into the registration. Keywords are upper case. Matching is exact and
// case-sensitive. A value that reads as a number compares numerically with numeric fields (and
// as text with text fields). Errors carry the 0-based byte offset where the query went wrong.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

namespace sp::devices::query {

struct Limits {
  std::size_t max_length = 1024;  // bytes of query text
  int max_depth = 16;             // nested parentheses and NOTs
  int max_terms = 16;             // field terms
};

enum class Source {
  kThingName,    // registrations.device_id
  kDeviceName,   // registrations.device_name
  kModelNumber,  // registrations.model_number
  kUserId,       // registrations.user_id
  kConnected,    // device_presence.connected
  kIndexed,      // fleet_index: shadow.* and attributes.<detail>
};

struct Field {
  Source source = Source::kThingName;
  /// kIndexed only: the segments, e.g. {"shadow", "reported", "powerStatus"}.
  std::vector<std::string> path;
  /// As written in the query.
  std::string name;
};

/// One piece of a wildcard pattern.
struct PatternPiece {
  enum Kind { kLiteral, kAnyString, kAnyChar } kind = kLiteral;
  std::string text;  // kLiteral only
};

struct Value {
  std::string text;              // unescaped; for a pattern, the literal characters only
  std::optional<double> number;  // set when the (unquoted) text is a finite number
  /// Non-empty when the unquoted value has an unescaped * or ?.
  std::vector<PatternPiece> pattern;
};

enum class Comparison { kEquals, kLess, kLessEqual, kGreater, kGreaterEqual, kRange };

struct Bound {
  Value value;
  bool inclusive = true;
};

struct Term {
  Field field;
  Comparison op = Comparison::kEquals;
  Value value;                 // all but kRange
  std::optional<Bound> lower;  // kRange; nullopt = open (*)
  std::optional<Bound> upper;
  std::size_t position = 0;  // where the term starts
};

struct Node {
  enum Kind { kTerm, kAnd, kOr, kNot } kind = kTerm;
  Term term;                   // kTerm
  std::vector<Node> children;  // kAnd, kOr: two or more; kNot: one
};

struct ParseError {
  std::size_t position = 0;  // 0-based byte offset into the query
  std::string message;       // e.g. "expected ')'"
};

/// Parses a query. Empty or blank text is an error ("empty query").
tl::expected<Node, ParseError> parse(std::string_view text, const Limits& limits = {});

/// Parses a field name alone (the aggregate route's `field`).
tl::expected<Field, ParseError> parse_field(std::string_view text);

/// The query back as text (canonical form; for logs and tests).
std::string to_string(const Node& node);

}  // namespace sp::devices::query
