#include "smartproduct/core/device_message.hpp"

#include "smartproduct/core/config.hpp"
#include "smartproduct/core/metrics.hpp"
#include "smartproduct/core/strict_json.hpp"

#include <fmt/format.h>

#include <cmath>

namespace sp {

IngestSettings read_ingest_settings(config::Section& s, std::string_view default_topic) {
  IngestSettings settings;
  settings.enabled = s.boolean("enabled", true);
  settings.topic = s.string("topic", std::string(default_topic));
  settings.max_payload_bytes = static_cast<std::size_t>(
      s.integer("max_payload_bytes", kDefaultMaxDevicePayloadBytes, 16, 268435455));
  if (settings.enabled &&
      (settings.topic.empty() || settings.topic.find_first_of("+#") != std::string::npos ||
       settings.topic.back() == '/')) {
    s.error("topic", "must be a non-empty topic prefix without wildcards or a trailing '/'");
  }
  s.finish();
  return settings;
}

std::string_view to_string(DeviceMessageRejection rejection) {
  switch (rejection) {
    case DeviceMessageRejection::kBadTopic:
      return "bad_topic";
    case DeviceMessageRejection::kOversize:
      return "oversize";
    case DeviceMessageRejection::kMalformed:
      return "malformed_json";
    case DeviceMessageRejection::kNotObject:
      return "not_an_object";
    case DeviceMessageRejection::kForeignDevice:
      return "foreign_device";
    case DeviceMessageRejection::kInvalid:
      return "invalid_field";
  }
  return "unknown";
}

bool is_valid_device_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (unsigned char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == ':' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<std::string> device_id_from_topic(std::string_view prefix, std::string_view topic) {
  if (topic.size() <= prefix.size() + 1 || topic.substr(0, prefix.size()) != prefix ||
      topic[prefix.size()] != '/') {
    return std::nullopt;
  }
  auto id = topic.substr(prefix.size() + 1);
  if (!is_valid_device_id(id)) return std::nullopt;
  return std::string(id);
}

DeviceMessageResult parse_device_message(std::string_view prefix, std::string_view topic,
                                         std::string_view payload, std::size_t max_payload_bytes) {
  DeviceMessageResult r;
  auto id = device_id_from_topic(prefix, topic);
  if (!id) {
    r.rejection = DeviceMessageRejection::kBadTopic;
    return r;
  }
  if (payload.size() > max_payload_bytes) {
    r.rejection = DeviceMessageRejection::kOversize;
    return r;
  }
  // Strict: a NUL byte with trailing data, a repeated member name ("deviceId" twice) or absurd
  // nesting make the whole message malformed rather than whatever part nlohmann would keep.
  auto parsed = json::parse_strict(payload);
  if (!parsed) {
    r.rejection = DeviceMessageRejection::kMalformed;
    return r;
  }
  auto body = std::move(*parsed);
  if (!body.is_object()) {
    r.rejection = DeviceMessageRejection::kNotObject;
    return r;
  }
  if (auto it = body.find("deviceId"); it != body.end()) {
    if (!it->is_string() || it->get_ref<const std::string&>() != *id) {
      r.rejection = DeviceMessageRejection::kForeignDevice;
      return r;
    }
  }
  r.message = ParsedDeviceMessage{std::move(*id), std::move(body)};
  return r;
}

std::optional<int64_t> epoch_ms_field(const nlohmann::json& object, const char* key) {
  auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  double v = it->get<double>();
  constexpr double kMin = 946684800000.0;   // 2000-01-01
  constexpr double kMax = 4102444800000.0;  // 2100-01-01
  if (!std::isfinite(v) || v < kMin || v >= kMax) return std::nullopt;
  return static_cast<int64_t>(v);
}

void IngestCounters::count(DeviceMessageRejection rejection) {
  switch (rejection) {
    case DeviceMessageRejection::kBadTopic:
      rejected_bad_topic++;
      break;
    case DeviceMessageRejection::kOversize:
      rejected_oversize++;
      break;
    case DeviceMessageRejection::kMalformed:
      rejected_malformed++;
      break;
    case DeviceMessageRejection::kNotObject:
      rejected_not_object++;
      break;
    case DeviceMessageRejection::kForeignDevice:
      rejected_foreign_device++;
      break;
    case DeviceMessageRejection::kInvalid:
      rejected_invalid++;
      break;
  }
}

nlohmann::json IngestCounters::to_json() const {
  return {{"received", received.load()},
          {"stored", stored.load()},
          {"duplicates", duplicates.load()},
          {"storeFailures", store_failures.load()},
          {"rejected",
           {{"badTopic", rejected_bad_topic.load()},
            {"oversize", rejected_oversize.load()},
            {"malformedJson", rejected_malformed.load()},
            {"notAnObject", rejected_not_object.load()},
            {"foreignDevice", rejected_foreign_device.load()},
            {"invalidField", rejected_invalid.load()}}}};
}

void report_ingest_metrics(const IngestCounters& c, const char* path,
                           std::vector<MetricSample>& out) {
  const std::string l = fmt::format("path=\"{}\"", path);
  add_counter(out, "smartproduct_ingest_received_total", "Device messages received", c.received, l);
  add_counter(out, "smartproduct_ingest_stored_total", "Device messages committed", c.stored, l);
  add_counter(out, "smartproduct_ingest_duplicates_total", "Redeliveries recognised and skipped",
              c.duplicates, l);
  add_counter(out, "smartproduct_ingest_store_failures_total", "Messages that could not be stored",
              c.store_failures, l);
  const auto rejected = [&](const char* reason, uint64_t v) {
    add_counter(out, "smartproduct_ingest_rejected_total", "Device messages refused, by reason", v,
                fmt::format("{},reason=\"{}\"", l, reason));
  };
  rejected("bad_topic", c.rejected_bad_topic);
  rejected("oversize", c.rejected_oversize);
  rejected("malformed_json", c.rejected_malformed);
  rejected("not_an_object", c.rejected_not_object);
  rejected("foreign_device", c.rejected_foreign_device);
  rejected("invalid_field", c.rejected_invalid);
}

}  // namespace sp
