#pragma once
// Telemetry ingest: validates device telemetry and appends it durably. The MQTT binding calls
// ingest() for every message on <topic>/<deviceId> and acknowledges when `done` is called.

#include <atomic>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/device_message.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/store/telemetry_repository.hpp"
#include "smartproduct/telemetry/pipeline.hpp"
#include "smartproduct/telemetry/watch.hpp"

namespace sp::telemetry {

/// [telemetry]: the ingest path's switch, topic prefix and size limit.
using IngestConfig = IngestSettings;

class TelemetryService {
 public:
  /// Publishes TelemetryStored on `bus` for every new message once it is committed.
  TelemetryService(IngestConfig config, store::TelemetryRepository& repository, const Clock& clock,
                   EventBus& bus);

  /// `done(true)` once stored, a duplicate, or rejected (counted); `done(false)` when the store
  /// failed, so the message must not be acknowledged.
  /// `mark`: the message comes from the broker's spool; it is committed with the row. Returns
  /// true when the message went to the store (false: rejected, done(true) already called).
  bool ingest(std::string_view topic, std::string_view payload, std::function<void(bool)> done,
              const SpoolMark* mark = nullptr);

  const IngestCounters& counters() const { return counters_; }
  const IngestConfig& config() const { return config_; }
  /// Which devices' TelemetryStored events are wanted (the live module filters by device).
  TelemetryWatch& watch() { return watch_; }

  /// The registry attributes of a device (nullopt: not registered); called once per device until
  /// forget() (the module calls it on DeviceRegistered / DeviceDeleted).
  using DeviceLookup = std::function<std::optional<DeviceAttributes>(const std::string&)>;
  /// Replaces the default pipeline (the seed's transform). Before the first ingest().
  void set_pipeline(Pipeline pipeline) { pipeline_ = std::move(pipeline); }
  void set_device_lookup(DeviceLookup lookup) { lookup_ = std::move(lookup); }
  /// Rollups on (the default) or off (benchmarks measure what they cost).
  void set_rollups(bool on) { rollups_ = on; }
  /// Intake gate (the disk guard): while `paused()` is true, messages are answered done(false)
  /// untouched (not stored, not acknowledged: the broker keeps them); `full()` is told when a
  /// write failed because the disk is full.
  /// True while the disk guard refuses telemetry (the spool tailer then leaves it in the spool).
  bool intake_paused() const { return paused_ && paused_(); }
  void set_intake_gate(std::function<bool()> paused, std::function<void()> full) {
    paused_ = std::move(paused);
    full_ = std::move(full);
  }
  /// Messages refused while intake was paused (each is delivered again later).
  std::uint64_t refused() const { return refused_.load(); }
  /// Drops the cached registry attributes of a device (or of all when empty).
  void forget(const std::string& device_id);
  /// Messages a pipeline filter dropped (acknowledged, not stored).
  std::uint64_t filtered() const { return filtered_.load(); }

  /// Prepares a record from a parsed message: pipeline, sample time, owner, numeric attributes.
  /// False when a filter dropped it. Exposed for benchmarks and tests.
  bool prepare(std::string device_id, nlohmann::json body, std::string_view payload,
               TelemetryRecord& record);

 private:
  IngestConfig config_;
  store::TelemetryRepository& repository_;
  const Clock& clock_;
  EventBus& bus_;
  IngestCounters counters_;
  TelemetryWatch watch_;
  struct CachedDevice {
    std::optional<DeviceAttributes> attributes;
  };
  const DeviceAttributes* device(const std::string& device_id);

  Pipeline pipeline_;
  DeviceLookup lookup_;
  std::mutex mutex_;  // the cache and evaluator: ingest may run on more than one thread
  std::unordered_map<std::string, CachedDevice> devices_;
  expr::Evaluator evaluator_;
  std::atomic<std::uint64_t> filtered_{0};
  std::atomic<std::uint64_t> refused_{0};
  std::function<bool()> paused_;
  std::function<void()> full_;
  bool rollups_ = true;
};

/// Dedup key of a device message: retransmissions carry identical bytes, and a message that holds
/// a timestamp, sequence number or message id is not expected to repeat itself byte for byte. The
/// key is the device timestamp (or sequence) followed by 64 bits of the payload's SHA-256, so keys
/// grow with time. Returns "" (no deduplication) for payloads with none of those fields.
std::string dedup_key(const nlohmann::json& body, std::string_view payload);

/// `object_text` (the text of a JSON object) with the attributes `names` of `body` that it lacks
/// appended, in that order; names `body` does not have are skipped. `text_is_empty_object`: the
/// text had no member (no comma before the first).
std::string append_attributes(std::string_view object_text, const nlohmann::json& body,
                              const std::vector<std::string>& names, bool text_is_empty_object);

}  // namespace sp::telemetry
