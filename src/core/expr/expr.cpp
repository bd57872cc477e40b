// sp_expr: compiler (recursive descent with a depth limit) to a flat postfix program, and a
// stack evaluator without recursion. See smartproduct/expr/expr.hpp for the language.

#include "smartproduct/expr/expr.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstring>
#include <deque>

#include <nlohmann/json.hpp>

namespace sp::expr {

namespace {

enum class Op : std::uint8_t {
  kConst,
  kField,
  kNeg,
  kNot,
  kAdd,
  kSub,
  kMul,
  kDiv,
  kMod,
  kEq,
  kNe,
  kLt,
  kLe,
  kGt,
  kGe,
  kAnd,
  kOr,
  kCall,
};

enum class Fn : std::uint8_t {
  kRound,
  kAbs,
  kFloor,
  kCeil,
  kMin,
  kMax,
  kCoalesce,
  kNum,
  kStr,
  kLen,
  kLower,
  kUpper,
  kContains,
  kStartsWith,
  kEndsWith,
  kConcat,
  kNow,
  kIso,
  kHour,
  kWeekday,
  kDay,
};

struct FnInfo {
  std::string_view name;
  Fn fn;
  std::uint8_t min_args;
  std::uint8_t max_args;  // 255: any
};

constexpr FnInfo kFunctions[] = {
    {"round", Fn::kRound, 1, 2},
    {"abs", Fn::kAbs, 1, 1},
    {"floor", Fn::kFloor, 1, 1},
    {"ceil", Fn::kCeil, 1, 1},
    {"min", Fn::kMin, 1, 255},
    {"max", Fn::kMax, 1, 255},
    {"coalesce", Fn::kCoalesce, 1, 255},
    {"num", Fn::kNum, 1, 1},
    {"str", Fn::kStr, 1, 1},
    {"len", Fn::kLen, 1, 1},
    {"lower", Fn::kLower, 1, 1},
    {"upper", Fn::kUpper, 1, 1},
    {"contains", Fn::kContains, 2, 2},
    {"startswith", Fn::kStartsWith, 2, 2},
    {"endswith", Fn::kEndsWith, 2, 2},
    {"concat", Fn::kConcat, 1, 255},
    {"now", Fn::kNow, 0, 0},
    {"iso", Fn::kIso, 1, 1},
    {"hour", Fn::kHour, 1, 1},
    {"weekday", Fn::kWeekday, 1, 1},
    {"day", Fn::kDay, 1, 1},
};

struct Instr {
  Op op;
  std::uint8_t argc = 0;    // kCall
  Fn fn = Fn::kRound;       // kCall
  std::uint32_t index = 0;  // kConst: constant, kField: field
};

}  // namespace

struct Program::Impl {
  std::string text;
  std::vector<Instr> code;
  std::vector<Value> constants;     // strings point into `strings`
  std::deque<std::string> strings;  // stable addresses
  std::vector<std::string> fields;  // field paths, once each
  std::size_t max_stack = 0;

  void relink(const Impl& other) {
    // Copying a program: string constants must point into this copy's own storage.
    strings = other.strings;
    constants = other.constants;
    std::size_t s = 0;
    for (auto& c : constants) {
      if (c.type == Value::Type::kString) c.string = strings[s++];
    }
  }
};

struct Evaluator::Impl {
  std::vector<Value> stack;
  std::deque<std::string> scratch;
  std::size_t scratch_used = 0;

