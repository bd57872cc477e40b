#include "app/metrics.hpp"

#include <gtest/gtest.h>

namespace sp::app {
namespace {

http::Request from(std::string address, std::string authorization = {}) {
  http::Request r;
  r.method = "GET";
  r.target = "/metrics";
  r.remote_address = std::move(address);
  if (!authorization.empty()) r.headers.emplace_back("authorization", std::move(authorization));
  return r;
}

const std::string kToken(40, 'k');

TEST(MetricsAccess, LoopbackOnlyByDefault) {
  config::MetricsSettings access;
  EXPECT_TRUE(metrics_access_allowed(access, from("127.0.0.1")));
  EXPECT_TRUE(metrics_access_allowed(access, from("127.8.9.10")));
  EXPECT_TRUE(metrics_access_allowed(access, from("::1")));
  EXPECT_TRUE(metrics_access_allowed(access, from("::ffff:127.0.0.1")));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7")));
  EXPECT_FALSE(metrics_access_allowed(access, from("::ffff:10.0.0.7")));
  EXPECT_FALSE(metrics_access_allowed(access, from("2001:db8::1")));
  EXPECT_FALSE(metrics_access_allowed(access, from("")));
  // Without a configured token no header opens it.
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Bearer ")));
}

TEST(MetricsAccess, TokenOpensItFromAnywhereAndOnlyTheExactToken) {
  config::MetricsSettings access;
  access.token = kToken;
  EXPECT_TRUE(metrics_access_allowed(access, from("10.0.0.7", "Bearer " + kToken)));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Bearer " + kToken + "x")));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Bearer " + kToken.substr(1))));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Bearer " + std::string(40, 'j'))));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Basic " + kToken)));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", kToken)));
}

TEST(MetricsAccess, LoopbackCanBeMadeToNeedTheTokenToo) {
  config::MetricsSettings access;
  access.token = kToken;
  access.allow_loopback = false;
  EXPECT_FALSE(metrics_access_allowed(access, from("127.0.0.1")));
  EXPECT_TRUE(metrics_access_allowed(access, from("127.0.0.1", "Bearer " + kToken)));
}

}  // namespace
}  // namespace sp::app
