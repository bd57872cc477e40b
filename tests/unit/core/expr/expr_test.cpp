// The expression language: a table of expressions and results, parser errors with positions,
// hostile nesting, and the JavaScript-compatible helpers of the seed's transform.

#include <gtest/gtest.h>

#include <cmath>
#include <nlohmann/json.hpp>
#include <string>

#include "smartproduct/expr/expr.hpp"

namespace sp::expr {
namespace {

using nlohmann::json;

json eval(const std::string& text, const json& doc = json::object(), std::int64_t now = 0) {
  auto p = compile(text);
  EXPECT_TRUE(p.has_value()) << text << ": " << (p ? "" : p.error().to_string());
  if (!p) return "<error>";
  Evaluator e;
  JsonFields fields(doc);
  return e.evaluate(*p, fields, now).to_json();
}

struct Case {
  const char* text;
  json expected;
};

TEST(Expr, TableOfExpressionsAndResults) {
  const json doc = {
      {"a", 10},      {"b", 2.5},      {"s", "Hello"}, {"t", true},
      {"n", nullptr}, {"str", "42.5"}, {"neg", -3},    {"nested", {{"x", {{"y", 7}}}}},
      {"arr", {1, 2}}};
  const Case cases[] = {
      {"1 + 2 * 3", 7},
      {"(1 + 2) * 3", 9},
      {"10 / 4", 2.5},
      {"10 % 4", 2},
      {"-a + 1", -9},
      {"- - 2", 2},
      {"a * b", 25},
      {"a / 0", nullptr},
      {"a % 0", nullptr},
      {"missing + 1", nullptr},
      {"s + 1", nullptr},
      {"a > 5 and b < 3", true},
      {"a > 5 && b > 3", false},
      {"a < 5 or t", true},
      {"not t", false},
      {"!t || a == 10", true},
      {"a != 10", false},
      {"a == 10.0", true},
      {"s == 'Hello'", true},
      {"s == \"Hello\"", true},
      {"s < 'World'", true},
      {"a < 'x'", nullptr},
      {"a == '10'", false},
      {"n == null", true},
      {"missing == null", true},
      {"missing != null", false},
      {"nested.x.y * 2", 14},
      {"nested.x", nullptr},
      {"arr", nullptr},
      {"true and false", false},
      {"1.5e2", 150},
      {".5 + .25", 0.75},
      {"round(2.345, 2)", 2.35},
      {"round(2.5)", 3},
      {"round(-2.5)", -3},
      {"round(1.005, 2)", 1},
      {"round(0.125, 2)", 0.13},
      {"round(-0.125, 2)", -0.13},
      {"round(9.995, 2)", 9.99},
      {"round(99.5)", 100},
      {"round(a, 1.5)", nullptr},
      {"abs(neg)", 3},
      {"floor(b)", 2},
      {"ceil(b)", 3},
      {"min(a, b, 7)", 2.5},
      {"max(a, b, 7)", 10},
      {"max(missing, 3)", 3},
      {"min(s, 1)", nullptr},
      {"coalesce(missing, n, a)", 10},
      {"coalesce(missing)", nullptr},
      {"num(str) + 1", 43.5},
      {"num('x')", nullptr},
      {"num(a)", 10},
      {"str(a)", "10"},
      {"str(b)", "2.5"},
      {"len(s)", 5},
      {"lower(s)", "hello"},
      {"upper(s)", "HELLO"},
      {"contains(s, 'ell')", true},
      {"startswith(s, 'He')", true},
      {"endswith(s, 'x')", false},
      {"concat(s, '-', a, '-', t)", "Hello-10-true"},
      {"iso(1556739787113)", "2019-05-01T19:43:07.113Z"},
      {"iso(0)", "1970-01-01T00:00:00.000Z"},
      {"iso(253402300799999)", "9999-12-31T23:59:59.999Z"},
      {"iso(253402300800000)", "+010000-01-01T00:00:00.000Z"},
      {"iso(-1)", "1969-12-31T23:59:59.999Z"},
      {"iso(8.64e15)", "+275760-09-13T00:00:00.000Z"},
      {"iso(8.64e15 + 1)", nullptr},
      {"iso(s)", nullptr},
      {"hour(1556739787113)", 19},
      {"weekday(1556739787113)", 3},
      {"day(1556739787113)", 1556668800000},
      {"now() - 1000", 4000},
      {"lower(s) == 'hello' and len(concat(s, s)) == 10", true},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(eval(c.text, doc, 5000), c.expected) << c.text;
  }
}

TEST(Expr, ParserErrorsCarryPositions) {
  struct ErrCase {
    const char* text;
    std::size_t column;
    const char* fragment;
  };
  const ErrCase cases[] = {
      {"", 1, "empty"},
      {"1 +", 4, "unexpected end"},
      {"(1 + 2", 7, "missing ')'"},
      {"a $ b", 3, "unexpected '$'"},
      {"foo(1)", 1, "unknown function 'foo'"},
      {"round()", 1, "round() takes 1 or 2 arguments, not 0"},
      {"abs(1, 2)", 1, "abs() takes 1 argument, not 2"},
      {"'abc", 1, "unterminated string"},
      {"a < b < c", 7, "do not chain"},
      {"a.", 3, "expected a name"},
      {"1 2", 3, "unexpected '2'"},
      {"12abc", 3, "after a number"},
      {"min(1,", 7, "unexpected end"},
      {"min(1 2)", 7, "expected ',' or ')'"},
      {"'a\\q'", 3, "unknown escape"},
      {"a and", 6, "unexpected end"},
  };
  for (const auto& c : cases) {
    auto p = compile(c.text);
    ASSERT_FALSE(p.has_value()) << c.text;
    EXPECT_EQ(p.error().column(), c.column) << c.text << ": " << p.error().to_string();
    EXPECT_NE(p.error().message.find(c.fragment), std::string::npos)
        << c.text << ": " << p.error().to_string();
  }
}

TEST(Expr, HostileNestingIsAnErrorNotACrash) {
  for (const std::string open : {"(", "-", "not ", "!", "abs("}) {
    std::string text;
    for (int i = 0; i < 100000 && text.size() < kMaxLength - 8; ++i) text += open;
    text += "1";
    auto p = compile(text);
    ASSERT_FALSE(p.has_value()) << open;
    EXPECT_NE(p.error().message.find("nested deeper"), std::string::npos) << p.error().message;
    EXPECT_LE(p.error().position, kMaxDepth * open.size() + 8);
  }
  // Just inside the limit still works.
  std::string ok(kMaxDepth - 1, '(');
  ok += "1";
  ok += std::string(kMaxDepth - 1, ')');
  EXPECT_EQ(eval(ok), 1);
  // Too long.
  auto p = compile(std::string(kMaxLength + 1, '1'));
  ASSERT_FALSE(p.has_value());
  EXPECT_NE(p.error().message.find("longer than"), std::string::npos);
  // A long flat chain is not nesting: fine.
  std::string chain = "1";
  for (int i = 0; i < 1000; ++i) chain += "+1";
  EXPECT_EQ(eval(chain), 1001);
}

TEST(Expr, ProgramsCopyWithTheirConstants) {
  auto p = compile("concat('x', s)");
  ASSERT_TRUE(p);
  Program copy = *p;
  { Program moved = std::move(*p); }
  Evaluator e;
  json doc = {{"s", "y"}};
  JsonFields f(doc);
  EXPECT_EQ(e.evaluate(copy, f).to_json(), "xy");
  EXPECT_EQ(copy.fields(), std::vector<std::string>{"s"});
}

TEST(Expr, RoundMatchesJavaScriptToFixed) {
  // Values from node: Number(x.toFixed(2)).
  EXPECT_EQ(round_decimal((45.75 - 32) * 5 / 9, 2), 7.64);
  EXPECT_EQ(round_decimal((70.0 - 32) * 5 / 9, 2), 21.11);
  EXPECT_EQ(round_decimal((71.5 - 32) * 5 / 9, 2), 21.94);
  EXPECT_EQ(round_decimal((32.0 - 32) * 5 / 9, 2), 0);
  EXPECT_EQ(round_decimal((-40.0 - 32) * 5 / 9, 2), -40);
  EXPECT_EQ(round_decimal(1.45, 1), 1.4);    // 1.45 is 1.4499999999999999555...
  EXPECT_EQ(round_decimal(2.675, 2), 2.67);  // 2.67499999...
  EXPECT_EQ(round_decimal(0.5, 0), 1);
  EXPECT_EQ(round_decimal(-0.5, 0), -1);
  EXPECT_EQ(round_decimal(1.5, 0), 2);
  EXPECT_EQ(round_decimal(2.5, 0), 3);
  EXPECT_EQ(round_decimal(1e21, 2), 1e21);
  EXPECT_FALSE(std::signbit(round_decimal(-0.001, 2)));
}

}  // namespace
}  // namespace sp::expr
