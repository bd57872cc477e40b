#include "store/sqlite/repositories/fleet_query_sql.hpp"

#include <cctype>

namespace sp::sqlite::fleet {
namespace {

using devices::query::Bound;
using devices::query::Comparison;
using devices::query::Node;
using devices::query::PatternPiece;
using devices::query::Source;
using devices::query::Term;
using devices::query::Value;

std::string_view operator_of(Comparison op) {
  switch (op) {
    case Comparison::kLess:
      return " < ?";
    case Comparison::kLessEqual:
      return " <= ?";
    case Comparison::kGreater:
      return " > ?";
    case Comparison::kGreaterEqual:
      return " >= ?";
    default:
      return " = ?";
  }
}

// The literal characters a pattern starts with (before its first wildcard).
std::string literal_prefix(const std::vector<PatternPiece>& pattern) {
  if (!pattern.empty() && pattern.front().kind == PatternPiece::kLiteral) {
    return pattern.front().text;
  }
  return {};
}

// `column` matches the value: a GLOB behind an index range on the literal prefix, or equality.
void match_text(Sql& out, std::string_view column, const Value& value) {
  if (value.pattern.empty()) {
    out.append(column);
    out.append(" = ?");
    out.params.emplace_back(value.text);
    return;
  }
  const std::string prefix = literal_prefix(value.pattern);
  out.append("(");
  if (!prefix.empty()) {
    out.append(column);
    out.append(" >= ? AND ");
    out.append(column);
    out.append(" < ? AND ");
    out.params.emplace_back(prefix);
    out.params.emplace_back(prefix_end(prefix));
  }
  out.append(column);
  out.append(" GLOB ?)");
  out.params.emplace_back(glob_of(value.pattern));
}

// `column` within the range; `numeric` binds the bounds as numbers.
void match_range(Sql& out, std::string_view column, const Term& term, bool numeric) {
  auto bound = [&](const Bound& b, bool lower) {
    out.append(column);
    out.append(lower ? (b.inclusive ? " >= ?" : " > ?") : (b.inclusive ? " <= ?" : " < ?"));
    if (numeric) {
      out.params.emplace_back(*b.value.number);
    } else {
      out.params.emplace_back(b.value.text);
    }
  };
  out.append("(");
  if (term.lower) bound(*term.lower, true);
  if (term.lower && term.upper) out.append(" AND ");
  if (term.upper) bound(*term.upper, false);
  out.append(")");
}

Sql registry_term(const Term& term) {
  Sql out;
  const auto column = column_of(term.field.source);
  switch (term.op) {
    case Comparison::kEquals:
      match_text(out, column, term.value);
      break;
    case Comparison::kRange:
      match_range(out, column, term, false);
      break;
    default:
      out.append(column);
      out.append(operator_of(term.op));
      out.params.emplace_back(term.value.text);
  }
  return out;
}

// The condition on fleet_index columns after "path = ? AND ". `correlated` (one device's rows)
// matches a numeric value with OR; the set form uses UNION ALL so that each arm has its index.
void index_condition(Sql& out, const Term& term, const std::string& path, bool correlated) {
  switch (term.op) {
    case Comparison::kEquals:
      if (term.value.number) {
        // "80" matches the number 80 and the text "80".
        out.append(correlated ? "(num = ? OR "
                              : "num = ? UNION ALL SELECT device_id FROM "
                                "fleet_index WHERE path = ? AND ");
        out.params.emplace_back(*term.value.number);
        if (!correlated) out.params.emplace_back(path);
        match_text(out, "str", term.value);
        if (correlated) out.append(")");
      } else {
        match_text(out, "str", term.value);
      }
      break;
    case Comparison::kRange: {
      const bool numeric =
          (!term.lower || term.lower->value.number) && (!term.upper || term.upper->value.number);
      match_range(out, numeric ? "num" : "str", term, numeric);
      break;
    }
    default:
      if (term.value.number) {
        out.append("num");
        out.append(operator_of(term.op));
        out.params.emplace_back(*term.value.number);
      } else {
        out.append("str");
        out.append(operator_of(term.op));
        out.params.emplace_back(term.value.text);
      }
  }
}

// The devices of an indexed or connectivity term: all of them (SELECT device_id ...) or, when
// `correlated`, whether the row r's device is one (SELECT 1 ... WHERE device_id = r.device_id).
Sql devices_of(const Term& term, bool correlated) {
  Sql out;
  if (term.field.source == Source::kConnected) {
    out.append(correlated
                   ? "SELECT 1 FROM device_presence WHERE device_id = r.device_id AND connected = 1"
                   : "SELECT device_id FROM device_presence WHERE connected = 1");
    return out;
  }
  const std::string path = index_path(term.field);
  out.append(correlated
                 ? "SELECT 1 FROM fleet_index WHERE device_id = r.device_id AND path = ? AND "
                 : "SELECT device_id FROM fleet_index WHERE path = ? AND ");
  out.params.emplace_back(path);
  index_condition(out, term, path, correlated);
  return out;
}

Sql term_sql(const Term& term, const IsSparse& sparse) {
  if (term.field.source != Source::kConnected && term.field.source != Source::kIndexed) {
    return registry_term(term);
  }
  // A device never seen by presence is disconnected: connected:false is "not in the connected set".
  const bool negated = term.field.source == Source::kConnected && term.value.text != "true";
  // A small set is computed once (and can drive the search through the registrations index); a
  // large one is checked row by row, so a page stops after `limit` matches without building it.
  const bool whole = !sparse || sparse(term);
  Sql out;
  if (whole) {
    out.append(negated ? "r.device_id NOT IN (" : "r.device_id IN (");
  } else {
    out.append(negated ? "NOT EXISTS (" : "EXISTS (");
  }
  out.append(devices_of(term, !whole));
  out.append(")");
  return out;
}

}  // namespace

void Sql::append(const Sql& other) {
  text += other.text;
  params.insert(params.end(), other.params.begin(), other.params.end());
}

Sql predicate(const Node& node, const IsSparse& sparse) {
  switch (node.kind) {
    case Node::kTerm:
      return term_sql(node.term, sparse);
    case Node::kNot: {
      Sql out;
      out.append("NOT (");
      out.append(predicate(node.children.front(), sparse));
      out.append(")");
      return out;
    }
    case Node::kAnd:
    case Node::kOr: {
      Sql out;
      out.append("(");
      for (std::size_t i = 0; i < node.children.size(); ++i) {
        if (i > 0) out.append(node.kind == Node::kAnd ? " AND " : " OR ");
        out.append(predicate(node.children[i], sparse));
      }
      out.append(")");
      return out;
    }
  }
  return {};
}

Sql term_devices(const Term& term) { return devices_of(term, false); }

std::string index_path(const devices::query::Field& field) {
  std::string out;
  for (std::size_t i = 0; i < field.path.size(); ++i) {
    const std::string& seg = field.path[i];
    if (i > 0) out += '.';
    // The first segment (shadow, attributes) is our prefix, not a JSON key.
    bool bare = i == 0 || (!seg.empty() && std::isalpha(static_cast<unsigned char>(seg[0])));
    for (char c : seg) {
      if (!std::isalnum(static_cast<unsigned char>(c))) bare = false;
    }
    if (bare) {
      out += seg;
    } else {
      // Field segments are [A-Za-z0-9_-]: nothing to escape inside the quotes.
      out += '"';
      out += seg;
      out += '"';
    }
  }
  return out;
}

std::string_view column_of(Source source) {
  switch (source) {
    case Source::kThingName:
      return "r.device_id";
    case Source::kDeviceName:
      return "r.device_name";
    case Source::kModelNumber:
      return "r.model_number";
    case Source::kUserId:
      return "r.user_id";
    default:
      return {};
  }
}

std::string glob_of(const std::vector<PatternPiece>& pattern) {
  std::string out;
  for (const auto& p : pattern) {
    if (p.kind == PatternPiece::kAnyString) {
      out += '*';
    } else if (p.kind == PatternPiece::kAnyChar) {
      out += '?';
    } else {
      for (char c : p.text) {
        if (c == '*') {
          out += "[*]";
        } else if (c == '?') {
          out += "[?]";
        } else if (c == '[') {
          out += "[[]";
        } else {
          out += c;
        }
      }
    }
  }
  return out;
}

std::string prefix_end(const std::string& prefix) { return prefix + '\xFF'; }

}  // namespace sp::sqlite::fleet
