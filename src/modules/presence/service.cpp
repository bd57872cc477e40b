#include "smartproduct/presence/service.hpp"

#include <spdlog/spdlog.h>
#include <nlohmann/json.hpp>

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/ids.hpp"

namespace sp::presence {

std::string_view to_string(ConnectionEvent::Kind kind) {
  switch (kind) {
    case ConnectionEvent::Kind::kConnected:
      return "connected";
    case ConnectionEvent::Kind::kDisconnected:
      return "disconnected";
    case ConnectionEvent::Kind::kRejected:
      return "rejected";
  }
  return "unknown";
}

PresenceService::PresenceService(store::PresenceRepository& repository, mqtt::Publisher& publisher,
                                 const Clock& clock, EventBus& bus,
                                 std::set<std::string> service_users)
    : repository_(repository),
      publisher_(publisher),
      clock_(clock),
      service_users_(std::move(service_users)),
      bus_(bus) {}

namespace {

std::string str(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

int64_t num(const nlohmann::json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_number() ? it->get<int64_t>() : 0;
}

std::optional<ConnectionEvent> event_from_json(const nlohmann::json& j, int64_t now_ms) {
  ConnectionEvent e;
  auto kind = str(j, "event");
  if (kind == "connected") {
    e.kind = ConnectionEvent::Kind::kConnected;
  } else if (kind == "disconnected") {
    e.kind = ConnectionEvent::Kind::kDisconnected;
  } else if (kind == "rejected") {
    e.kind = ConnectionEvent::Kind::kRejected;
  } else {
    return std::nullopt;
  }
  e.device_id = str(j, "username");
  e.client_id = str(j, "clientId");
  e.cert_fingerprint = str(j, "certFingerprint");
  e.issuer = str(j, "issuer");
  e.serial = str(j, "serial");
  e.aki = str(j, "aki");
  e.ca_id = str(j, "caId");
  e.not_before_s = num(j, "notBefore");
  e.not_after_s = num(j, "notAfter");
  e.address = str(j, "address");
  e.protocol_version = static_cast<int>(num(j, "protocolVersion"));
  e.broker_epoch = num(j, "epoch");
  e.conn_seq = num(j, "connSeq");
  auto ts = epoch_ms_field(j, "tsMs");
  e.at_ms = ts.value_or(now_ms);
  e.reason = str(j, "reason");
  return e;
}

}  // namespace

void PresenceService::on_presence(std::string_view topic, std::string_view payload,
                                  std::function<void(bool)> done) {
  counters_.events++;
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object()) {
    counters_.malformed++;
    spdlog::warn("presence: malformed message on {}", topic);
    done(true);
    return;
  }
  auto store_done = [done](Result<void> r) {
    if (!r) spdlog::error("presence: store failed: {} ({})", r.error().message, r.error().detail);
    done(r.has_value());
  };
  if (topic == kBrokerTopic) {
    int64_t epoch = num(j, "epoch");
    if (str(j, "event") != "broker_started" || epoch <= 0) {
      counters_.malformed++;
      done(true);
      return;
    }
    {
      std::lock_guard lock(mutex_);
      if (known_epoch_ < 0) {
        auto stored = repository_.broker_epoch();
        known_epoch_ = stored && *stored ? **stored : 0;
      }
      if (epoch == known_epoch_) {
        done(true);
        return;
      }
      known_epoch_ = epoch;
    }
    counters_.broker_restarts++;
    spdlog::info(
        "presence: broker epoch {} (new broker process): marking devices of older "
        "epochs offline and resynchronising",
        epoch);
    repository_.broker_restarted(epoch, clock_.now_ms(), [this, store_done](Result<void> r) {
      if (r) request_resync();
      store_done(std::move(r));
    });
    return;
  }
  auto event = event_from_json(j, clock_.now_ms());
  if (!event) {
    counters_.malformed++;
    done(true);
    return;
  }
  // A refused service identity (e.g. a forged svc-backend certificate) is a security event: only
  // the service's own connects and disconnects are no device presence.
  if (service_users_.count(event->device_id) && event->kind != ConnectionEvent::Kind::kRejected) {
    done(true);
    return;
  }
  if (event->kind != ConnectionEvent::Kind::kRejected && !is_valid_device_id(event->device_id)) {
    counters_.malformed++;
    done(true);
    return;
  }
  if (event->kind == ConnectionEvent::Kind::kRejected) {
    spdlog::warn("presence: connection refused by the broker: cn '{}' client '{}' from {}: {}",
                 event->device_id, event->client_id, event->address, event->reason);
  }
  // Subscribers (JITR) see the event once it is stored; they do their own durable bookkeeping,
  // so the PUBACK does not wait for them.
  ConnectionEvent copy = *event;
  repository_.apply(std::move(*event),
                    [this, store_done, copy = std::move(copy)](Result<void> r) mutable {
                      const bool ok = r.has_value();
                      store_done(std::move(r));
                      if (ok) bus_.publish(std::move(copy));
                    });
}

void PresenceService::request_resync() {
  counters_.resyncs++;
  nlohmann::json request = {
      {"commands", {{{"command", "listConnected"}, {"id", "resync-" + ids::random_hex(4)}}}}};
  publisher_.publish(std::string(kControlTopic), request.dump(), 1, false);
}

void PresenceService::on_control_response(std::string_view payload,
                                          std::function<void(bool)> done) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  auto responses = j.is_object() ? j.find("responses") : j.end();
  if (!j.is_object() || responses == j.end() || !responses->is_array()) {
    counters_.malformed++;
    done(true);
    return;
  }
  // Collect the connected clients of every listConnected answer, then apply them; `done` fires
  // when the last one is committed.
  std::vector<ConnectionEvent> connected;
  for (auto& r : *responses) {
    if (!r.is_object() || str(r, "command") != "listConnected") continue;
    int64_t epoch = num(r, "epoch");
    auto clients = r.find("clients");
    if (clients == r.end() || !clients->is_array()) continue;
    for (auto& c : *clients) {
      if (!c.is_object()) continue;
      ConnectionEvent e;
      e.kind = ConnectionEvent::Kind::kConnected;
      e.device_id = str(c, "username");
      e.client_id = str(c, "clientId");
      e.cert_fingerprint = str(c, "certFingerprint");
      e.issuer = str(c, "issuer");
      e.serial = str(c, "serial");
      e.aki = str(c, "aki");
      e.ca_id = str(c, "caId");
      e.not_before_s = num(c, "notBefore");
      e.not_after_s = num(c, "notAfter");
      e.address = str(c, "address");
      e.protocol_version = static_cast<int>(num(c, "protocolVersion"));
      e.broker_epoch = epoch;
      e.conn_seq = num(c, "connSeq");
      e.at_ms = epoch_ms_field(c, "connectedAtMs").value_or(clock_.now_ms());
      if (service_users_.count(e.device_id) || !is_valid_device_id(e.device_id)) continue;
      connected.push_back(std::move(e));
    }
  }
  if (connected.empty()) {
    done(true);
    return;
  }
  spdlog::info("presence: resync found {} connected device(s)", connected.size());
  auto remaining = std::make_shared<std::atomic<std::size_t>>(connected.size());
  auto all_ok = std::make_shared<std::atomic<bool>>(true);
  for (auto& e : connected) {
    ConnectionEvent copy = e;
    repository_.apply(std::move(e), [this, remaining, all_ok, done,
                                     copy = std::move(copy)](Result<void> r) mutable {
      if (!r) *all_ok = false;
      if (r) bus_.publish(std::move(copy));
      if (--*remaining == 0) done(all_ok->load());
    });
  }
}

}  // namespace sp::presence