  std::string& fresh() {
    if (scratch_used == scratch.size()) scratch.emplace_back();
    std::string& s = scratch[scratch_used++];
    s.clear();
    return s;
  }
};

namespace {

bool is_ident_start(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool is_ident_char(char c) { return is_ident_start(c) || (c >= '0' && c <= '9'); }
bool is_digit(char c) { return c >= '0' && c <= '9'; }

class Compiler {
 public:
  Compiler(std::string_view text, Program::Impl& out) : text_(text), out_(out) {}

  std::optional<ParseError> run() {
    if (text_.size() > kMaxLength) {
      return ParseError{kMaxLength,
                        "expression longer than " + std::to_string(kMaxLength) + " characters"};
    }
    skip_space();
    if (pos_ == text_.size()) return ParseError{pos_, "empty expression"};
    if (!parse_or()) return error_;
    skip_space();
    if (pos_ != text_.size()) return fail(pos_, "unexpected '" + std::string(1, text_[pos_]) + "'");
    out_.max_stack = max_height_;
    return std::nullopt;
  }

 private:
  bool fail_at(std::size_t pos, std::string message) {
    if (!error_) error_ = ParseError{pos, std::move(message)};
    return false;
  }
  std::optional<ParseError> fail(std::size_t pos, std::string message) {
    fail_at(pos, std::move(message));
    return error_;
  }

  void skip_space() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r'))
      ++pos_;
  }

  // Consumes `token` (after spaces) when it is next; words must not continue as identifiers.
  bool accept(std::string_view token) {
    skip_space();
    if (text_.substr(pos_, token.size()) != token) return false;
    if (is_ident_start(token[0]) && pos_ + token.size() < text_.size() &&
        is_ident_char(text_[pos_ + token.size()]))
      return false;
    pos_ += token.size();
    return true;
  }

  void emit(Instr i, int stack_delta) {
    out_.code.push_back(i);
    height_ += stack_delta;
    max_height_ = std::max(max_height_, height_);
  }
  void emit_op(Op op) { emit(Instr{op}, (op == Op::kNeg || op == Op::kNot) ? 0 : -1); }

  bool enter() {
    if (++depth_ > kMaxDepth) {
      return fail_at(pos_,
                     "expression nested deeper than " + std::to_string(kMaxDepth) + " levels");
    }
    return true;
  }

  bool parse_or() {
    if (!enter()) return false;
    if (!parse_and()) return false;
    for (;;) {
      if (accept("||") || accept("or")) {
        if (!parse_and()) return false;
        emit_op(Op::kOr);
      } else {
        break;
      }
    }
    --depth_;
    return true;
  }

  bool parse_and() {
    if (!parse_not()) return false;
    for (;;) {
      if (accept("&&") || accept("and")) {
        if (!parse_not()) return false;
        emit_op(Op::kAnd);
      } else {
        break;
      }
    }
    return true;
  }

  bool parse_not() {
    skip_space();
    if ((text_.substr(pos_, 2) != "!=" && accept("!")) || accept("not")) {
      if (!enter()) return false;
      if (!parse_not()) return false;
      --depth_;
      emit_op(Op::kNot);
      return true;
    }
    return parse_comparison();
  }

  bool parse_comparison() {
    if (!parse_sum()) return false;
    static constexpr std::pair<std::string_view, Op> kOps[] = {{"==", Op::kEq}, {"!=", Op::kNe},
                                                               {"<=", Op::kLe}, {">=", Op::kGe},
                                                               {"<", Op::kLt},  {">", Op::kGt}};
    for (auto [tok, op] : kOps) {
      if (accept(tok)) {
        if (!parse_sum()) return false;
        emit_op(op);
        skip_space();
        for (auto [tok2, op2] : kOps) {
          (void)op2;
          if (text_.substr(pos_, tok2.size()) == tok2) {
            return fail_at(pos_, "comparisons do not chain: use and");
          }
        }
        return true;
      }
    }
    return true;
  }

  bool parse_sum() {
    if (!parse_product()) return false;
    for (;;) {
      if (accept("+")) {
        if (!parse_product()) return false;
        emit_op(Op::kAdd);
      } else if (accept("-")) {
        if (!parse_product()) return false;
        emit_op(Op::kSub);
      } else {
        return true;
      }
    }
  }

  bool parse_product() {
    if (!parse_unary()) return false;
    for (;;) {
      if (accept("*")) {
        if (!parse_unary()) return false;
        emit_op(Op::kMul);
      } else if (accept("/")) {
        if (!parse_unary()) return false;
        emit_op(Op::kDiv);
      } else if (accept("%")) {
        if (!parse_unary()) return false;
        emit_op(Op::kMod);
      } else {
        return true;
      }
    }
  }

  bool parse_unary() {
    if (accept("-")) {
      if (!enter()) return false;
      if (!parse_unary()) return false;
      --depth_;
      emit_op(Op::kNeg);
      return true;
    }
    return parse_primary();
  }

  std::uint32_t add_constant(Value v) {
    out_.constants.push_back(v);
    return static_cast<std::uint32_t>(out_.constants.size() - 1);
  }

  bool parse_primary() {
    skip_space();
    if (pos_ >= text_.size()) return fail_at(pos_, "unexpected end of expression");
    const char c = text_[pos_];
    if (is_digit(c) || (c == '.' && pos_ + 1 < text_.size() && is_digit(text_[pos_ + 1]))) {
      return parse_number();
    }
    if (c == '\'' || c == '"') return parse_string(c);
    if (c == '(') {
      const std::size_t open = pos_++;
      if (!parse_or()) return false;
      if (!accept(")")) {
        skip_space();
        return fail_at(pos_, pos_ == text_.size()
                                 ? "missing ')' for the '(' at column " + std::to_string(open + 1)
                                 : "expected ')'");
      }
      return true;
    }
    if (is_ident_start(c)) return parse_name();
    return fail_at(pos_, "unexpected '" + std::string(1, c) + "'");
  }

  bool parse_number() {
    const std::size_t start = pos_;
    while (pos_ < text_.size() && (is_digit(text_[pos_]) || text_[pos_] == '.')) ++pos_;
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      while (pos_ < text_.size() && is_digit(text_[pos_])) ++pos_;
    }
    double v = 0;
    auto [end, ec] = std::from_chars(text_.data() + start, text_.data() + pos_, v);
    if (ec != std::errc() || end != text_.data() + pos_ || !std::isfinite(v)) {
      return fail_at(start, "invalid number");
    }
    if (pos_ < text_.size() && is_ident_start(text_[pos_])) {
      return fail_at(pos_, "unexpected '" + std::string(1, text_[pos_]) + "' after a number");
    }
    emit(Instr{Op::kConst, 0, Fn::kRound, add_constant(Value::of(v))}, 1);
    return true;
  }

