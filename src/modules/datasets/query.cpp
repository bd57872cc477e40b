// The datasets' SQL subset (see query.hpp): a tokenizer and a recursive-descent parser that emits
// SQLite text as it parses. Nothing from the query reaches the SQL but what this file writes
// itself: keywords, operators, column names from a fixed table, validated integers (column
// numbers, bucket sizes) and "?N" placeholders for every literal and attribute path.

#include "smartproduct/datasets/query.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <optional>
#include <set>

namespace sp::datasets {
namespace {

enum class Tok { kEnd, kIdent, kQuoted, kNumber, kString, kSymbol };

struct Token {
  Tok type = Tok::kEnd;
  std::string text;  // identifier / symbol / string value (unquoted) / number text
  std::size_t pos = 0;
};

bool ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool ident_char(char c) { return ident_start(c) || (c >= '0' && c <= '9'); }
bool digit(char c) { return c >= '0' && c <= '9'; }

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) {
    if (c >= 'a' && c <= 'z') c = static_cast<char>(c - 'a' + 'A');
  }
  return out;
}

using Fail = tl::unexpected<QueryError>;
Fail error_at(std::size_t pos, std::string message) {
  return tl::unexpected(QueryError{pos, std::move(message)});
}

tl::expected<std::vector<Token>, QueryError> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  while (i < s.size()) {
    const char c = s[i];
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
      ++i;
      continue;
    }
    if (c == '-' && i + 1 < s.size() && s[i + 1] == '-') {  // comment to the end of the line
      while (i < s.size() && s[i] != '\n') ++i;
      continue;
    }
    Token t;
    t.pos = i;
    if (ident_start(c)) {
      std::size_t j = i;
      while (j < s.size() && ident_char(s[j])) ++j;
      t.type = Tok::kIdent;
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else if (c == '"') {
      const std::size_t end = s.find('"', i + 1);
      if (end == std::string_view::npos) return error_at(i, "unterminated quoted name");
      t.type = Tok::kQuoted;
      t.text = std::string(s.substr(i + 1, end - i - 1));
      if (t.text.empty() || t.text.size() > 128) {
        return error_at(i, "a quoted name has 1 to 128 characters");
      }
      for (unsigned char ch : t.text) {
        if (ch < 0x20 || ch == '\\') return error_at(i, "a quoted name cannot hold this character");
      }
      i = end + 1;
    } else if (c == '\'') {
      std::string value;
      std::size_t j = i + 1;
      for (;;) {
        if (j >= s.size()) return error_at(i, "unterminated string");
        if (s[j] == '\'') {
          if (j + 1 < s.size() && s[j + 1] == '\'') {
            value += '\'';
            j += 2;
            continue;
          }
          break;
        }
        value += s[j++];
      }
      t.type = Tok::kString;
      t.text = std::move(value);
      i = j + 1;
    } else if (digit(c) || (c == '.' && i + 1 < s.size() && digit(s[i + 1]))) {
      std::size_t j = i;
      while (j < s.size() && digit(s[j])) ++j;
      if (j < s.size() && s[j] == '.') {
        ++j;
        while (j < s.size() && digit(s[j])) ++j;
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        std::size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k >= s.size() || !digit(s[k])) return error_at(j, "malformed number");
        while (k < s.size() && digit(s[k])) ++k;
        j = k;
      }
      if (j < s.size() && ident_char(s[j])) return error_at(j, "malformed number");
      t.type = Tok::kNumber;
      t.text = std::string(s.substr(i, j - i));
      i = j;
    } else {
      static constexpr std::string_view kTwo[] = {"==", "!=", "<>", "<=", ">="};
      t.type = Tok::kSymbol;
      if (i + 1 < s.size() &&
          std::find(std::begin(kTwo), std::end(kTwo), s.substr(i, 2)) != std::end(kTwo)) {
        t.text = std::string(s.substr(i, 2));
        i += 2;
      } else if (std::string_view("(),.*+-/%=<>;").find(c) != std::string_view::npos) {
        t.text = std::string(1, c);
        ++i;
      } else {
        return error_at(i, fmt::format("unexpected character '{}'",
                                       (c >= 0x20 && c < 0x7f) ? std::string(1, c) : "?"));
      }
    }
    out.push_back(std::move(t));
  }
  Token end;
  end.pos = s.size();
  out.push_back(end);
  return out;
}

