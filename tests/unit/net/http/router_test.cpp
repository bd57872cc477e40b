#include <gtest/gtest.h>

#include "smartproduct/http/types.hpp"

namespace sp::http {
namespace {

Handler tagged(std::string tag) {
  return [tag](Request&) { return Response::json(200, {{"tag", tag}}); };
}

std::string call(const Router::Match& match) {
  Request request;
  auto response = (*match.handler)(request);
  return nlohmann::json::parse(response.body).at("tag").get<std::string>();
}

TEST(Router, LiteralSegmentBeatsParameter) {
  Router router;
  router.add("GET", "/api/devices/{deviceId}", tagged("by-id"));
  router.add("GET", "/api/devices/events", tagged("events"));

  auto literal = router.match("GET", "/api/devices/events");
  ASSERT_NE(literal.handler, nullptr);
  EXPECT_EQ(call(literal), "events");
  EXPECT_TRUE(literal.params.empty());

  auto param = router.match("GET", "/api/devices/dev-42");
  ASSERT_NE(param.handler, nullptr);
  EXPECT_EQ(call(param), "by-id");
  EXPECT_EQ(param.params.at("deviceId"), "dev-42");
}

TEST(Router, BacktracksToParameterWhenLiteralBranchDeadEnds) {
  Router router;
  router.add("GET", "/api/devices/events/latest", tagged("latest"));
  router.add("GET", "/api/devices/{deviceId}/events", tagged("device-events"));
  auto match = router.match("GET", "/api/devices/events/events");
  ASSERT_NE(match.handler, nullptr);
  EXPECT_EQ(call(match), "device-events");
  EXPECT_EQ(match.params.at("deviceId"), "events");
}

TEST(Router, MultipleParameters) {
  Router router;
  router.add("DELETE", "/api/devices/{deviceId}/events/{eventId}", tagged("del"));
  auto match = router.match("DELETE", "/api/devices/d1/events/e9");
  ASSERT_NE(match.handler, nullptr);
  EXPECT_EQ(match.params.at("deviceId"), "d1");
  EXPECT_EQ(match.params.at("eventId"), "e9");
}

TEST(Router, UnknownPathIsNotFound) {
  Router router;
  router.add("GET", "/api/devices", tagged("list"));
  for (auto path :
       {"/api/device", "/api/devices/x", "/api", "/", "", "api/devices", "/api/devices/"}) {
    auto match = router.match("GET", path);
    EXPECT_EQ(match.handler, nullptr) << path;
    EXPECT_FALSE(match.path_known) << path;
  }
}

TEST(Router, WrongMethodIsMethodNotAllowedWithAllowList) {
  Router router;
  router.add("GET", "/api/devices", tagged("list"));
  router.add("POST", "/api/devices", tagged("create"));
  auto match = router.match("PUT", "/api/devices");
  EXPECT_EQ(match.handler, nullptr);
  EXPECT_TRUE(match.path_known);
  EXPECT_EQ(match.allowed, (std::vector<std::string>{"GET", "HEAD", "POST"}));
}

TEST(Router, MatchNamesThePatternForLogs) {
  Router router;
  router.add("GET", "/api/devices/{deviceId}", tagged("one"));
  EXPECT_EQ(router.match("GET", "/api/devices/D1").pattern, "/api/devices/{deviceId}");
  EXPECT_EQ(router.match("PUT", "/api/devices/D1").pattern, "/api/devices/{deviceId}");  // 405
  EXPECT_EQ(router.match("GET", "/api/other").pattern, "");
}

TEST(Router, HeadUsesGetHandler) {
  Router router;
  router.add("GET", "/api/devices", tagged("list"));
  auto match = router.match("HEAD", "/api/devices");
  ASSERT_NE(match.handler, nullptr);
  EXPECT_EQ(call(match), "list");
}

TEST(Router, EmptySegmentDoesNotBindParameter) {
  Router router;
  router.add("GET", "/api/devices/{deviceId}", tagged("by-id"));
  EXPECT_EQ(router.match("GET", "/api/devices/").handler, nullptr);
}

TEST(Router, RootRoute) {
  Router router;
  router.add("GET", "/", tagged("root"));
  auto match = router.match("GET", "/");
  ASSERT_NE(match.handler, nullptr);
  EXPECT_EQ(call(match), "root");
}

TEST(Router, RejectsBadRegistrations) {
  Router router;
  router.add("GET", "/api/a/{id}", tagged("a"));
  EXPECT_THROW(router.add("GET", "/api/a/{id}", tagged("dup")), std::invalid_argument);
  EXPECT_THROW(router.add("GET", "/api/a/{other}/b", tagged("conflict")), std::invalid_argument);
  EXPECT_THROW(router.add("GET", "api/x", tagged("relative")), std::invalid_argument);
  EXPECT_NO_THROW(router.add("POST", "/api/a/{id}", tagged("post")));
}

}  // namespace
}  // namespace sp::http
