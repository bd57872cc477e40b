#include "smartproduct/core/logging.hpp"

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

namespace sp::logging {
namespace {

using namespace std::chrono;

const system_clock::time_point kAt = system_clock::time_point(milliseconds(1796304600123));

nlohmann::json parsed(std::string_view message, std::string_view req = {}) {
  const auto line = json_log_line(kAt, "info", "smartproductd", message, req);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;  // one object per line
  return nlohmann::json::parse(line);  // throws (fails the test) when it is not JSON
}

TEST(JsonLogLine, CarriesTimeLevelLoggerAndMessage) {
  const auto j = parsed("store: opened");
  EXPECT_EQ(j.at("ts"), "2026-12-03T13:30:00.123Z");
  EXPECT_EQ(j.at("level"), "info");
  EXPECT_EQ(j.at("logger"), "smartproductd");
  EXPECT_EQ(j.at("msg"), "store: opened");
  EXPECT_FALSE(j.contains("req"));
  EXPECT_EQ(j.size(), 4u);
}

TEST(JsonLogLine, RequestIdWhenSet) {
  EXPECT_EQ(parsed("x", "0123456789abcdef").at("req"), "0123456789abcdef");
}

TEST(JsonLogLine, EscapesWhatCouldBreakTheLine) {
  const std::string nasty = "a \"quoted\" back\\slash\nnew line\r\ttab \x01\x1f\x7f end";
  EXPECT_EQ(parsed(nasty).at("msg"), nasty);
}

TEST(JsonLogLine, KeepsUtf8AndReplacesInvalidBytes) {
  EXPECT_EQ(parsed("Temperatur 21 °C, 温度 🌡").at("msg"), "Temperatur 21 °C, 温度 🌡");
  // A lone continuation byte, a truncated sequence, an overlong '/', a UTF-16 surrogate.
  EXPECT_EQ(parsed("a\x80"
                   "b\xE2\x82"
                   "c\xC0\xAF"
                   "d\xED\xA0\x80"
                   "e")
                .at("msg"),
            "a\uFFFDb\uFFFD\uFFFDc\uFFFD\uFFFDd\uFFFD\uFFFD\uFFFDe");
}

}  // namespace
}  // namespace sp::logging
