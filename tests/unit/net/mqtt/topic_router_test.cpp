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

TEST(TopicMatches, SharedSubscriptionsMatchWhatTheirFilterMatches) {
  EXPECT_TRUE(
      topic_matches("$share/ingest/smartproduct/telemetry/+", "smartproduct/telemetry/SN1"));
  EXPECT_FALSE(topic_matches("$share/ingest/smartproduct/telemetry/+", "smartproduct/event/SN1"));
  EXPECT_FALSE(topic_matches("$share/ingest/#", "$SYS/x"));
  EXPECT_EQ(sp::mqtt::shared_subscription_filter("$share/g/a/+"), "a/+");
  EXPECT_FALSE(sp::mqtt::shared_subscription_filter("$share//a"));
  EXPECT_FALSE(sp::mqtt::shared_subscription_filter("$share/g"));
  EXPECT_FALSE(sp::mqtt::shared_subscription_filter("a/$share/g/b"));
}

TEST(TopicRouter, DispatchesToEveryMatchAndAcksUnrouted) {
  sp::mqtt::TopicRouter router;
  std::vector<std::string> seen;
  router.add("a/+", 1, [&](sp::mqtt::Message&& m, sp::mqtt::Done done) {
    seen.push_back("a:" + m.topic);
    done(true);
  });
  router.add("#", 0, [&](sp::mqtt::Message&& m, sp::mqtt::Done done) {
    seen.push_back("all:" + m.topic);
    done(true);
  });
  router.add("#", 1, [&](sp::mqtt::Message&&, sp::mqtt::Done done) { done(true); });
  int acked = 0;
  router.dispatch({"a/x", "", 1, false, 1}, [&](bool ok) { acked += ok; });
  EXPECT_EQ(seen, (std::vector<std::string>{"a:a/x", "all:a/x"}));
  EXPECT_EQ(acked, 1);  // once, after every handler
  seen.clear();
  router.dispatch({"b/y", "", 1, false, 2}, [&](bool ok) { acked += ok; });
  EXPECT_EQ(seen, std::vector<std::string>{"all:b/y"});
  sp::mqtt::TopicRouter empty;
  empty.dispatch({"z", "", 1, false, 3}, [&](bool ok) { acked += ok; });
  EXPECT_EQ(acked, 3);
  // One subscription per distinct filter, at the highest QoS asked for.
  EXPECT_EQ(router.subscriptions(),
            (std::vector<std::pair<std::string, int>>{{"a/+", 1}, {"#", 1}}));
}

TEST(TopicRouter, SharedTopicIsAcknowledgedOnlyWhenEveryReaderHandledIt) {
  sp::mqtt::TopicRouter router;
  sp::mqtt::Done later;
  router.add("t", 1, [&](sp::mqtt::Message&&, sp::mqtt::Done done) { later = std::move(done); });
  router.add("t", 1, [&](sp::mqtt::Message&&, sp::mqtt::Done done) { done(false); });
  std::vector<bool> results;
  router.dispatch({"t", "", 1, false, 1}, [&](bool ok) { results.push_back(ok); });
  EXPECT_TRUE(results.empty());  // the first reader has not finished
  later(true);
  EXPECT_EQ(results, std::vector<bool>{false});  // the second could not store it: no ack
}