  bool parse_string(char quote) {
    const std::size_t start = pos_++;
    std::string s;
    for (;;) {
      if (pos_ >= text_.size()) return fail_at(start, "unterminated string");
      char c = text_[pos_++];
      if (c == quote) break;
      if (c == '\\') {
        if (pos_ >= text_.size()) return fail_at(start, "unterminated string");
        char e = text_[pos_++];
        switch (e) {
          case 'n':
            s.push_back('\n');
            break;
          case 't':
            s.push_back('\t');
            break;
          case '\\':
            s.push_back('\\');
            break;
          case '\'':
            s.push_back('\'');
            break;
          case '"':
            s.push_back('"');
            break;
          default:
            return fail_at(pos_ - 2, "unknown escape '\\" + std::string(1, e) + "'");
        }
      } else {
        s.push_back(c);
      }
    }
    out_.strings.push_back(std::move(s));
    emit(Instr{Op::kConst, 0, Fn::kRound,
               add_constant(Value::of(std::string_view(out_.strings.back())))},
         1);
    return true;
  }

  bool parse_name() {
    const std::size_t start = pos_;
    for (;;) {
      while (pos_ < text_.size() && is_ident_char(text_[pos_])) ++pos_;
      if (pos_ < text_.size() && text_[pos_] == '.') {
        if (pos_ + 1 >= text_.size() || !is_ident_start(text_[pos_ + 1])) {
          return fail_at(pos_ + 1, "expected a name after '.'");
        }
        ++pos_;
        continue;
      }
      break;
    }
    const std::string_view name = text_.substr(start, pos_ - start);
    skip_space();
    if (pos_ < text_.size() && text_[pos_] == '(') return parse_call(name, start);
    if (name == "true" || name == "false") {
      emit(Instr{Op::kConst, 0, Fn::kRound, add_constant(Value::of(name == "true"))}, 1);
      return true;
    }
    if (name == "null") {
      emit(Instr{Op::kConst, 0, Fn::kRound, add_constant(Value::null())}, 1);
      return true;
    }
    if (name == "and" || name == "or" || name == "not") {
      return fail_at(start, "unexpected '" + std::string(name) + "'");
    }
    auto& fields = out_.fields;
    auto it = std::find(fields.begin(), fields.end(), name);
    std::uint32_t index = static_cast<std::uint32_t>(it - fields.begin());
    if (it == fields.end()) fields.emplace_back(name);
    emit(Instr{Op::kField, 0, Fn::kRound, index}, 1);
    return true;
  }

