#include "dto.hpp"

#include <charconv>
#include <ctime>

#include "smartproduct/core/clock.hpp"

namespace sp::alerts {

nlohmann::json event_to_json(const EventView& v) {
  auto out = v.event.to_json();
  out["deviceName"] = v.device_name;
  if (v.alert_id) out["alertId"] = *v.alert_id;
  return out;
}

nlohmann::json alert_to_json(const AlertRecord& a) {
  auto out = event_to_json(EventView{a.last_event, a.device_name, a.id});
  out["occurrences"] = a.occurrences;
  out["firstEventId"] = a.first_event_id;
  out["firstSeenAt"] = iso8601_ms(a.first_seen_at_ms);
  out["lastSeenAt"] = iso8601_ms(a.last_seen_at_ms);
  return out;
}

namespace {

bool digits(std::string_view s, std::size_t pos, std::size_t n, int& out) {
  if (pos + n > s.size()) return false;
  const char* first = s.data() + pos;
  auto [ptr, ec] = std::from_chars(first, first + n, out);
  return ec == std::errc{} && ptr == first + n;
}

}  // namespace

std::optional<std::int64_t> parse_iso8601_ms(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS[.fff...](Z|+HH:MM|-HH:MM)
  int year, month, day, hour, minute, second;
  if (s.size() < 20 || !digits(s, 0, 4, year) || s[4] != '-' || !digits(s, 5, 2, month) ||
      s[7] != '-' || !digits(s, 8, 2, day) || (s[10] != 'T' && s[10] != 't') ||
      !digits(s, 11, 2, hour) || s[13] != ':' || !digits(s, 14, 2, minute) || s[16] != ':' ||
      !digits(s, 17, 2, second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::size_t pos = 19;
  int millis = 0;
  if (pos < s.size() && s[pos] == '.') {
    ++pos;
    int scale = 100;
    const std::size_t start = pos;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      millis += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (pos == start) return std::nullopt;
  }
  int offset_min = 0;
  if (pos < s.size() && (s[pos] == 'Z' || s[pos] == 'z')) {
    ++pos;
  } else if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) {
    int oh, om;
    if (!digits(s, pos + 1, 2, oh) || pos + 3 >= s.size() || s[pos + 3] != ':' ||
        !digits(s, pos + 4, 2, om) || oh > 23 || om > 59) {
      return std::nullopt;
    }
    offset_min = (oh * 60 + om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;  // a time without a zone means nothing on a server
  }
  if (pos != s.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  const std::int64_t secs = static_cast<std::int64_t>(timegm(&tm));
  // timegm normalises 31 February into March: refuse dates that did not survive.
  if (tm.tm_mday != day || tm.tm_mon != month - 1) return std::nullopt;
  return (secs - static_cast<std::int64_t>(offset_min) * 60) * 1000 + millis;
}

}  // namespace sp::alerts
