#include "smartproduct/jitr/plugin_control.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <chrono>

#include <nlohmann/json.hpp>

#include "smartproduct/broker/protocol.hpp"
#include "smartproduct/broker/state_sync.hpp"

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

void PluginControl::kick_device(std::string_view device_id) {
  send("kickDevice", "username", {std::string(device_id)});
}

void PluginControl::quarantine(std::string_view device_id) {
  send("quarantine", "username", {std::string(device_id)});
}

void PluginControl::release(std::string_view device_id) {
  send("release", "username", {std::string(device_id)});
}

void PluginControl::disable_ca(std::string_view ca_id) {
  send("disableCa", "aki", {std::string(ca_id)});
}

void PluginControl::enable_ca(std::string_view ca_id) {
  send("enableCa", "aki", {std::string(ca_id)});
}

namespace {

constexpr std::string_view kSyncIdPrefix = "jitr-sync-";

// The bytes an entry takes in the JSON array: quotes, comma, escapes, and up to three bytes per
// byte for invalid UTF-8 (dumped as U+FFFD), so a chunk's size is bounded before it is built.
std::size_t json_size(std::string_view entry) {
  std::size_t n = 3;
  for (char ch : entry) {
    const auto c = static_cast<unsigned char>(ch);
    n += c < 0x20 ? 6 : (c == '"' || c == '\\') ? 2 : c >= 0x80 ? 3 : 1;
  }
  return n;
}

// The generation named in a sync chunk's id ("jitr-sync-<generation>-<index>"); 0 if none.
std::uint64_t sync_generation(std::string_view id) {
  if (!id.starts_with(kSyncIdPrefix)) return 0;
  id.remove_prefix(kSyncIdPrefix.size());
  std::uint64_t g = 0;
  for (char c : id.substr(0, id.find('-'))) {
    if (c < '0' || c > '9') return 0;
    g = g * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return g;
}

}  // namespace

PluginControl::PluginControl(mqtt::Publisher& publisher)
    : publisher_(publisher),
      // Distinct from earlier daemon processes' generations (in logs); the plugin only needs
      // consecutive chunks of one generation.
      next_generation_(
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count())) {}

void PluginControl::set_sync_listener(SyncListener listener) {
  std::lock_guard lock(listener_mutex_);
  listener_ = std::move(listener);
}

PluginControl::SyncSent PluginControl::sync_state(const store::BrokerState& state) {
  // revokedUsernames stays empty: the platform revokes certificates, never serials (a deleted
  // serial may be registered again with a new certificate).
  static const std::vector<std::string> kNone;
  const std::array<const std::vector<std::string>*, broker::kStateKeys.size()> sets = {
      &state.revoked_fingerprints, &kNone,
      &state.disabled_cas,         &state.activated_fingerprints,
      &state.registered_devices,   &state.auto_activate_cas,
      &state.quarantined_devices};
  // Room for the command's own fields, the array names and the checksum.
  constexpr std::size_t kBudget = kMaxChunkBytes - 1024;

  // First the chunk boundaries (every chunk names the count), then one message per chunk.
  struct Cut {
    std::size_t set;
    std::size_t index;
  };
  std::vector<Cut> starts{{0, 0}};
  std::size_t used = 0;
  std::size_t in_chunk = 0;  // entries in the chunk being measured
  for (std::size_t k = 0; k < sets.size(); ++k) {
    used += 32;  // "name":[]
    for (std::size_t i = 0; i < sets[k]->size(); ++i) {
      const auto n = json_size((*sets[k])[i]);
      if (used + n > kBudget && in_chunk > 0) {
        starts.push_back({k, i});
        used = 32;
        in_chunk = 0;
      }
      used += n;
      ++in_chunk;
    }
  }

  SyncSent sent;
  sent.generation = next_generation_++;
  sent.chunks = starts.size();
  broker::StateChecksum sum;
  for (std::size_t c = 0; c < starts.size(); ++c) {
    const Cut from = starts[c];
    const Cut to = c + 1 < starts.size() ? starts[c + 1] : Cut{sets.size(), 0};
    nlohmann::json part = nlohmann::json::object();
    for (std::size_t k = from.set; k < sets.size() && k <= to.set; ++k) {
      const std::size_t b = k == from.set ? from.index : 0;
      const std::size_t e = k == to.set ? to.index : sets[k]->size();
      if (b >= e) continue;
      auto& arr = part[std::string(broker::kStateKeys[k])] = nlohmann::json::array();
      for (std::size_t i = b; i < e; ++i) {
        const auto& entry = (*sets[k])[i];
        sum.add(k, entry);
        arr.push_back(entry);
      }
    }
    nlohmann::json cmd = {{"command", broker::kStateChunkCommand},
                          {"id", fmt::format("{}{}-{}", kSyncIdPrefix, sent.generation, c)},
                          {"generation", sent.generation},
                          {"index", c},
                          {"count", starts.size()},
                          {"state", std::move(part)}};
    if (c + 1 == starts.size()) {
      cmd["checksum"] = sum.text();
      cmd["entries"] = sum.entries();
    }
    auto payload = nlohmann::json{{"commands", nlohmann::json::array({std::move(cmd)})}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    sent.bytes += payload.size();
    counters_.commands++;
    counters_.sync_chunks++;
    publisher_.publish(std::string(kControlTopic), std::move(payload), 1, false);
  }
  sent.entries = sum.entries();
  counters_.full_syncs++;
  return sent;
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
    const auto e = r.find("error");
    const std::string error =
        e == r.end() ? std::string() : (e->is_string() ? e->get<std::string>() : e->dump());
    if (e != r.end()) {
      counters_.errors++;
      spdlog::error("broker plugin refused command {} ({}): {}", r.value("command", "?"),
                    id->get<std::string>(), error);
    }
    const auto generation = sync_generation(id->get<std::string>());
    const bool applied = r.value("applied", false) == true;
    if (generation != 0 && (applied || e != r.end())) {
      std::lock_guard lock(listener_mutex_);
      if (listener_) listener_(generation, applied, error);
    }
  }
}

}  // namespace sp::jitr