  bool parse_call(std::string_view name, std::size_t start) {
    const FnInfo* info = nullptr;
    for (const auto& f : kFunctions) {
      if (f.name == name) info = &f;
    }
    if (!info) return fail_at(start, "unknown function '" + std::string(name) + "'");
    ++pos_;  // (
    if (!enter()) return false;
    std::size_t argc = 0;
    if (!accept(")")) {
      for (;;) {
        if (!parse_or()) return false;
        if (++argc > 64) return fail_at(pos_, "too many arguments");
        if (accept(")")) break;
        if (!accept(",")) {
          skip_space();
          return fail_at(pos_, pos_ == text_.size()
                                   ? "missing ')' after the arguments of " + std::string(name)
                                   : "expected ',' or ')'");
        }
      }
    }
    --depth_;
    if (argc < info->min_args || (info->max_args != 255 && argc > info->max_args)) {
      std::string want = info->min_args == info->max_args
                             ? std::to_string(info->min_args)
                             : (info->max_args == 255 ? "at least " + std::to_string(info->min_args)
                                                      : std::to_string(info->min_args) + " or " +
                                                            std::to_string(info->max_args));
      return fail_at(start, std::string(name) + "() takes " + want + " argument" +
                                (want == "1" ? "" : "s") + ", not " + std::to_string(argc));
    }
    emit(Instr{Op::kCall, static_cast<std::uint8_t>(argc), info->fn, 0},
         1 - static_cast<int>(argc));
    return true;
  }

  std::string_view text_;
  Program::Impl& out_;
  std::size_t pos_ = 0;
  std::size_t depth_ = 0;
  int height_ = 0;
  int max_height_ = 0;
  std::optional<ParseError> error_;
};

// Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  if (m <= 2) ++y;
}

constexpr double kMaxTime = 8.64e15;

std::int64_t floor_div(std::int64_t a, std::int64_t b) {
  std::int64_t q = a / b;
  if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
  return q;
}

bool time_value(const Value& v, std::int64_t& ms) {
  if (v.type != Value::Type::kNumber || !std::isfinite(v.number) || std::fabs(v.number) > kMaxTime)
    return false;
  ms = static_cast<std::int64_t>(std::trunc(v.number));
  return true;
}

bool parse_number_text(std::string_view s, double& out) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.empty()) return false;
  if (s.front() == '+') s.remove_prefix(1);
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && std::isfinite(out);
}

void append_number(std::string& out, double d) {
  char buf[32];
  if (d == std::trunc(d) && std::fabs(d) < 1e15) {
    auto r = std::to_chars(buf, buf + sizeof buf, static_cast<std::int64_t>(d));
    out.append(buf, r.ptr);
  } else {
    auto r = std::to_chars(buf, buf + sizeof buf, d);
    out.append(buf, r.ptr);
  }
}

