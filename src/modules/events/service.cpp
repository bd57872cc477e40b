#include "smartproduct/events/service.hpp"

#include "smartproduct/events/events.hpp"

#include <spdlog/spdlog.h>

#include "smartproduct/core/ids.hpp"
#include "smartproduct/telemetry/service.hpp"

namespace sp::events {

bool is_event_type(std::string_view type) {
  return type == "error" || type == "warning" || type == "info" || type == "diagnostic";
}

nlohmann::json EventRecord::to_json() const {
  auto out = nlohmann::json::parse(payload, nullptr, false);
  if (!out.is_object()) out = nlohmann::json::object();
  out["id"] = id;
  out["deviceId"] = device_id;
  out["type"] = type;
  out["timestamp"] = timestamp_ms;
  out["createdAt"] = iso8601_ms(created_at_ms);
  out["updatedAt"] = iso8601_ms(updated_at_ms);
  out["ack"] = ack;
  out["suppress"] = suppress;
  if (user_id) out["userId"] = *user_id;
  return out;
}

EventService::EventService(IngestConfig config, store::EventRepository& repository,
                           const Clock& clock, EventBus& bus, OwnerLookup owner)
    : config_(std::move(config)),
      repository_(repository),
      clock_(clock),
      bus_(bus),
      owner_(std::move(owner)) {}

namespace {

// Field checks beyond "is an object": the types the seed's devices send, so that lists and alert
// filters can rely on them.
bool valid_event_fields(const nlohmann::json& body) {
  auto type = body.find("type");
  if (type == body.end() || !type->is_string() ||
      !is_event_type(type->get_ref<const std::string&>())) {
    return false;
  }
  for (const char* key : {"messageId", "message", "sentAt"}) {
    auto it = body.find(key);
    if (it != body.end() && !it->is_string()) return false;
  }
  auto details = body.find("details");
  if (details != body.end() && !details->is_object()) return false;
  auto mid = body.find("messageId");
  if (mid != body.end() && mid->get_ref<const std::string&>().size() > 128) return false;
  return true;
}

}  // namespace

bool EventService::ingest(std::string_view topic, std::string_view payload,
                          std::function<void(bool)> done, const SpoolMark* mark) {
  counters_.received++;
  auto parsed = parse_device_message(config_.topic, topic, payload, config_.max_payload_bytes);
  if (parsed.message && !valid_event_fields(parsed.message->body)) {
    parsed.message.reset();
    parsed.rejection = DeviceMessageRejection::kInvalid;
  }
  if (!parsed.message) {
    counters_.count(parsed.rejection);
    spdlog::debug("events: rejected message on {} ({} bytes): {}", topic, payload.size(),
                  to_string(parsed.rejection));
    done(true);
    return false;
  }
  auto& body = parsed.message->body;
  EventRecord e;
  e.id = ids::uuid_v4();
  e.device_id = std::move(parsed.message->device_id);
  e.type = body["type"].get<std::string>();
  e.message = body.value("message", "");
  e.message_id = body.value("messageId", "");
  e.sent_at = body.value("sentAt", "");
  if (auto d = body.find("details"); d != body.end()) e.details = *d;
  e.created_at_ms = e.updated_at_ms = clock_.now_ms();
  auto ts = epoch_ms_field(body, "timestamp");
  e.timestamp_from_device = ts.has_value();
  e.timestamp_ms = ts.value_or(e.created_at_ms);
  e.dedup_key = !e.message_id.empty() ? "mid:" + e.message_id : telemetry::dedup_key(body, payload);
  if (owner_) e.user_id = owner_(e.device_id);
  // What the device sent, byte for byte (strict JSON: the whole of it is valid), next to the
  // fields parsed from it: re-serializing would rewrite numbers (18446744073709551616 became
  // 1.8446744073709552e+19) and key order.
  e.payload.assign(payload);
  std::function<void()> announce;
  const bool stored_wanted = bus_.has_subscribers<EventStored>();
  // A new event of an owned device joined (or, suppressed, skipped) its owner's alert group.
  const bool alerts_wanted = e.user_id && bus_.has_subscribers<AlertsChanged>();
  if (stored_wanted || alerts_wanted) {
    announce = [this,
                stored = stored_wanted ? std::optional<EventStored>(EventStored{e}) : std::nullopt,
                user = alerts_wanted ? *e.user_id : std::string()] {
      if (stored) bus_.publish(*stored);
      if (!user.empty()) bus_.publish(AlertsChanged{user});
    };
  }
  if (mark) e.spool_mark = *mark;
  repository_.append(std::move(e),
                     count_and_acknowledge(counters_, "events", AppendOutcome::kDuplicate,
                                           std::move(done), std::move(announce)));
  return true;
}

}  // namespace sp::events

namespace sp::events {

void EventService::record_system_event(const std::vector<std::string>& admins,
                                       const std::string& type, const std::string& message,
                                       const nlohmann::json& details, const std::string& key) {
  for (const auto& admin : admins) {
    EventRecord e;
    e.id = ids::uuid_v4();
    e.device_id = kSystemDevice;
    e.user_id = admin;
    e.type = type;
    e.message = message;
    e.message_id = key;
    e.details = details;
    e.created_at_ms = e.updated_at_ms = e.timestamp_ms = clock_.now_ms();
    // Per administrator: events_dedup is unique per (device, key), and every admin's copy has
    // the device "$system" (one key for all made every admin after the first a "duplicate").
    e.dedup_key = "mid:" + key + "@" + admin;
    e.payload = nlohmann::json{
        {"messageId", key},
        {"type", type},
        {"message", message},
        {"details",
         details}}.dump();
    const bool alerts_wanted = bus_.has_subscribers<AlertsChanged>();
    repository_.append(std::move(e), [this, admin, alerts_wanted](Result<AppendOutcome> r) {
      if (!r) {
        spdlog::error("events: system event for {} not stored: {} ({})", admin, r.error().message,
                      r.error().detail);
        return;
      }
      if (*r == AppendOutcome::kStored && alerts_wanted) bus_.publish(AlertsChanged{admin});
    });
  }
}

}  // namespace sp::events
