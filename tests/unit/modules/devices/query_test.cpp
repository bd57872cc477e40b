// The fleet search query parser: a table of accepted queries with their canonical form, a table
// of refused ones with the position and message of the error, and the limits.

#include <string>

#include <gtest/gtest.h>

#include "smartproduct/devices/query.hpp"

namespace sp::devices::query {
namespace {

struct Good {
  const char* query;
  const char* canonical;  // to_string() of the AST
};

class QueryParsesTest : public ::testing::TestWithParam<Good> {};

TEST_P(QueryParsesTest, ToCanonicalForm) {
  const auto& c = GetParam();
  auto node = parse(c.query);
  ASSERT_TRUE(node) << c.query << " -> " << node.error().position << ": " << node.error().message;
  EXPECT_EQ(to_string(*node), c.canonical) << c.query;
}

INSTANTIATE_TEST_SUITE_P(
    Table, QueryParsesTest,
    ::testing::Values(
        Good{"thingName:SN1", "thingName:\"SN1\""}, Good{"thingName:SN*", "thingName:SN*"},
        Good{"thingName:S?1*", "thingName:S?1*"},
        Good{"deviceName:Kitchen", "deviceName:\"Kitchen\""},
        Good{"deviceName:\"Living room\"", "deviceName:\"Living room\""},
        Good{"deviceName:Living\\ room", "deviceName:\"Living room\""},
        Good{"deviceName:\"a\\\"b\"", "deviceName:\"a\\\"b\""},
        Good{"attributes.color:red", "attributes.color:\"red\""},
        Good{"attributes.deviceName:Kitchen", "attributes.deviceName:\"Kitchen\""},
        Good{"shadow.reported.powerStatus:HEAT", "shadow.reported.powerStatus:\"HEAT\""},
        Good{"shadow.reported.actualTemperature>80", "shadow.reported.actualTemperature>80"},
        Good{"shadow.reported.actualTemperature:>=80.5", "shadow.reported.actualTemperature>=80.5"},
        Good{"shadow.reported.t<-3", "shadow.reported.t<-3"},
        Good{"shadow.reported.t<=1e3", "shadow.reported.t<=1e3"},
        Good{"shadow.reported.t:[70 TO 80]", "shadow.reported.t:[70 TO 80]"},
        Good{"shadow.reported.t:{70 TO 80]", "shadow.reported.t:{70 TO 80]"},
        Good{"shadow.reported.t:[70 TO *]", "shadow.reported.t:[70 TO *]"},
        Good{"shadow.reported.t:[*  TO  80}", "shadow.reported.t:[* TO 80}"},
        Good{"shadow.desired.a.b-c_d:x", "shadow.desired.a.b-c_d:\"x\""},
        Good{"shadow.version>3", "shadow.version>3"},
        Good{"connectivity.connected:true", "connectivity.connected:\"true\""},
        Good{"thingName:a:b", "thingName:\"a:b\""},
        Good{"deviceName:x@y.z/1,#2", "deviceName:\"x@y.z/1,#2\""}),
    [](const auto& info) { return "Case" + std::to_string(info.index); });

class QueryBooleanTest : public ::testing::TestWithParam<Good> {};

TEST_P(QueryBooleanTest, Structure) {
  const auto& c = GetParam();
  auto node = parse(c.query);
  ASSERT_TRUE(node) << c.query << " -> " << node.error().position << ": " << node.error().message;
  EXPECT_EQ(to_string(*node), c.canonical) << c.query;
}

INSTANTIATE_TEST_SUITE_P(
    Table, QueryBooleanTest,
    ::testing::Values(
        Good{"thingName:a AND deviceName:b", "(thingName:\"a\" AND deviceName:\"b\")"},
        Good{"thingName:a deviceName:b", "(thingName:\"a\" AND deviceName:\"b\")"},
        Good{"thingName:a OR thingName:b AND deviceName:c",
             "(thingName:\"a\" OR (thingName:\"b\" AND deviceName:\"c\"))"},
        Good{"(thingName:a OR thingName:b) AND deviceName:c",
             "((thingName:\"a\" OR thingName:\"b\") AND deviceName:\"c\")"},
        Good{"NOT thingName:a", "NOT thingName:\"a\""},
        Good{"thingName:a AND NOT (deviceName:b OR deviceName:c)",
             "(thingName:\"a\" AND NOT (deviceName:\"b\" OR deviceName:\"c\"))"},
        Good{"NOT NOT thingName:a", "NOT NOT thingName:\"a\""},
        Good{"thingName:a AND (deviceName:b AND deviceName:c)",
             "(thingName:\"a\" AND deviceName:\"b\" AND deviceName:\"c\")"},
        Good{"  ( thingName:a )  ", "thingName:\"a\""},
        Good{"thingName:ORANGE OR thingName:ANDY", "(thingName:\"ORANGE\" OR thingName:\"ANDY\")"},
        Good{"NOT(thingName:a)", "NOT thingName:\"a\""}),
    [](const auto& info) { return "Case" + std::to_string(info.index); });

struct Bad {
  const char* query;
  std::size_t position;
  const char* message;
};

class QueryRefusedTest : public ::testing::TestWithParam<Bad> {};

TEST_P(QueryRefusedTest, WithPosition) {
  const auto& c = GetParam();
  auto node = parse(c.query);
  ASSERT_FALSE(node) << c.query << " parsed as " << to_string(*node);
  EXPECT_EQ(node.error().position, c.position) << c.query << ": " << node.error().message;
  EXPECT_EQ(node.error().message, c.message) << c.query;
}

INSTANTIATE_TEST_SUITE_P(
    Table, QueryRefusedTest,
    ::testing::Values(
        Bad{"", 0, "empty query"}, Bad{"   ", 3, "empty query"},
        Bad{"thingName", 9, "expected ':' or a comparison after the field name"},
        Bad{"thingName:", 10, "expected a value"}, Bad{"thingName: x", 10, "expected a value"},
        Bad{"color:red", 0, "unknown field 'color'"},
        Bad{"thingName:a AND foo.bar:1", 16, "unknown field 'foo.bar'"},
        Bad{"shadow.reported:1", 0, "unknown field 'shadow.reported'"},
        Bad{"shadow.other.x:1", 0, "unknown field 'shadow.other.x'"},
        Bad{"attributes..x:1", 0, "unknown field 'attributes..x'"},
        Bad{"(thingName:a", 0, "'(' is not closed"}, Bad{"thingName:a)", 11, "unbalanced ')'"},
        Bad{"thingName:a AND", 15, "expected a term, NOT or '('"},
        Bad{"thingName:a OR OR thingName:b", 15, "expected a term before this operator"},
        Bad{"AND thingName:a", 0, "expected a term before this operator"},
        Bad{"thingName:\"abc", 10, "unterminated quoted string"},
        Bad{"shadow.reported.t:[70 80]", 22, "expected TO"},
        Bad{"shadow.reported.t:[70 TO 80", 27, "expected ']' or '}'"},
        Bad{"shadow.reported.t:[* TO *]", 24, "a range needs at least one bound"},
        Bad{"shadow.reported.t:[7* TO 9]", 19, "wildcards are not allowed in a range"},
        Bad{"shadow.reported.t>8*", 18, "wildcards are only allowed with ':'"},
        Bad{"connectivity.connected:yes", 23, "connectivity.connected takes true or false"},
        Bad{"connectivity.connected:tru*", 23, "connectivity.connected takes true or false"},
        Bad{"thingName:a\\", 11, "'\\' at the end of the query"},
        Bad{"()", 1, "expected a field name"}, Bad{"=x", 0, "expected a field name"}),
    [](const auto& info) { return "Case" + std::to_string(info.index); });

TEST(QueryLimits, LengthDepthAndTerms) {
  Limits limits;
  limits.max_length = 20;
  limits.max_depth = 3;
  limits.max_terms = 2;
  auto longer = parse("thingName:abcdefghijklmnop", limits);
  ASSERT_FALSE(longer);
  EXPECT_EQ(longer.error().position, 20u);
  auto deep = parse("(((thingName:a)))", limits);
  ASSERT_FALSE(deep);
  EXPECT_EQ(deep.error().position, 3u);
  EXPECT_EQ(deep.error().message, "nested deeper than 3 levels");
  EXPECT_TRUE(parse("((thingName:a))", limits));
  auto many = parse("thingName:a OR thingName:b OR x:c", Limits{100, 3, 2});
  ASSERT_FALSE(many);
  EXPECT_EQ(many.error().position, 30u);
  EXPECT_EQ(many.error().message, "more than 2 terms");
}

TEST(QueryLimits, DefaultsRefuseHugeNesting) {
  const std::string deep(5000, '(');
  auto r = parse(deep);
  ASSERT_FALSE(r);  // length first (1024), never a deep recursion
  const std::string nots = [] {
    std::string s;
    for (int i = 0; i < 100; ++i) s += "NOT ";
    return s + "thingName:a";
  }();
  auto n = parse(nots);
  ASSERT_FALSE(n);
  EXPECT_EQ(n.error().message, "nested deeper than 16 levels");
}

TEST(QueryValues, NumbersPatternsAndRanges) {
  auto t = parse("shadow.reported.t:80");
  ASSERT_TRUE(t);
  ASSERT_TRUE(t->term.value.number);
  EXPECT_EQ(*t->term.value.number, 80.0);
  auto q = parse("shadow.reported.t:\"80\"");  // quoted: text only
  ASSERT_TRUE(q);
  EXPECT_FALSE(q->term.value.number);
  for (const char* not_number : {"0x10", "inf", "nan", "1e999", "1.2.3", "+"}) {
    auto v = parse(std::string("shadow.reported.t:") + not_number);
    ASSERT_TRUE(v) << not_number;
    EXPECT_FALSE(v->term.value.number) << not_number;
  }
  auto p = parse("thingName:SN\\*1*");
  ASSERT_TRUE(p);
  ASSERT_EQ(p->term.value.pattern.size(), 2u);
  EXPECT_EQ(p->term.value.pattern[0].kind, PatternPiece::kLiteral);
  EXPECT_EQ(p->term.value.pattern[0].text, "SN*1");
  EXPECT_EQ(p->term.value.pattern[1].kind, PatternPiece::kAnyString);
  auto r = parse("shadow.reported.t:{1 TO 2}");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->term.op, Comparison::kRange);
  ASSERT_TRUE(r->term.lower && r->term.upper);
  EXPECT_FALSE(r->term.lower->inclusive);
  EXPECT_FALSE(r->term.upper->inclusive);
  EXPECT_EQ(r->term.position, 0u);
}

TEST(QueryField, AloneForAggregations) {
  auto f = parse_field("shadow.reported.actualTemperature");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->source, Source::kIndexed);
  EXPECT_EQ(f->path, (std::vector<std::string>{"shadow", "reported", "actualTemperature"}));
  EXPECT_EQ(parse_field("attributes.modelNumber")->source, Source::kModelNumber);
  EXPECT_EQ(parse_field("connectivity.connected")->source, Source::kConnected);
  EXPECT_FALSE(parse_field("thingName:x"));
  EXPECT_FALSE(parse_field("nope"));
  EXPECT_FALSE(parse_field(""));
}

}  // namespace
}  // namespace sp::devices::query
