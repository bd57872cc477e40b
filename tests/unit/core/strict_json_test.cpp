#include "smartproduct/core/strict_json.hpp"

#include <string>

#include <gtest/gtest.h>

namespace sp::json {
namespace {

using namespace std::string_literals;

TEST(StrictJson, AcceptsOrdinaryDocuments) {
  auto v = parse_strict(R"({"a":1,"b":{"c":[1,2,{"d":null}]},"e":"x"})");
  ASSERT_TRUE(v);
  EXPECT_EQ((*v)["b"]["c"][2]["d"], nullptr);
  EXPECT_TRUE(parse_strict("[]"));
  EXPECT_TRUE(parse_strict("  42 \n"));
  // The same name in different objects is not a duplicate.
  EXPECT_TRUE(parse_strict(R"({"a":{"a":1},"b":{"a":2}})"));
}

TEST(StrictJson, RefusesANulByteAndWhatFollowsIt) {
  // nlohmann alone parses this as {"marker":42}.
  ASSERT_FALSE(nlohmann::json::parse("{\"marker\":42}\0not json"s, nullptr, false).is_discarded());
  auto v = parse_strict("{\"marker\":42}\0not json"s);
  ASSERT_FALSE(v);
  EXPECT_EQ(v.error(), StrictJsonError::kSyntax);
  EXPECT_FALSE(parse_strict("{\"a\":\"x\0y\"}"s));
  EXPECT_FALSE(parse_strict("\0"s));
}

TEST(StrictJson, RefusesTrailingDataCommentsAndEmptyInput) {
  EXPECT_EQ(parse_strict(R"({"a":1} {"b":2})").error(), StrictJsonError::kSyntax);
  EXPECT_EQ(parse_strict(R"({"a":1 /* c */})").error(), StrictJsonError::kSyntax);
  EXPECT_EQ(parse_strict("").error(), StrictJsonError::kSyntax);
  // Found by device_message_fuzz (UBSan): an empty view with a null data() went to memchr.
  EXPECT_EQ(parse_strict(std::string_view()).error(), StrictJsonError::kSyntax);
}

TEST(StrictJson, RefusesDuplicateNamesAtAnyLevel) {
  EXPECT_EQ(parse_strict(R"({"deviceId":"other","deviceId":"self"})").error(),
            StrictJsonError::kDuplicateKey);
  EXPECT_EQ(parse_strict(R"({"a":{"x":1,"y":2,"x":3}})").error(), StrictJsonError::kDuplicateKey);
  EXPECT_EQ(parse_strict(R"([{"ok":1},{"k":1,"k":1}])").error(), StrictJsonError::kDuplicateKey);
  // Large objects switch from a linear scan to an index; both find the repeat.
  std::string wide = "{";
  for (int i = 0; i < 100; ++i) wide += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  EXPECT_TRUE(parse_strict(wide + "\"last\":0}"));
  EXPECT_EQ(parse_strict(wide + "\"k3\":0}").error(), StrictJsonError::kDuplicateKey);
  EXPECT_EQ(parse_strict(wide + "\"k99\":0}").error(), StrictJsonError::kDuplicateKey);
  // A duplicate whose values are equal is still a duplicate.
  EXPECT_EQ(parse_strict(R"({"a":1,"a":1})").error(), StrictJsonError::kDuplicateKey);
}

TEST(StrictJson, BoundsNesting) {
  auto nested = [](int levels) {
    return std::string(static_cast<std::size_t>(levels), '[') +
           std::string(static_cast<std::size_t>(levels), ']');
  };
  EXPECT_TRUE(parse_strict(nested(kDefaultMaxDepth)));
  EXPECT_EQ(parse_strict(nested(kDefaultMaxDepth + 1)).error(), StrictJsonError::kTooDeep);
  EXPECT_EQ(parse_strict(nested(65000)).error(), StrictJsonError::kTooDeep);
  EXPECT_EQ(parse_strict(R"({"a":{"b":{}}})", 2).error(), StrictJsonError::kTooDeep);
  EXPECT_TRUE(parse_strict(R"({"a":{"b":1}})", 2));
}

}  // namespace
}  // namespace sp::json
