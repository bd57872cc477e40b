#include <gtest/gtest.h>

#include "smartproduct/mqtt/types.hpp"

using sp::mqtt::topic_matches;

TEST(TopicMatches, LiteralsAndWildcards) {
  EXPECT_TRUE(topic_matches("smartproduct/telemetry/+", "smartproduct/telemetry/SN1"));
  EXPECT_FALSE(topic_matches("smartproduct/telemetry/+", "smartproduct/telemetry/SN1/x"));
  EXPECT_FALSE(topic_matches("smartproduct/telemetry/+", "smartproduct/telemetry"));
  EXPECT_TRUE(topic_matches("smartproduct/#", "smartproduct/telemetry/SN1"));
  EXPECT_TRUE(topic_matches("smartproduct/#", "smartproduct"));
  EXPECT_TRUE(topic_matches("a/b", "a/b"));
  EXPECT_FALSE(topic_matches("a/b", "a/bc"));
  EXPECT_FALSE(topic_matches("a/b", "a/b/c"));
  EXPECT_TRUE(topic_matches("+/+", "a/b"));
  EXPECT_TRUE(topic_matches("a/+/c", "a//c"));
  EXPECT_TRUE(topic_matches("#", "anything/at/all"));
}

TEST(TopicMatches, DollarTopicsNeedExplicitPrefix) {
  EXPECT_FALSE(topic_matches("#", "$SYS/smartproduct/presence/SN1"));
  EXPECT_FALSE(topic_matches("+/smartproduct/#", "$SYS/smartproduct/presence/SN1"));
  EXPECT_TRUE(topic_matches("$SYS/smartproduct/presence/#", "$SYS/smartproduct/presence/SN1"));
}

TEST(TopicRouter, DispatchesToFirstMatchAndAcksUnrouted) {
  sp::mqtt::TopicRouter router;
  std::string seen;
  router.add("a/+", 1, [&](sp::mqtt::Message&& m, sp::mqtt::Done done) {
    seen = "a:" + m.topic;
    done(true);
  });
  router.add("#", 1, [&](sp::mqtt::Message&& m, sp::mqtt::Done done) {
    seen = "all:" + m.topic;
    done(true);
  });
  int acked = 0;
  router.dispatch({"a/x", "", 1, false, 1}, [&](bool ok) { acked += ok; });
  EXPECT_EQ(seen, "a:a/x");
  router.dispatch({"b/y", "", 1, false, 2}, [&](bool ok) { acked += ok; });
  EXPECT_EQ(seen, "all:b/y");
  sp::mqtt::TopicRouter empty;
  empty.dispatch({"z", "", 1, false, 3}, [&](bool ok) { acked += ok; });
  EXPECT_EQ(acked, 3);
  ASSERT_EQ(router.routes().size(), 2u);
  EXPECT_EQ(router.routes()[0].filter, "a/+");
  EXPECT_EQ(router.routes()[1].filter, "#");
}