int compare(const Value& a, const Value& b, bool& ok) {
  ok = true;
  if (a.type == Value::Type::kNumber && b.type == Value::Type::kNumber) {
    return a.number < b.number ? -1 : (a.number > b.number ? 1 : 0);
  }
  if (a.type == Value::Type::kString && b.type == Value::Type::kString) {
    int c = a.string.compare(b.string);
    return c < 0 ? -1 : (c > 0 ? 1 : 0);
  }
  ok = false;
  return 0;
}

bool equal(const Value& a, const Value& b) {
  if (a.type != b.type) return false;
  switch (a.type) {
    case Value::Type::kNull:
      return true;
    case Value::Type::kBool:
      return a.boolean == b.boolean;
    case Value::Type::kNumber:
      return a.number == b.number;
    case Value::Type::kString:
      return a.string == b.string;
  }
  return false;
}

}  // namespace

bool Value::truthy() const {
  switch (type) {
    case Type::kNull:
      return false;
    case Type::kBool:
      return boolean;
    case Type::kNumber:
      return number != 0 && !std::isnan(number);
    case Type::kString:
      return !string.empty();
  }
  return false;
}

nlohmann::json Value::to_json() const {
  switch (type) {
    case Type::kNull:
      return nullptr;
    case Type::kBool:
      return boolean;
    case Type::kNumber:
      if (number == std::trunc(number) && std::fabs(number) < 9.007199254740992e15) {
        return static_cast<std::int64_t>(number);
      }
      return number;
    case Type::kString:
      return std::string(string);
  }
  return nullptr;
}

std::string ParseError::to_string() const {
  return "column " + std::to_string(column()) + ": " + message;
}

Value JsonFields::get(std::string_view path) const {
  const nlohmann::json* node = &document_;
  for (;;) {
    if (!node->is_object()) return Value::null();
    const std::size_t dot = path.find('.');
    const std::string_view part = path.substr(0, dot);
    // nlohmann's find() needs a key it can compare with std::string: avoid building one per call
    // for the common short keys by searching the object's map directly.
    const auto& obj = node->get_ref<const nlohmann::json::object_t&>();
    auto it = obj.find(part);
    if (it == obj.end()) return Value::null();
    node = &it->second;
    if (dot == std::string_view::npos) break;
    path.remove_prefix(dot + 1);
  }
  switch (node->type()) {
    case nlohmann::json::value_t::boolean:
      return Value::of(node->get<bool>());
    case nlohmann::json::value_t::number_integer:
      return Value::of(static_cast<double>(node->get<std::int64_t>()));
    case nlohmann::json::value_t::number_unsigned:
      return Value::of(static_cast<double>(node->get<std::uint64_t>()));
    case nlohmann::json::value_t::number_float:
      return Value::of(node->get<double>());
    case nlohmann::json::value_t::string:
      return Value::of(std::string_view(node->get_ref<const std::string&>()));
    default:
      return Value::null();
  }
}

Program::Program() : impl_(std::make_unique<Impl>()) {}
Program::~Program() = default;
Program::Program(Program&&) noexcept = default;
Program& Program::operator=(Program&&) noexcept = default;
Program::Program(const Program& other) : impl_(std::make_unique<Impl>(*other.impl_)) {
  impl_->relink(*other.impl_);
}
Program& Program::operator=(const Program& other) {
  if (this != &other) {
    impl_ = std::make_unique<Impl>(*other.impl_);
    impl_->relink(*other.impl_);
  }
  return *this;
}
const std::string& Program::text() const { return impl_->text; }
const std::vector<std::string>& Program::fields() const { return impl_->fields; }

tl::expected<Program, ParseError> compile(std::string_view text) {
  Program p;
  Compiler c(text, *p.impl_);
  if (auto err = c.run()) return tl::unexpected(*err);
  p.impl_->text = std::string(text);
  return p;
}

