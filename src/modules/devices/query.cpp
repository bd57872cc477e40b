#include "smartproduct/devices/query.hpp"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace sp::devices::query {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_segment_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-';
}
// Characters that end an unquoted value (besides white space).
bool ends_word(char c) {
  return c == '(' || c == ')' || c == '"' || c == '[' || c == ']' || c == '{' || c == '}';
}

std::optional<double> number_of(std::string_view text) {
  if (text.empty() || text.size() > 64) return std::nullopt;
  // strtod accepts hex, inf and nan, which the query language does not: digits, sign, point, e.
  for (char c : text) {
    if (!((c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E')) {
      return std::nullopt;
    }
  }
  const std::string copy(text);
  char* end = nullptr;
  const double v = std::strtod(copy.c_str(), &end);
  if (end != copy.c_str() + copy.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

tl::expected<Field, ParseError> field_of(std::string_view name, std::size_t at) {
  Field f;
  f.name = std::string(name);
  auto unknown = [&]() -> tl::expected<Field, ParseError> {
    return tl::unexpected(ParseError{at, "unknown field '" + std::string(name) + "'"});
  };
  std::vector<std::string> segs;
  std::size_t start = 0;
  while (true) {
    const auto dot = name.find('.', start);
    const auto seg = name.substr(start, dot == std::string_view::npos ? name.npos : dot - start);
    if (seg.empty()) return unknown();
    for (char c : seg) {
      if (!is_segment_char(c)) return unknown();
    }
    segs.emplace_back(seg);
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (segs.size() == 1) {
    if (segs[0] == "thingName")
      f.source = Source::kThingName;
    else if (segs[0] == "deviceName")
      f.source = Source::kDeviceName;
    else if (segs[0] == "modelNumber")
      f.source = Source::kModelNumber;
    else
      return unknown();
    return f;
  }
  if (segs[0] == "connectivity") {
    if (segs.size() != 2 || segs[1] != "connected") return unknown();
    f.source = Source::kConnected;
    return f;
  }
  if (segs[0] == "attributes") {
    if (segs.size() == 2 && segs[1] == "deviceName")
      f.source = Source::kDeviceName;
    else if (segs.size() == 2 && segs[1] == "modelNumber")
      f.source = Source::kModelNumber;
    else if (segs.size() == 2 && segs[1] == "userId")
      f.source = Source::kUserId;
    else {
      f.source = Source::kIndexed;
      f.path = std::move(segs);
    }
    return f;
  }
  if (segs[0] == "shadow") {
    if (segs.size() == 2 && segs[1] == "version") {
      f.source = Source::kIndexed;
      f.path = std::move(segs);
      return f;
    }
    if (segs.size() >= 3 && (segs[1] == "reported" || segs[1] == "desired")) {
      f.source = Source::kIndexed;
      f.path = std::move(segs);
      return f;
    }
  }
  return unknown();
}

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : s_(text), limits_(limits) {}

  tl::expected<Node, ParseError> run() {
    if (s_.size() > limits_.max_length) {
      return fail(limits_.max_length,
                  "query longer than " + std::to_string(limits_.max_length) + " bytes");
    }
    skip_space();
    if (at_end()) return fail(i_, "empty query");
    auto node = parse_or(0);
    if (!node) return node;
    skip_space();
    if (!at_end()) {
      if (s_[i_] == ')') return fail(i_, "unbalanced ')'");
      return fail(i_, "expected AND, OR or the end of the query");
    }
    return node;
  }

  tl::expected<Field, ParseError> field_only() {
    skip_space();
    const auto start = i_;
    while (!at_end() && (is_segment_char(s_[i_]) || s_[i_] == '.')) ++i_;
    if (i_ == start) return tl::unexpected(ParseError{start, "expected a field name"});
    auto f = field_of(s_.substr(start, i_ - start), start);
    if (!f) return f;
    skip_space();
    if (!at_end()) return tl::unexpected(ParseError{i_, "expected the end of the field name"});
    return f;
  }

 private:
  bool at_end() const { return i_ >= s_.size(); }
  void skip_space() {
    while (!at_end() && is_space(s_[i_])) ++i_;
  }
  static tl::unexpected<ParseError> fail(std::size_t at, std::string message) {
    return tl::unexpected(ParseError{at, std::move(message)});
  }
  // A keyword is the upper-case word followed by white space, a parenthesis or the end.
  bool keyword(std::string_view word) const {
    if (s_.substr(i_, word.size()) != word) return false;
    const auto next = i_ + word.size();
    return next >= s_.size() || is_space(s_[next]) || s_[next] == '(' || s_[next] == ')';
  }

  static Node combine(Node::Kind kind, std::vector<Node> children) {
    if (children.size() == 1) return std::move(children.front());
    Node n;
    n.kind = kind;
    // (a AND b) AND c is a AND b AND c: flattening keeps the SQL shallow.
    for (auto& c : children) {
      if (c.kind == kind) {
        for (auto& g : c.children) n.children.push_back(std::move(g));
      } else {
        n.children.push_back(std::move(c));
      }
    }
    return n;
  }

  tl::expected<Node, ParseError> parse_or(int depth) {
    std::vector<Node> parts;
    auto first = parse_and(depth);
    if (!first) return first;
    parts.push_back(std::move(*first));
    while (true) {
      skip_space();
      if (!keyword("OR")) break;
      i_ += 2;
      auto next = parse_and(depth);
      if (!next) return next;
      parts.push_back(std::move(*next));
    }
    return combine(Node::kOr, std::move(parts));
  }

  tl::expected<Node, ParseError> parse_and(int depth) {
    std::vector<Node> parts;
    auto first = parse_unary(depth);
    if (!first) return first;
    parts.push_back(std::move(*first));
    while (true) {
      skip_space();
      if (at_end() || s_[i_] == ')' || keyword("OR")) break;
      if (keyword("AND")) i_ += 3;
      auto next = parse_unary(depth);
      if (!next) return next;
      parts.push_back(std::move(*next));
    }
    return combine(Node::kAnd, std::move(parts));
  }

  tl::expected<Node, ParseError> parse_unary(int depth) {
    skip_space();
    if (at_end()) return fail(i_, "expected a term, NOT or '('");
    if (depth >= limits_.max_depth) {
      return fail(i_, "nested deeper than " + std::to_string(limits_.max_depth) + " levels");
    }
    if (keyword("NOT")) {
      i_ += 3;
      auto inner = parse_unary(depth + 1);
      if (!inner) return inner;
      Node n;
      n.kind = Node::kNot;
      n.children.push_back(std::move(*inner));
      return n;
    }
    if (s_[i_] == '(') {
      const auto open = i_;
      ++i_;
      auto inner = parse_or(depth + 1);
      if (!inner) return inner;
      skip_space();
      if (at_end()) return fail(open, "'(' is not closed");
      if (s_[i_] != ')') return fail(i_, "expected ')'");
      ++i_;
      return inner;
    }
    if (keyword("AND") || keyword("OR")) return fail(i_, "expected a term before this operator");
    return parse_term();
  }

  tl::expected<Node, ParseError> parse_term() {
    const auto start = i_;
    if (++terms_ > limits_.max_terms) {
      return fail(start, "more than " + std::to_string(limits_.max_terms) + " terms");
    }
    while (!at_end() && (is_segment_char(s_[i_]) || s_[i_] == '.')) ++i_;
    if (i_ == start) return fail(start, "expected a field name");
    auto field = field_of(s_.substr(start, i_ - start), start);
    if (!field) return tl::unexpected(field.error());
    Node n;
    n.term.field = std::move(*field);
    n.term.position = start;
    bool colon = false;
    if (!at_end() && s_[i_] == ':') {
      colon = true;
      ++i_;
    }
    if (!at_end() && (s_[i_] == '<' || s_[i_] == '>')) {
      const bool less = s_[i_] == '<';
      ++i_;
      const bool equal = !at_end() && s_[i_] == '=';
      if (equal) ++i_;
      n.term.op = less ? (equal ? Comparison::kLessEqual : Comparison::kLess)
                       : (equal ? Comparison::kGreaterEqual : Comparison::kGreater);
    } else if (!colon) {
      return fail(i_, "expected ':' or a comparison after the field name");
    } else if (!at_end() && (s_[i_] == '[' || s_[i_] == '{')) {
      if (auto r = parse_range(n.term); !r) return tl::unexpected(r.error());
      return check(std::move(n));
    }
    const auto value_at = i_;
    auto value = parse_value();
    if (!value) return tl::unexpected(value.error());
    if (n.term.op != Comparison::kEquals && !value->pattern.empty()) {
      return fail(value_at, "wildcards are only allowed with ':'");
    }
    n.term.value = std::move(*value);
    return check(std::move(n), value_at);
  }

  // Checks what only some fields accept.
  tl::expected<Node, ParseError> check(Node n, std::size_t value_at = 0) {
    if (n.term.field.source == Source::kConnected) {
      const auto& v = n.term.value;
      if (n.term.op != Comparison::kEquals || !v.pattern.empty() ||
          (v.text != "true" && v.text != "false")) {
        return fail(n.term.op == Comparison::kRange ? n.term.position : value_at,
                    "connectivity.connected takes true or false");
      }
    }
    return n;
  }

  tl::expected<void, ParseError> parse_range(Term& term) {
    term.op = Comparison::kRange;
    const bool lower_inclusive = s_[i_] == '[';
    ++i_;
    skip_space();
    auto lower = parse_bound(lower_inclusive);
    if (!lower) return tl::unexpected(lower.error());
    skip_space();
    if (!keyword("TO")) return fail(i_, "expected TO");
    i_ += 2;
    skip_space();
    const auto upper_at = i_;
    // The upper bound's inclusiveness comes from the bracket after it: parse the value first.
    auto upper = parse_bound(true);
    if (!upper) return tl::unexpected(upper.error());
    skip_space();
    if (at_end() || (s_[i_] != ']' && s_[i_] != '}')) return fail(i_, "expected ']' or '}'");
    if (*upper) (*upper)->inclusive = s_[i_] == ']';
    ++i_;
    if (!*lower && !*upper) return fail(upper_at, "a range needs at least one bound");
    term.lower = std::move(*lower);
    term.upper = std::move(*upper);
    return {};
  }

  tl::expected<std::optional<Bound>, ParseError> parse_bound(bool inclusive) {
    if (!at_end() && s_[i_] == '*') {
      const auto next = i_ + 1;
      if (next >= s_.size() || is_space(s_[next]) || s_[next] == ']' || s_[next] == '}') {
        ++i_;
        return std::optional<Bound>{};
      }
    }
    const auto at = i_;
    auto v = parse_value();
    if (!v) return tl::unexpected(v.error());
    if (!v->pattern.empty()) return fail(at, "wildcards are not allowed in a range");
    return std::optional<Bound>(Bound{std::move(*v), inclusive});
  }

  tl::expected<Value, ParseError> parse_value() {
    Value v;
    if (at_end() || is_space(s_[i_])) return fail(i_, "expected a value");
    if (s_[i_] == '"') {
      const auto open = i_;
      ++i_;
      while (true) {
        if (at_end()) return fail(open, "unterminated quoted string");
        const char c = s_[i_++];
        if (c == '"') break;
        if (c == '\\') {
          if (at_end()) return fail(open, "unterminated quoted string");
          v.text += s_[i_++];
        } else {
          v.text += c;
        }
      }
      return v;
    }
    const auto start = i_;
    bool wildcard = false;
    std::string literal;  // the current literal piece
    auto flush = [&] {
      if (!literal.empty()) {
        v.pattern.push_back({PatternPiece::kLiteral, literal});
        literal.clear();
      }
    };
    while (!at_end() && !is_space(s_[i_]) && !ends_word(s_[i_])) {
      const char c = s_[i_++];
      if (c == '\\') {
        if (at_end()) return fail(i_ - 1, "'\\' at the end of the query");
        literal += s_[i_];
        v.text += s_[i_++];
      } else if (c == '*' || c == '?') {
        wildcard = true;
        flush();
        v.pattern.push_back({c == '*' ? PatternPiece::kAnyString : PatternPiece::kAnyChar, {}});
      } else {
        literal += c;
        v.text += c;
      }
    }
    if (i_ == start) return fail(start, "expected a value");
    if (wildcard) {
      flush();
    } else {
      v.pattern.clear();
      v.number = number_of(s_.substr(start, i_ - start));
    }
    return v;
  }

  std::string_view s_;
  const Limits& limits_;
  std::size_t i_ = 0;
  int terms_ = 0;
};

std::string quote(const std::string& text) {
  std::string out = "\"";
  for (char c : text) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + '"';
}

std::string value_text(const Value& v) {
  if (v.pattern.empty()) return v.number ? v.text : quote(v.text);
  std::string out;
  for (const auto& p : v.pattern) {
    if (p.kind == PatternPiece::kAnyString) {
      out += '*';
    } else if (p.kind == PatternPiece::kAnyChar) {
      out += '?';
    } else {
      for (char c : p.text) {
        // At the value's start, < > [ { would read as a comparison or a range after ':'.
        const bool opens = out.empty() && (c == '<' || c == '>' || c == '[' || c == '{');
        if (opens || is_space(c) || ends_word(c) || c == '*' || c == '?' || c == '\\') out += '\\';
        out += c;
      }
    }
  }
  return out;
}

}  // namespace

tl::expected<Node, ParseError> parse(std::string_view text, const Limits& limits) {
  return Parser(text, limits).run();
}

tl::expected<Field, ParseError> parse_field(std::string_view text) {
  const Limits limits;
  if (text.size() > 256) return tl::unexpected(ParseError{256, "field name too long"});
  return Parser(text, limits).field_only();
}

std::string to_string(const Node& node) {
  switch (node.kind) {
    case Node::kTerm: {
      const auto& t = node.term;
      switch (t.op) {
        case Comparison::kEquals:
          return t.field.name + ":" + value_text(t.value);
        case Comparison::kLess:
          return t.field.name + "<" + value_text(t.value);
        case Comparison::kLessEqual:
          return t.field.name + "<=" + value_text(t.value);
        case Comparison::kGreater:
          return t.field.name + ">" + value_text(t.value);
        case Comparison::kGreaterEqual:
          return t.field.name + ">=" + value_text(t.value);
        case Comparison::kRange: {
          std::string out = t.field.name + ":";
          out += (!t.lower || t.lower->inclusive) ? "[" : "{";
          out += t.lower ? value_text(t.lower->value) : "*";
          out += " TO ";
          out += t.upper ? value_text(t.upper->value) : "*";
          out += (!t.upper || t.upper->inclusive) ? "]" : "}";
          return out;
        }
      }
      return {};
    }
    case Node::kNot:
      return "NOT " + to_string(node.children.front());
    case Node::kAnd:
    case Node::kOr: {
      std::string out = "(";
      for (std::size_t i = 0; i < node.children.size(); ++i) {
        if (i > 0) out += node.kind == Node::kAnd ? " AND " : " OR ";
        out += to_string(node.children[i]);
      }
      return out + ")";
    }
  }
  return {};
}

}  // namespace sp::devices::query
