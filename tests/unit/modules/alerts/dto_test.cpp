#include "modules/alerts/dto.hpp"

#include <gtest/gtest.h>

namespace sp::alerts {
namespace {

TEST(ParseIso8601, AcceptsUtcOffsetsAndFractions) {
  EXPECT_EQ(parse_iso8601_ms("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_iso8601_ms("2023-11-14T22:13:20Z"), 1700000000000);
  EXPECT_EQ(parse_iso8601_ms("2023-11-14T22:13:20.250Z"), 1700000000250);
  EXPECT_EQ(parse_iso8601_ms("2023-11-14T22:13:20.5Z"), 1700000000500);
  EXPECT_EQ(parse_iso8601_ms("2023-11-14T23:13:20+01:00"), 1700000000000);
  EXPECT_EQ(parse_iso8601_ms("2023-11-14T21:43:20-00:30"), 1700000000000);
}

TEST(ParseIso8601, RefusesWhatIsNotADateTimeWithAZone) {
  for (const char* bad :
       {"", "2023-11-14", "2023-11-14T22:13:20", "2023-11-14 22:13:20Z", "2023-13-14T22:13:20Z",
        "2023-02-30T22:13:20Z", "2023-11-14T24:00:00Z", "2023-11-14T22:13:20.Z",
        "2023-11-14T22:13:20Zjunk", "tomorrow", "2023-11-14T22:13:20+0100", "1700000000000"}) {
    EXPECT_FALSE(parse_iso8601_ms(bad)) << bad;
  }
}

TEST(AlertJson, IsTheNewestEventWithTheGroupFields) {
  AlertRecord a;
  a.id = 7;
  a.device_id = "SN1";
  a.device_name = "Living room";
  a.occurrences = 30;
  a.first_event_id = "e1";
  a.first_seen_at_ms = 1700000000000;
  a.last_seen_at_ms = 1700000290000;
  a.last_event.id = "e30";
  a.last_event.device_id = "SN1";
  a.last_event.type = "error";
  a.last_event.user_id = "alice";
  a.last_event.payload = R"({"type":"error","message":"hot","details":{"value":1}})";
  auto j = alert_to_json(a);
  EXPECT_EQ(j["id"], "e30");
  EXPECT_EQ(j["alertId"], 7);
  EXPECT_EQ(j["occurrences"], 30);
  EXPECT_EQ(j["firstEventId"], "e1");
  EXPECT_EQ(j["firstSeenAt"], "2023-11-14T22:13:20.000Z");
  EXPECT_EQ(j["lastSeenAt"], "2023-11-14T22:18:10.000Z");
  EXPECT_EQ(j["deviceName"], "Living room");
  EXPECT_EQ(j["message"], "hot");
  EXPECT_EQ(j["ack"], false);
}

}  // namespace
}  // namespace sp::alerts
