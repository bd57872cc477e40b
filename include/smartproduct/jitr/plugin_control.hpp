#pragma once
// The daemon's side of the broker plugin's control channel ($CONTROL/smartproduct/v1, contract in
// src/broker_plugin/README.md): activates, revokes and refuses device certificates and disables
// CAs at the broker, and replaces the plugin's whole state from the store (setState) after a
// (re)connect, a broker restart or a change made by smartproductctl.
//
// Commands are fire-and-forget QoS 1 publishes: the store is the source of truth, and every
// reconnect re-sends the whole state, so a command lost with a connection is repaired by the next
// full sync. Answers are only checked for errors (logged and counted), except the whole-state
// sync: it goes as a generation of `stateChunk` messages (each below mosquitto's max_packet_size)
// that the plugin swaps in atomically, and its verdict is reported to a listener (JitrService
// retries and reports readiness from it).

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/store/ca_repository.hpp"

namespace sp::jitr {

class PluginControl {
 public:
  explicit PluginControl(mqtt::Publisher& publisher);

  /// Grants topic rights to these certificates (plugin `activate`).
  void activate(const std::vector<std::string>& fingerprints);
  /// Takes the rights away and disconnects them (plugin `deactivate`): refused certificates.
  void deactivate(const std::vector<std::string>& fingerprints);
  /// Refuses the certificates from now on and disconnects them (plugin `revoke`).
  void revoke(const std::vector<std::string>& fingerprints);
  /// Pre-authorizes / stops pre-authorizing registered serials (plugin `registerDevice`).
  void register_devices(const std::vector<std::string>& device_ids);
  void unregister_devices(const std::vector<std::string>& device_ids);
  /// Disconnects every connection of the device (plugin `kickDevice`); its rights stay.
  void kick_device(std::string_view device_id);
  /// Refuses the device's publishes except to its shadow and command responses (plugin
  /// `quarantine`), until `release`. The connection stays.
  void quarantine(std::string_view device_id);
  void release(std::string_view device_id);
  void disable_ca(std::string_view ca_id);
  void enable_ca(std::string_view ca_id);
  /// What sync_state sent.
  struct SyncSent {
    std::uint64_t generation = 0;
    std::size_t chunks = 0;
    std::uint64_t entries = 0;
    std::uint64_t bytes = 0;
  };
  /// Replaces every set of the plugin: one new generation of `stateChunk` messages, none larger
  /// than kMaxChunkBytes; the plugin keeps its old state until the last chunk arrives intact,
  /// then swaps and disconnects what is now refused.
  SyncSent sync_state(const store::BrokerState& state);

  /// The plugin's verdict on a generation: applied, or refused with its error (called on the
  /// thread that delivers control responses).
  using SyncListener =
      std::function<void(std::uint64_t generation, bool applied, const std::string& detail)>;
  void set_sync_listener(SyncListener listener);

  /// A chunk's payload stays below this (mosquitto's default max_packet_size in our broker
  /// config is 256 KiB; a client may not send a larger packet).
  static constexpr std::size_t kMaxChunkBytes = 128 * 1024;

  /// A message on $CONTROL/smartproduct/v1/response: errors in answers to our commands are logged.
  void on_control_response(std::string_view payload);

  struct Counters {
    std::atomic<std::uint64_t> commands{0};
    std::atomic<std::uint64_t> full_syncs{0};
    std::atomic<std::uint64_t> errors{0};
    std::atomic<std::uint64_t> kicked{0};
    std::atomic<std::uint64_t> sync_chunks{0};
  };
  const Counters& counters() const { return counters_; }

 private:
  void send(std::string_view command, std::string_view field,
            const std::vector<std::string>& values);

  mqtt::Publisher& publisher_;
  Counters counters_;
  std::atomic<std::uint64_t> next_id_{1};
  std::atomic<std::uint64_t> next_generation_;
  std::mutex listener_mutex_;
  SyncListener listener_;
};

}  // namespace sp::jitr