const std::set<std::string> kKeywords = {
    "SELECT", "FROM",   "WHERE",   "GROUP", "BY",    "ORDER",  "ASC",     "DESC", "LIMIT",
    "AS",     "AND",    "OR",      "NOT",   "IS",    "NULL",   "IN",      "TRUE", "FALSE",
    "LIKE",   "HAVING", "BETWEEN", "JOIN",  "UNION", "OFFSET", "DISTINCT"};

// The table's own columns, by their API names.
std::optional<std::string_view> column_sql(std::string_view name) {
  if (name == "deviceId") return "device_id";
  if (name == "t") return "t";
  if (name == "receivedAt") return "received_at";
  if (name == "ownerId") return "owner_id";
  return std::nullopt;
}

std::optional<std::int64_t> bucket_size(std::string_view text) {
  static constexpr std::pair<std::string_view, std::int64_t> kSizes[] = {
      {"1s", 1000},     {"10s", 10000},    {"1m", 60000},    {"5m", 300000},
      {"10m", 600000},  {"15m", 900000},   {"30m", 1800000}, {"1h", 3600000},
      {"6h", 21600000}, {"12h", 43200000}, {"1d", 86400000}};
  for (auto [k, v] : kSizes) {
    if (k == text) return v;
  }
  return std::nullopt;
}

class Parser {
 public:
  explicit Parser(std::vector<Token> tokens) : t_(std::move(tokens)) {}

  tl::expected<CompiledQuery, QueryError> query() {
    CompiledQuery q;
    if (!keyword("SELECT")) return fail_here("expected SELECT");
    std::vector<std::string> items;
    if (symbol("*")) {
      q.select_all = true;
      q.columns = {"deviceId", "t", "receivedAt"};
    } else {
      do {
        const std::size_t start = peek().pos;
        aggregate_seen_ = false;
        std::string sql;
        if (auto r = top_expr(sql); !r) return tl::unexpected(r.error());
        const std::size_t end = prev_end_;
        std::string name;
        if (keyword("AS")) {
          if (peek().type != Tok::kIdent && peek().type != Tok::kQuoted) {
            return fail_here("expected a column name after AS");
          }
          if (peek().type == Tok::kIdent && is_keyword(peek().text)) {
            return fail_here("a keyword cannot be a column name: quote it");
          }
          name = next().text;
        } else if ((peek().type == Tok::kIdent && !is_keyword(peek().text)) ||
                   peek().type == Tok::kQuoted) {
          name = next().text;
        } else {
          name = compact(source_.substr(start, end - start));
          // A lone "quoted name" is named without its quotes.
          if (name.size() > 2 && name.front() == '"' && name.back() == '"' &&
              name.find('"', 1) == name.size() - 1) {
            name = name.substr(1, name.size() - 2);
          }
        }
        if (name.size() > 128) return error_at(start, "a column name has at most 128 characters");
        if (std::find(q.columns.begin(), q.columns.end(), name) != q.columns.end()) {
          return error_at(start, fmt::format("two columns are named '{}': name one with AS", name));
        }
        if (q.columns.size() >= kMaxColumns) {
          return error_at(start, fmt::format("at most {} columns", kMaxColumns));
        }
        q.columns.push_back(name);
        items.push_back(std::move(sql));
        item_aggregates_.push_back(aggregate_seen_);
      } while (symbol(","));
    }
    if (!keyword("FROM")) return fail_here("expected FROM");
    if (peek().type != Tok::kIdent || peek().text != "telemetry") {
      return fail_here("the only table is telemetry");
    }
    next();
    std::string where;
    if (keyword("WHERE")) {
      aggregate_seen_ = false;
      const std::size_t at = peek().pos;
      if (auto r = top_expr(where); !r) return tl::unexpected(r.error());
      if (aggregate_seen_) return error_at(at, "aggregate functions are not allowed in WHERE");
    }
    std::vector<std::string> group;
    const std::size_t group_at = peek().pos;
    if (keyword("GROUP")) {
      if (!keyword("BY")) return fail_here("expected BY");
      if (q.select_all) return error_at(group_at, "SELECT * cannot be grouped: name the columns");
      do {
        std::string sql;
        if (auto r = order_item(sql, q.columns.size(), false); !r) return tl::unexpected(r.error());
        group.push_back(std::move(sql));
      } while (symbol(","));
    }
    std::vector<std::string> order;
    if (keyword("ORDER")) {
      if (!keyword("BY")) return fail_here("expected BY");
      // An aggregate may order the groups of an aggregate query only: anywhere else SQLite
      // refuses it ("misuse of aggregate"), so the compiler must (a fuzz finding).
      const bool aggregate_query =
          !group.empty() || std::find(item_aggregates_.begin(), item_aggregates_.end(), true) !=
                                item_aggregates_.end();
      do {
        std::string sql;
        const std::size_t at = peek().pos;
        aggregate_seen_ = false;
        if (auto r = order_item(sql, q.select_all ? 0 : q.columns.size(), true); !r) {
          return tl::unexpected(r.error());
        }
        if (aggregate_seen_ && !aggregate_query) {
          return error_at(at,
                          "aggregate functions in ORDER BY need GROUP BY or an aggregate column");
        }
        order.push_back(std::move(sql));
      } while (symbol(","));
    }
    std::optional<std::int64_t> limit;
    if (keyword("LIMIT")) {
      const Token& n = peek();
      std::int64_t v = 0;
      auto [p, ec] = std::from_chars(n.text.data(), n.text.data() + n.text.size(), v);
      if (n.type != Tok::kNumber || ec != std::errc() || p != n.text.data() + n.text.size() ||
          v < 1 || v > kMaxQueryLimit) {
        return fail_here(fmt::format("LIMIT takes an integer from 1 to {}", kMaxQueryLimit));
      }
      next();
      limit = v;
    }
    symbol(";");
    if (peek().type != Tok::kEnd) return fail_here("unexpected text after the query");

    // Parameters ?1 and ?2 are the window; the literals were numbered from ?3 as they came.
    const std::string window = "id > ?1 AND id <= ?2";
    const std::string filter = where.empty() ? window : window + " AND (" + where + ")";
    std::string select;
    if (q.select_all) {
      select = "device_id, t, received_at, payload";
      // The filter runs inside a subquery: json_each() has columns of its own (id, key, ...).
      q.attributes_sql = "SELECT DISTINCT j.key FROM (SELECT payload FROM telemetry WHERE " +
                         filter + ") AS r, json_each(r.payload) AS j ORDER BY 1";
    } else {
      for (std::size_t i = 0; i < items.size(); ++i) {
        if (i) select += ", ";
        select += items[i];
      }
    }
    q.sql = "SELECT " + select + " FROM telemetry WHERE " + filter;
    if (!group.empty()) q.sql += " GROUP BY " + join(group);
    if (!order.empty()) {
      q.sql += " ORDER BY " + join(order);
    } else if (group.empty()) {
      q.sql += " ORDER BY id";  // the order rows were stored in
    }
    if (limit) q.sql += " LIMIT " + std::to_string(*limit);  // a validated integer
    q.params = std::move(params_);
    return q;
  }