double round_decimal(double x, int digits) {
  if (!std::isfinite(x) || std::fabs(x) >= 1e21 || digits < 0 || digits > 15) return x;
  char buf[64];
  // A tie (the exact value is halfway between two results) happens only when x * 2^(digits+1)
  // is an odd integer; std::to_chars breaks ties to even, JavaScript away from zero.
  const double scaled = std::ldexp(x, digits + 1);
  const bool tie = scaled == std::trunc(scaled) && std::fmod(std::fabs(scaled), 2.0) == 1.0;
  std::to_chars_result r;
  if (!tie) {
    r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed, digits);
  } else {
    // The exact value has digits+1 decimals ending in 5: drop the 5 and add one unit.
    r = std::to_chars(buf, buf + sizeof buf, x, std::chars_format::fixed, digits + 1);
    char* last = r.ptr - 1;  // the '5'
    r.ptr = last;
    char* p = last - 1;
    bool carry = true;
    for (; carry && p >= buf; --p) {
      if (*p == '.') continue;
      if (*p == '-') break;
      if (*p == '9') {
        *p = '0';
      } else {
        ++*p;
        carry = false;
      }
    }
    if (carry) {
      // 9.995 -> 10.00: insert a leading 1 after the sign.
      char* first = buf[0] == '-' ? buf + 1 : buf;
      std::memmove(first + 1, first, static_cast<std::size_t>(r.ptr - first));
      *first = '1';
      ++r.ptr;
    }
    if (digits == 0 && r.ptr > buf && *(r.ptr - 1) == '.') --r.ptr;
  }
  double out = x;
  std::from_chars(buf, r.ptr, out);
  return out == 0 ? 0.0 : out;  // no negative zero (parseFloat("-0.00") is -0, JSON prints 0)
}

bool iso_utc(double ms_in, std::string& out) {
  if (!std::isfinite(ms_in) || std::fabs(ms_in) > kMaxTime) return false;
  const std::int64_t ms = static_cast<std::int64_t>(std::trunc(ms_in));
  const std::int64_t days = floor_div(ms, 86400000);
  std::int64_t rem = ms - days * 86400000;
  std::int64_t y;
  unsigned mo, d;
  civil_from_days(days, y, mo, d);
  const unsigned h = static_cast<unsigned>(rem / 3600000);
  rem %= 3600000;
  const unsigned mi = static_cast<unsigned>(rem / 60000);
  rem %= 60000;
  const unsigned s = static_cast<unsigned>(rem / 1000);
  const unsigned milli = static_cast<unsigned>(rem % 1000);
  char buf[40];
  int n;
  if (y >= 0 && y <= 9999) {
    // By hand: telemetry pipelines format two of these per message, and snprintf's format
    // parsing was the larger part of the pipeline's cost.
    const unsigned parts[] = {static_cast<unsigned>(y), mo, d, h, mi, s, milli};
    const int widths[] = {4, 2, 2, 2, 2, 2, 3};
    const char after[] = "--T::.Z";
    n = 0;
    for (int i = 0; i < 7; ++i) {
      unsigned v = parts[i];
      for (int k = widths[i] - 1; k >= 0; --k, v /= 10)
        buf[n + k] = static_cast<char>('0' + v % 10);
      n += widths[i];
      buf[n++] = after[i];
    }
  } else {
    n = std::snprintf(buf, sizeof buf, "%c%06lld-%02u-%02uT%02u:%02u:%02u.%03uZ", y < 0 ? '-' : '+',
                      static_cast<long long>(y < 0 ? -y : y), mo, d, h, mi, s, milli);
  }
  out.assign(buf, static_cast<std::size_t>(n));
  return true;
}

Evaluator::Evaluator() : impl_(std::make_unique<Impl>()) {}
Evaluator::~Evaluator() = default;

