#include "smartproduct/jitr/plugin_control.hpp"

#include <spdlog/spdlog.h>

#include <nlohmann/json.hpp>

#include "smartproduct/broker/protocol.hpp"

namespace sp::jitr {
namespace {

using broker::kControlTopic;
// Our command ids start with this, so answers to others (the presence module's listConnected)
// are left alone.
constexpr std::string_view kIdPrefix = "jitr-";
// One control message carries at most this many commands: a delete of a device with many
// certificates or a large setState stays far below mosquitto's packet limits.
constexpr std::size_t kMaxCommandsPerMessage = 500;

}  // namespace

void PluginControl::send(std::string_view command, std::string_view field,
                         const std::vector<std::string>& values) {
  for (std::size_t i = 0; i < values.size(); i += kMaxCommandsPerMessage) {
    nlohmann::json commands = nlohmann::json::array();
    for (std::size_t k = i; k < values.size() && k < i + kMaxCommandsPerMessage; ++k) {
      commands.push_back({{"command", command},
                          {std::string(field), values[k]},
                          {"id", std::string(kIdPrefix) + std::to_string(next_id_++)}});
    }
    counters_.commands += commands.size();
    publisher_.publish(std::string(kControlTopic),
                       nlohmann::json{{"commands", std::move(commands)}}.dump(), 1, false);
  }
}

void PluginControl::activate(const std::vector<std::string>& fingerprints) {
  send("activate", "fingerprint", fingerprints);
}

void PluginControl::deactivate(const std::vector<std::string>& fingerprints) {
  send("deactivate", "fingerprint", fingerprints);
}

void PluginControl::revoke(const std::vector<std::string>& fingerprints) {
  send("revoke", "fingerprint", fingerprints);
}

void PluginControl::register_devices(const std::vector<std::string>& device_ids) {
  send("registerDevice", "username", device_ids);
}

void PluginControl::unregister_devices(const std::vector<std::string>& device_ids) {
  send("unregisterDevice", "username", device_ids);
}

void PluginControl::disable_ca(std::string_view ca_id) {
  send("disableCa", "aki", {std::string(ca_id)});
}

void PluginControl::enable_ca(std::string_view ca_id) {
  send("enableCa", "aki", {std::string(ca_id)});
}

void PluginControl::set_state(const store::BrokerState& state) {
  // revokedUsernames stays empty: the platform revokes certificates, never serials (a deleted
  // serial may be registered again with a new certificate).
  nlohmann::json st = {{"revokedFingerprints", state.revoked_fingerprints},
                       {"revokedUsernames", nlohmann::json::array()},
                       {"disabledCas", state.disabled_cas},
                       {"activatedFingerprints", state.activated_fingerprints},
                       {"registeredUsernames", state.registered_devices},
                       {"autoActivateCas", state.auto_activate_cas}};
  nlohmann::json cmd = {{"command", "setState"},
                        {"state", std::move(st)},
                        {"id", std::string(kIdPrefix) + std::to_string(next_id_++)}};
  counters_.commands++;
  counters_.full_syncs++;
  publisher_.publish(std::string(kControlTopic),
                     nlohmann::json{{"commands", nlohmann::json::array({std::move(cmd)})}}.dump(),
                     1, false);
}

void PluginControl::on_control_response(std::string_view payload) {
  auto j = nlohmann::json::parse(payload, nullptr, false);
  if (!j.is_object() || !j.contains("responses") || !j["responses"].is_array()) return;
  for (const auto& r : j["responses"]) {
    if (!r.is_object()) continue;
    auto id = r.find("id");
    if (id == r.end() || !id->is_string() || !id->get<std::string>().starts_with(kIdPrefix)) {
      continue;
    }
    if (auto k = r.find("kicked"); k != r.end() && k->is_number_unsigned()) {
      counters_.kicked += k->get<std::uint64_t>();
    }
    if (auto e = r.find("error"); e != r.end()) {
      counters_.errors++;
      spdlog::error("broker plugin refused command {} ({}): {}", r.value("command", "?"),
                    id->get<std::string>(), e->is_string() ? e->get<std::string>() : e->dump());
    }
  }
}

}  // namespace sp::jitr