  void set_source(std::string_view s) { source_ = s; }

 private:
  using Step = tl::expected<void, QueryError>;

  static std::string join(const std::vector<std::string>& parts) {
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
      if (i) out += ", ";
      out += parts[i];
    }
    return out;
  }
  // The source text of an item with runs of white space made one space.
  static std::string compact(std::string_view s) {
    std::string out;
    bool space = false;
    for (char c : s) {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        space = !out.empty();
        continue;
      }
      if (space) out += ' ';
      space = false;
      out += c;
    }
    return out;
  }
  static bool is_keyword(const std::string& word) { return kKeywords.count(upper(word)) != 0; }

  const Token& peek(std::size_t ahead = 0) const { return t_[std::min(i_ + ahead, t_.size() - 1)]; }
  const Token& next() {
    const Token& tok = t_[i_];
    prev_pos_ = tok.pos;
    prev_end_ = tok.pos + token_length(tok);
    if (i_ + 1 < t_.size()) ++i_;
    return tok;
  }
  std::size_t token_length(const Token& tok) const {
    // Strings and quoted names: find the closing quote again in the source.
    if (tok.type == Tok::kString || tok.type == Tok::kQuoted) {
      const char q = tok.type == Tok::kString ? '\'' : '"';
      std::size_t j = tok.pos + 1;
      while (j < source_.size()) {
        if (source_[j] == q) {
          if (q == '\'' && j + 1 < source_.size() && source_[j + 1] == '\'') {
            j += 2;
            continue;
          }
          return j + 1 - tok.pos;
        }
        ++j;
      }
      return source_.size() - tok.pos;
    }
    return tok.text.size();
  }
  bool keyword(std::string_view word) {
    if (peek().type == Tok::kIdent && upper(peek().text) == word) {
      next();
      return true;
    }
    return false;
  }
  bool peek_keyword(std::string_view word, std::size_t ahead = 0) const {
    return peek(ahead).type == Tok::kIdent && upper(peek(ahead).text) == word;
  }
  bool symbol(std::string_view s) {
    if (peek().type == Tok::kSymbol && peek().text == s) {
      next();
      return true;
    }
    return false;
  }
  Fail fail_here(std::string message) const {
    std::string found = peek().type == Tok::kEnd ? "the end" : "'" + peek().text + "'";
    return error_at(peek().pos, message + ", found " + found);
  }
  std::string param(Literal v) {
    params_.push_back(std::move(v));
    return "?" + std::to_string(params_.size() + 2);
  }

  // GROUP BY / ORDER BY item: a column number (1..columns) or an expression.
  Step order_item(std::string& out, std::size_t columns, bool direction) {
    const Token& tok = peek();
    const bool ordinal =
        tok.type == Tok::kNumber && std::all_of(tok.text.begin(), tok.text.end(), digit) &&
        (peek(1).type == Tok::kEnd ||
         (peek(1).type == Tok::kSymbol && (peek(1).text == "," || peek(1).text == ";")) ||
         peek_keyword("ASC", 1) || peek_keyword("DESC", 1) || peek_keyword("LIMIT", 1) ||
         peek_keyword("ORDER", 1));
    if (ordinal) {
      std::size_t n = 0;
      auto [p, ec] = std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), n);
      if (ec != std::errc() || n < 1 || n > columns) {
        return fail_here(columns ? fmt::format("a column number is 1 to {}", columns)
                                 : std::string("no column numbers with SELECT *"));
      }
      if (!direction && n <= item_aggregates_.size() && item_aggregates_[n - 1]) {
        return fail_here(fmt::format("column {} is an aggregate: it cannot be grouped by", n));
      }
      next();
      out = std::to_string(n);
    } else {
      aggregate_seen_ = false;
      const std::size_t at = peek().pos;
      if (auto r = top_expr(out); !r) return r;
      // SQLite: "aggregate functions are not allowed in the GROUP BY clause".
      if (!direction && aggregate_seen_) {
        return error_at(at, "aggregate functions are not allowed in GROUP BY");
      }
    }
    if (direction) {
      if (keyword("DESC")) {
        out += " DESC";
      } else if (keyword("ASC")) {
        out += " ASC";
      }
    }
    return {};
  }

  // SQLite's parser refuses SQL nested some 30 levels deep ("parser stack overflow"). Every
  // operator and call this compiler writes is parenthesized (chains flat), so the emitted text's
  // parenthesis depth is its nesting: too deep a query is refused here, with its position,
  // before SQLite sees it.
  Step top_expr(std::string& out) {
    const std::size_t at = peek().pos;
    if (auto r = expr(out, 0); !r) return r;
    std::size_t level = 0, deepest = 0;
    for (char c : out) {
      if (c == '(') deepest = std::max(deepest, ++level);
      if (c == ')') --level;
    }
    if (deepest > kMaxExpressionDepth) {
      return error_at(
          at, fmt::format("an expression is nested more than {} levels deep", kMaxExpressionDepth));
    }
    return {};
  }

  Step deeper(std::size_t depth) {
    if (depth > kMaxQueryDepth) {
      return error_at(peek().pos, fmt::format("nested deeper than {} levels", kMaxQueryDepth));
    }
    return {};
  }

  Step expr(std::string& out, std::size_t depth) { return disjunction(out, depth); }

  Step disjunction(std::string& out, std::size_t depth) {
    if (auto r = deeper(depth); !r) return r;
    if (auto r = conjunction(out, depth + 1); !r) return r;
    // Chains are written flat, "(a OR b OR c)": SQLite's parser stack takes nesting only some
    // 30 levels deep, and a left-nested chain would be as deep as it is long.
    bool chained = false;
    while (keyword("OR")) {
      std::string rhs;
      if (auto r = conjunction(rhs, depth + 1); !r) return r;
      out += " OR " + rhs;
      chained = true;
    }
    if (chained) out = "(" + out + ")";
    return {};
  }

  Step conjunction(std::string& out, std::size_t depth) {
    if (auto r = negation(out, depth); !r) return r;
    bool chained = false;
    while (keyword("AND")) {
      std::string rhs;
      if (auto r = negation(rhs, depth); !r) return r;
      out += " AND " + rhs;
      chained = true;
    }
    if (chained) out = "(" + out + ")";
    return {};
  }

  Step negation(std::string& out, std::size_t depth) {
    if (keyword("NOT")) {
      if (auto r = deeper(depth + 1); !r) return r;
      std::string inner;
      if (auto r = negation(inner, depth + 1); !r) return r;
      out = "(NOT " + inner + ")";
      return {};
    }
    return test(out, depth);
  }

  Step test(std::string& out, std::size_t depth) {
    if (auto r = sum(out, depth); !r) return r;
    if (peek().type == Tok::kSymbol) {
      static constexpr std::pair<std::string_view, std::string_view> kOps[] = {
          {"=", "="}, {"==", "="},  {"!=", "<>"}, {"<>", "<>"},
          {"<", "<"}, {"<=", "<="}, {">", ">"},   {">=", ">="}};
      for (auto [text, sql] : kOps) {
        if (peek().text == text) {
          next();
          std::string rhs;
          if (auto r = sum(rhs, depth); !r) return r;
          out = "(" + out + " " + std::string(sql) + " " + rhs + ")";
          return {};
        }
      }
      return {};
    }
    if (keyword("IS")) {
      const bool negated = keyword("NOT");
      if (!keyword("NULL")) return fail_here("expected NULL after IS");
      out = "(" + out + (negated ? " IS NOT NULL)" : " IS NULL)");
      return {};
    }
    bool negated = false;
    if (peek_keyword("NOT") &&
        (peek_keyword("IN", 1) || peek_keyword("BETWEEN", 1) || peek_keyword("LIKE", 1))) {
      next();
      negated = true;
    }
    const std::string no = negated ? " NOT" : "";
    if (keyword("IN")) {
      if (!symbol("(")) return fail_here("expected ( after IN");
      std::string list;
      std::size_t n = 0;
      do {
        std::string item;
        if (auto r = expr(item, depth + 1); !r) return r;
        if (++n > 1000) return error_at(prev_pos_, "at most 1000 values in IN (...)");
        list += (list.empty() ? "" : ", ") + item;
      } while (symbol(","));
      if (!symbol(")")) return fail_here("expected ) to close IN (...)");
      out = "(" + out + no + " IN (" + list + "))";
    } else if (keyword("BETWEEN")) {
      std::string low, high;
      if (auto r = sum(low, depth); !r) return r;
      if (!keyword("AND")) return fail_here("expected AND in BETWEEN");
      if (auto r = sum(high, depth); !r) return r;
      out = "(" + out + no + " BETWEEN " + low + " AND " + high + ")";
    } else if (keyword("LIKE")) {
      std::string pattern;
      if (auto r = sum(pattern, depth); !r) return r;
      out = "(" + out + no + " LIKE " + pattern + ")";
    }
    return {};
  }

  Step sum(std::string& out, std::size_t depth) {
    if (auto r = product(out, depth); !r) return r;
    bool chained = false;  // flat, as in disjunction(): + and - are left-associative in SQLite
    while (peek().type == Tok::kSymbol && (peek().text == "+" || peek().text == "-")) {
      const std::string op = next().text;
      std::string rhs;
      if (auto r = product(rhs, depth); !r) return r;
      out += " " + op + " " + rhs;
      chained = true;
    }
    if (chained) out = "(" + out + ")";
    return {};
  }

  Step product(std::string& out, std::size_t depth) {
    if (auto r = unary(out, depth); !r) return r;
    bool chained = false;
    while (peek().type == Tok::kSymbol &&
           (peek().text == "*" || peek().text == "/" || peek().text == "%")) {
      const std::string op = next().text;
      std::string rhs;
      if (auto r = unary(rhs, depth); !r) return r;
      // Real division: "a * 1.0 / b" ((a * 1.0) / b, left-associative), flat like the others.
      out += op == "/" ? " * 1.0 / " + rhs : " " + op + " " + rhs;
      chained = true;
    }
    if (chained) out = "(" + out + ")";
    return {};
  }

  Step unary(std::string& out, std::size_t depth) {
    if (peek().type == Tok::kSymbol && (peek().text == "-" || peek().text == "+")) {
      const std::string op = next().text;
      if (auto r = deeper(depth + 1); !r) return r;
      std::string inner;
      if (auto r = unary(inner, depth + 1); !r) return r;
      out = op == "-" ? "(- " + inner + ")" : inner;
      return {};
    }
    return primary(out, depth);
  }

  Step primary(std::string& out, std::size_t depth) {
    const Token tok = peek();
    switch (tok.type) {
      case Tok::kEnd:
        return fail_here("expected a value");
      case Tok::kNumber: {
        next();
        const bool integer = std::all_of(tok.text.begin(), tok.text.end(), digit);
        std::int64_t i = 0;
        auto [p, ec] = std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), i);
        if (integer && ec == std::errc() && p == tok.text.data() + tok.text.size()) {
          out = param(i);
        } else {
          double d = 0;
          auto [q, e2] = std::from_chars(tok.text.data(), tok.text.data() + tok.text.size(), d);
          if (e2 != std::errc() || q != tok.text.data() + tok.text.size() || !std::isfinite(d)) {
            return error_at(tok.pos, "number out of range");
          }
          out = param(d);
        }
        return {};
      }
      case Tok::kString:
        next();
        if (tok.text.size() > 1024) return error_at(tok.pos, "a string has at most 1024 bytes");
        out = param(tok.text);
        return {};
      case Tok::kQuoted:
        next();
        out = "json_extract(payload, " + param("$.\"" + tok.text + "\"") + ")";
        return {};
      case Tok::kSymbol:
        if (tok.text == "(") {
          next();
          if (auto r = deeper(depth + 1); !r) return r;
          std::string inner;
          if (auto r = expr(inner, depth + 1); !r) return r;
          if (!symbol(")")) return fail_here("expected )");
          // Every operator's text is parenthesized already: the query's own parentheses would
          // only nest the SQL deeper.
          out = std::move(inner);
          return {};
        }
        return fail_here("expected a value");
      case Tok::kIdent:
        break;
    }
    const std::string word = upper(tok.text);
    if (word == "NULL" || word == "TRUE" || word == "FALSE") {
      next();
      out = word == "NULL" ? "NULL" : word == "TRUE" ? "1" : "0";
      return {};
    }
    if (peek(1).type == Tok::kSymbol && peek(1).text == "(") return call(out, depth);
    if (is_keyword(tok.text)) return fail_here("expected a value");
    // A name: a column of the table, or a path into the message.
    next();
    std::string path = tok.text;
    while (peek().type == Tok::kSymbol && peek().text == "." && peek(1).type == Tok::kIdent) {
      next();
      path += ".";
      path += next().text;
    }
    if (path.size() > 256) return error_at(tok.pos, "a name has at most 256 characters");
    if (auto col = column_sql(path)) {
      out = std::string(*col);
      return {};
    }
    std::string json_path = "$";
    std::size_t start = 0;
    while (start <= path.size()) {
      std::size_t dot = path.find('.', start);
      if (dot == std::string::npos) dot = path.size();
      json_path += ".\"" + path.substr(start, dot - start) + "\"";
      start = dot + 1;
    }
    out = "json_extract(payload, " + param(json_path) + ")";
    return {};
  }

  Step call(std::string& out, std::size_t depth) {
    const Token name_tok = next();
    next();  // (
    const std::string fn = upper(name_tok.text);
    if (auto r = deeper(depth + 1); !r) return r;
    static const std::set<std::string> kAggregates = {"COUNT", "SUM", "AVG", "MIN", "MAX"};
    const bool aggregate = kAggregates.count(fn) != 0;
    const bool was_in_aggregate = in_aggregate_;
    std::vector<std::string> args;
    if (fn == "COUNT" && peek().type == Tok::kSymbol && peek().text == "*") {
      next();
      if (!symbol(")")) return fail_here("expected ) after count(*");
      if (in_aggregate_) return error_at(name_tok.pos, "aggregates cannot be nested");
      aggregate_seen_ = true;
      out = "count(*)";
      return {};
    }
    // Inside an aggregate's arguments another aggregate is an error (SQLite's "misuse").
    if (aggregate && in_aggregate_) return error_at(name_tok.pos, "aggregates cannot be nested");
    if (aggregate) in_aggregate_ = true;
    if (!(peek().type == Tok::kSymbol && peek().text == ")")) {
      do {
        std::string a;
        if (auto r = expr(a, depth + 1); !r) return r;
        args.push_back(std::move(a));
        if (args.size() > 32) return error_at(name_tok.pos, "at most 32 arguments");
      } while (symbol(","));
    }
    in_aggregate_ = was_in_aggregate;
    if (!symbol(")")) return fail_here("expected ) or ,");
    auto arity = [&](std::size_t lo, std::size_t hi) -> Step {
      if (args.size() < lo || args.size() > hi) {
        return error_at(name_tok.pos, lo == hi ? fmt::format("{}() takes {} argument{}",
                                                             name_tok.text, lo, lo == 1 ? "" : "s")
                                               : fmt::format("{}() takes {} to {} arguments",
                                                             name_tok.text, lo, hi));
      }
      return {};
    };
    auto simple = [&](std::string_view sql_name) {
      out = std::string(sql_name) + "(" + join(args) + ")";
    };
    if (aggregate) {
      if ((fn == "MIN" || fn == "MAX") && args.size() > 1) {  // min(a, b, ...): the scalar form
        simple(fn == "MIN" ? "min" : "max");
        return {};
      }
      if (auto r = arity(1, 1); !r) return r;
      aggregate_seen_ = true;
      static const std::pair<std::string_view, std::string_view> kNames[] = {
          {"COUNT", "count"}, {"SUM", "sum"}, {"AVG", "avg"}, {"MIN", "min"}, {"MAX", "max"}};
      for (auto [k, v] : kNames) {
        if (k == fn) simple(v);
      }
      return {};
    }
    if (fn == "ROUND") {
      if (auto r = arity(1, 2); !r) return r;
      simple("round");
    } else if (fn == "ABS" || fn == "FLOOR" || fn == "CEIL" || fn == "LOWER" || fn == "UPPER" ||
               fn == "LENGTH") {
      if (auto r = arity(1, 1); !r) return r;
      std::string lower_name = fn;
      for (auto& c : lower_name) c = static_cast<char>(c - 'A' + 'a');
      simple(lower_name);
    } else if (fn == "COALESCE") {
      if (auto r = arity(2, 32); !r) return r;
      simple("coalesce");
    } else if (fn == "ISO") {
      if (auto r = arity(1, 1); !r) return r;
      out = "strftime('%Y-%m-%dT%H:%M:%fZ', " + args[0] + " / 1000.0, 'unixepoch')";
    } else if (fn == "BUCKET") {
      if (auto r = arity(2, 2); !r) return r;
      // The size must be a literal: it was bound as the last parameter; take it back as text.
      std::optional<std::int64_t> size;
      if (!params_.empty() && args[1] == "?" + std::to_string(params_.size() + 2)) {
        const Literal& size_param = params_.back();
        if (auto* s = std::get_if<std::string>(&size_param)) size = bucket_size(*s);
        if (auto* i = std::get_if<std::int64_t>(&size_param);
            i && *i >= 1 && *i <= 31'622'400'000) {
          size = *i;
        }
      }
      if (!size) {
        return error_at(name_tok.pos,
                        "bucket(ms, size): size is '1s', '10s', '1m', '5m', '10m', '15m', '30m', "
                        "'1h', '6h', '12h', '1d' or a number of milliseconds");
      }
      params_.pop_back();
      const std::string n = std::to_string(*size);
      out = "((CAST(" + args[0] + " AS INTEGER) / " + n + ") * " + n + ")";
    } else {
      return error_at(name_tok.pos, fmt::format("unknown function {}()", name_tok.text));
    }
    return {};
  }

  std::vector<Token> t_;
  std::size_t i_ = 0;
  std::size_t prev_pos_ = 0;
  std::size_t prev_end_ = 0;
  std::string_view source_;
  std::vector<Literal> params_;
  bool aggregate_seen_ = false;
  bool in_aggregate_ = false;
  std::vector<bool> item_aggregates_;  // per select item: holds an aggregate
};

}  // namespace

std::string QueryError::to_string() const {
  return fmt::format("column {}: {}", position + 1, message);
}

tl::expected<CompiledQuery, QueryError> compile_query(std::string_view text) {
  if (text.size() > kMaxQueryLength) {
    return error_at(kMaxQueryLength, fmt::format("a query has at most {} bytes", kMaxQueryLength));
  }
  auto tokens = tokenize(text);
  if (!tokens) return tl::unexpected(tokens.error());
  Parser parser(std::move(*tokens));
  parser.set_source(text);
  return parser.query();
}

}  // namespace sp::datasets
