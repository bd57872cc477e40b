#pragma once
// The fleet search translator: the query AST (devices/query.hpp) as a parameterized SQL
// predicate over `registrations r`. Values only ever travel as parameters; the SQL text is made
// of fixed fragments chosen by the AST's shape, so no input can change the statement.
// No sqlite3 types: the repository binds the parameters.

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "smartproduct/devices/query.hpp"

namespace sp::sqlite::fleet {

using Param = std::variant<std::string, double, std::int64_t>;

/// SQL text with `?` placeholders and their values in textual order.
struct Sql {
  std::string text;
  std::vector<Param> params;

  void append(std::string_view fragment) { text += fragment; }
  void append(const Sql& other);
};

/// True when the devices a shadow, attribute or connectivity term selects are few enough to be
/// computed whole (`r.device_id IN (...)`), false to check them row by row (`EXISTS (...)`).
using IsSparse = std::function<bool(const devices::query::Term&)>;

/// A predicate for `node` over the registration row `r` (a live registration). Without `sparse`
/// every set is computed whole.
Sql predicate(const devices::query::Node& node, const IsSparse& sparse = nullptr);

/// SELECT device_id of the devices a shadow, attribute or connectivity term's set holds (for
/// connectivity: the connected devices, whatever the value), for an estimate of its size.
Sql term_devices(const devices::query::Term& term);

/// fleet_index.path of an indexed field: the segments joined with '.', each key quoted as
/// SQLite's json_tree() writes it in fullkey (bare when [A-Za-z][A-Za-z0-9]*, else in "").
std::string index_path(const devices::query::Field& field);

/// The registrations column of a registry field ("r.device_id", ...); empty for kConnected and
/// kIndexed.
std::string_view column_of(devices::query::Source source);

/// A GLOB pattern for the wildcard pattern (literal * ? [ escaped as [*] [?] [[]).
std::string glob_of(const std::vector<devices::query::PatternPiece>& pattern);

/// The smallest string greater than every string that starts with `prefix` (appends 0xFF, a
/// byte that valid UTF-8 never contains), for an index range in front of a GLOB.
std::string prefix_end(const std::string& prefix);

}  // namespace sp::sqlite::fleet
