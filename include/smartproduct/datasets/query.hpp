#pragma once
// The datasets' query language: a SQL subset over the stored (pipeline-enriched) telemetry,
// compiled to one parameterized SQLite statement. The text is never passed through: it is
// tokenized and parsed here, every literal becomes a bound parameter, every name becomes a known
// column or a json_extract() of the message with the path as a parameter, and only the functions
// listed below exist.
//
//   query   := SELECT ( "*" | item { "," item } ) FROM telemetry [ WHERE expr ]
//              [ GROUP BY expr { "," expr } ] [ ORDER BY order { "," order } ] [ LIMIT integer ]
//   item    := expr [ [AS] name ]
//   order   := ( expr | column-number ) [ ASC | DESC ]
//   expr    := or ;  or := and { OR and } ;  and := not { AND not } ;  not := NOT not | test
//   test    := sum [ ( "=" | "==" | "!=" | "<>" | "<" | "<=" | ">" | ">=" ) sum
//                  | IS [NOT] NULL | [NOT] IN "(" expr { "," expr } ")"
//                  | [NOT] BETWEEN sum AND sum | [NOT] LIKE sum ]
//   sum     := product { ( "+" | "-" ) product } ;  product := unary { ( "*" | "/" | "%" ) unary }
//   unary   := "-" unary | "+" unary | primary
//   primary := number | 'string' | TRUE | FALSE | NULL | name | function "(" args ")" | "(" expr
//   ")" name    := ident { "." ident } | "quoted name"
//
// Names: deviceId, t (the sample's time, epoch ms), receivedAt (epoch ms), ownerId; any other name
// is an attribute of the stored message (a.b: member b of object a). Keywords are
// case-insensitive, names are not. "/" divides as reals (5 / 2 = 2.5). An expression may nest
// (parentheses, calls, operators of different precedence) at most kMaxExpressionDepth levels.
// Functions: count(*), count(x), sum, avg, min, max (aggregates); round(x[, digits]), abs, floor,
// ceil, coalesce(...), lower, upper, length, iso(ms) (ISO-8601 UTC with milliseconds),
// bucket(ms, size) (the start of the size-long UTC interval holding ms; size '1m', '5m', '15m',
// '1h', '6h', '1d' or milliseconds).

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include <tl/expected.hpp>

namespace sp::datasets {

inline constexpr std::size_t kMaxQueryLength = 8192;
inline constexpr std::size_t kMaxQueryDepth = 64;
inline constexpr std::size_t kMaxColumns = 100;
/// Nesting of one expression's SQL (SQLite's parser stack overflows at some 30 levels).
inline constexpr std::size_t kMaxExpressionDepth = 20;
inline constexpr std::int64_t kMaxQueryLimit = 100'000'000;

/// A bound value: integer, real or text.
using Literal = std::variant<std::int64_t, double, std::string>;

/// Where a query is wrong: 0-based offset in the text and a message.
struct QueryError {
  std::size_t position = 0;
  std::string message;
  /// "column N: message" (1-based).
  std::string to_string() const;
};

/// One statement over table `telemetry` of telemetry.db. Its parameters ?1 and ?2 are the run's
/// window of row ids (id > ?1 AND id <= ?2); `params` bind to ?3, ?4, ... in order.
struct CompiledQuery {
  std::string sql;
  std::vector<Literal> params;
  /// The output columns. For SELECT * they are deviceId, t, receivedAt and the statement's fourth
  /// column is the message (JSON text), whose attributes the writer expands.
  std::vector<std::string> columns;
  bool select_all = false;
  /// SELECT * only: the statement that lists the distinct top-level attributes of the messages the
  /// query reads (same parameters), for a CSV header known before the first row.
  std::string attributes_sql;
};

/// Parses and compiles `text`, or says where it is wrong.
tl::expected<CompiledQuery, QueryError> compile_query(std::string_view text);

}  // namespace sp::datasets
