#include "payload.hpp"

#include <fmt/format.h>

#include <ctime>
#include <nlohmann/json.hpp>

namespace sp::sim {

std::string iso_local_with_offset(std::int64_t epoch_ms) {
  std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm local{};
  localtime_r(&seconds, &local);
  char stamp[32];
  std::strftime(stamp, sizeof stamp, "%Y-%m-%dT%H:%M:%S", &local);
  long offset_min = local.tm_gmtoff / 60;
  char sign = offset_min < 0 ? '-' : '+';
  if (offset_min < 0) offset_min = -offset_min;
  return fmt::format("{}{}{:02d}:{:02d}", stamp, sign, offset_min / 60, offset_min % 60);
}

std::string make_telemetry_payload(PayloadKind kind, std::string_view serial,
                                   const TelemetrySample& sample) {
  if (kind == PayloadKind::kSmall) {
    // Formatted by hand: this runs tens of thousands of times per second in a benchmark.
    return fmt::format(
        R"({{"seq":{},"timestamp":{},"actualTemperature":{},"targetTemperature":{}}})", sample.seq,
        sample.timestamp_ms, sample.actual_temperature, sample.target_temperature);
  }
  if (kind == PayloadKind::kEvent) {
    return fmt::format(
        R"({{"messageId":"{}-{}-{}","type":"info","message":"bench event","details":{{"seq":{}}},)"
        R"("timestamp":{},"seq":{}}})",
        serial, sample.timestamp_ms, sample.seq, sample.seq, sample.timestamp_ms, sample.seq);
  }
  const auto when = iso_local_with_offset(sample.timestamp_ms);
  nlohmann::json body{{"createdAt", when},
                      {"deviceId", serial},
                      {"actualTemperature", sample.actual_temperature},
                      {"targetTemperature", sample.target_temperature},
                      {"sentAt", when},
                      {"timestamp", sample.timestamp_ms},
                      {"seq", sample.seq}};
  return body.dump();
}

}  // namespace sp::sim