Value Evaluator::evaluate(const Program& program, const Fields& fields, std::int64_t now_ms) {
  const Program::Impl& p = program.impl();
  Impl& e = *impl_;
  e.scratch_used = 0;
  auto& st = e.stack;
  st.clear();
  if (st.capacity() < p.max_stack) st.reserve(p.max_stack);
  for (const Instr& in : p.code) {
    switch (in.op) {
      case Op::kConst:
        st.push_back(p.constants[in.index]);
        break;
      case Op::kField:
        st.push_back(fields.get(p.fields[in.index]));
        break;
      case Op::kNeg: {
        Value& a = st.back();
        a = a.type == Value::Type::kNumber ? Value::of(-a.number) : Value::null();
        break;
      }
      case Op::kNot:
        st.back() = Value::of(!st.back().truthy());
        break;
      case Op::kAnd:
      case Op::kOr: {
        const Value b = st.back();
        st.pop_back();
        Value& a = st.back();
        a = Value::of(in.op == Op::kAnd ? (a.truthy() && b.truthy()) : (a.truthy() || b.truthy()));
        break;
      }
      case Op::kEq:
      case Op::kNe: {
        const Value b = st.back();
        st.pop_back();
        Value& a = st.back();
        const bool eq = equal(a, b);
        a = Value::of(in.op == Op::kEq ? eq : !eq);
        break;
      }
      case Op::kLt:
      case Op::kLe:
      case Op::kGt:
      case Op::kGe: {
        const Value b = st.back();
        st.pop_back();
        Value& a = st.back();
        bool ok;
        const int c = compare(a, b, ok);
        if (!ok) {
          a = Value::null();
        } else {
          bool r = in.op == Op::kLt   ? c < 0
                   : in.op == Op::kLe ? c <= 0
                   : in.op == Op::kGt ? c > 0
                                      : c >= 0;
          a = Value::of(r);
        }
        break;
      }
      case Op::kAdd:
      case Op::kSub:
      case Op::kMul:
      case Op::kDiv:
      case Op::kMod: {
        const Value b = st.back();
        st.pop_back();
        Value& a = st.back();
        if (a.type != Value::Type::kNumber || b.type != Value::Type::kNumber) {
          a = Value::null();
          break;
        }
        double r = 0;
        switch (in.op) {
          case Op::kAdd:
            r = a.number + b.number;
            break;
          case Op::kSub:
            r = a.number - b.number;
            break;
          case Op::kMul:
            r = a.number * b.number;
            break;
          case Op::kDiv:
            r = b.number == 0 ? NAN : a.number / b.number;
            break;
          default:
            r = b.number == 0 ? NAN : std::fmod(a.number, b.number);
            break;
        }
        a = std::isfinite(r) ? Value::of(r) : Value::null();
        break;
      }
      case Op::kCall: {
        const std::size_t argc = in.argc;
        Value* args = st.data() + (st.size() - argc);
        Value result;
        auto num = [&](std::size_t i, double& out) {
          if (args[i].type != Value::Type::kNumber) return false;
          out = args[i].number;
          return true;
        };
        double x = 0;
        std::int64_t t = 0;
        switch (in.fn) {
          case Fn::kRound: {
            double digits = 0;
            if (!num(0, x)) break;
            if (argc == 2 &&
                (!num(1, digits) || digits != std::trunc(digits) || digits < 0 || digits > 15))
              break;
            result = Value::of(round_decimal(x, static_cast<int>(digits)));
            break;
          }
          case Fn::kAbs:
            if (num(0, x)) result = Value::of(std::fabs(x));
            break;
          case Fn::kFloor:
            if (num(0, x)) result = Value::of(std::floor(x));
            break;
          case Fn::kCeil:
            if (num(0, x)) result = Value::of(std::ceil(x));
            break;
          case Fn::kMin:
          case Fn::kMax: {
            // Nulls are skipped (as SQL's aggregate min/max); any other non-number makes null.
            bool any = false, bad = false;
            double best = 0;
            for (std::size_t i = 0; i < argc; ++i) {
              if (args[i].is_null()) continue;
              if (args[i].type != Value::Type::kNumber) {
                bad = true;
                break;
              }
              if (!any || (in.fn == Fn::kMin ? args[i].number < best : args[i].number > best))
                best = args[i].number;
              any = true;
            }
            if (any && !bad) result = Value::of(best);
            break;
          }
          case Fn::kCoalesce:
            for (std::size_t i = 0; i < argc; ++i) {
              if (!args[i].is_null()) {
                result = args[i];
                break;
              }
            }
            break;
          case Fn::kNum:
            if (args[0].type == Value::Type::kNumber) {
              result = args[0];
            } else if (args[0].type == Value::Type::kString &&
                       parse_number_text(args[0].string, x)) {
              result = Value::of(x);
            }
            break;
          case Fn::kStr: {
            const Value& a = args[0];
            if (a.type == Value::Type::kString) {
              result = a;
            } else if (a.type == Value::Type::kNumber) {
              std::string& s = e.fresh();
              append_number(s, a.number);
              result = Value::of(std::string_view(s));
            } else if (a.type == Value::Type::kBool) {
              result = Value::of(std::string_view(a.boolean ? "true" : "false"));
            }
            break;
          }
          case Fn::kLen:
            if (args[0].type == Value::Type::kString)
              result = Value::of(static_cast<double>(args[0].string.size()));
            break;
          case Fn::kLower:
          case Fn::kUpper:
            if (args[0].type == Value::Type::kString) {
              std::string& s = e.fresh();
              s.assign(args[0].string);
              for (char& ch : s) {
                if (in.fn == Fn::kLower && ch >= 'A' && ch <= 'Z') ch = static_cast<char>(ch + 32);
                if (in.fn == Fn::kUpper && ch >= 'a' && ch <= 'z') ch = static_cast<char>(ch - 32);
              }
              result = Value::of(std::string_view(s));
            }
            break;
          case Fn::kContains:
          case Fn::kStartsWith:
          case Fn::kEndsWith:
            if (args[0].type == Value::Type::kString && args[1].type == Value::Type::kString) {
              const auto a = args[0].string, b = args[1].string;
              result = Value::of(in.fn == Fn::kContains     ? a.find(b) != std::string_view::npos
                                 : in.fn == Fn::kStartsWith ? a.starts_with(b)
                                                            : a.ends_with(b));
            }
            break;
          case Fn::kConcat: {
            std::string& s = e.fresh();
            for (std::size_t i = 0; i < argc; ++i) {
              const Value& a = args[i];
              if (a.type == Value::Type::kString) s.append(a.string);
              if (a.type == Value::Type::kNumber) append_number(s, a.number);
              if (a.type == Value::Type::kBool) s.append(a.boolean ? "true" : "false");
            }
            result = Value::of(std::string_view(s));
            break;
          }
          case Fn::kNow:
            result = Value::of(static_cast<double>(now_ms));
            break;
          case Fn::kIso:
            if (args[0].type == Value::Type::kNumber) {
              std::string& s = e.fresh();
              if (iso_utc(args[0].number, s)) result = Value::of(std::string_view(s));
            }
            break;
          case Fn::kHour:
            if (time_value(args[0], t))
              result = Value::of(
                  static_cast<double>(floor_div(t, 3600000) - floor_div(t, 86400000) * 24));
            break;
          case Fn::kWeekday:
            if (time_value(args[0], t)) {
              // 1970-01-01 was a Thursday (4).
              const std::int64_t d = floor_div(t, 86400000);
              result = Value::of(static_cast<double>(((d % 7) + 11) % 7));
            }
            break;
          case Fn::kDay:
            if (time_value(args[0], t))
              result = Value::of(static_cast<double>(floor_div(t, 86400000) * 86400000));
            break;
        }
        st.resize(st.size() - argc);
        st.push_back(result);
        break;
      }
    }
  }
  return st.empty() ? Value::null() : st.back();
}

}  // namespace sp::expr
