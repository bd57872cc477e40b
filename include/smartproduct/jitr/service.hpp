#pragma once
// Just-in-time registration (the seed relied on AWS IoT's JITR, which activated any certificate of
// its CA; here activation needs a registration): the first connection of an unknown device
// certificate chained to a registered CA is recorded as PENDING_ACTIVATION and activated only when
// its CN is a catalog serial with a live registration — whichever comes first, the connection or
// the registration. Everything else is refused (the connection is closed, the certificate gets no
// rights) and recorded as a security event.
//
// Inputs: the broker plugin's presence events (connected / rejected, via the presence module),
// the devices module's hooks (registered, certificates revoked) and the CA module's hooks. All
// work runs on one worker thread, in arrival order, so two events about one serial never race.
// Idempotent and restart-safe: the decision depends only on the store, a restart re-evaluates
// pending certificates (reconcile) and every broker (re)connection gets the whole plugin state.

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "smartproduct/catalog/service.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/jitr/plugin_control.hpp"
#include "smartproduct/presence/types.hpp"
#include "smartproduct/store/ca_repository.hpp"
#include "smartproduct/store/device_repository.hpp"

namespace sp::jitr {

struct JitrConfig {
  /// false: certificates are not gated (the plugin runs without require_activation); only
  /// refusals by the broker are recorded.
  bool enabled = true;
  /// One security event per (certificate, kind) per interval: a refused device retrying every
  /// few seconds must not flood the table.
  std::chrono::seconds security_event_interval{600};
  /// How often the store's broker_state_revision is checked for changes made by smartproductctl.
  std::chrono::milliseconds revision_poll_interval{2000};
  /// A state sync the plugin has not applied within sync_timeout + sync_timeout_per_chunk per
  /// chunk sent is failed (and retried): a large state takes longer (1M devices: ~670 chunks).
  std::chrono::milliseconds sync_timeout{60000};
  std::chrono::milliseconds sync_timeout_per_chunk{100};
  /// Back-off between failed state syncs: doubles from the first to the maximum.
  std::chrono::milliseconds sync_retry_initial{1000};
  std::chrono::milliseconds sync_retry_max{60000};
};

/// Why a certificate was refused (security event kinds and status reasons).
namespace reason {
inline constexpr const char* kCaNotRegistered = "ca_not_registered";
inline constexpr const char* kCaInactive = "ca_inactive";
inline constexpr const char* kAutoRegistrationDisabled = "auto_registration_disabled";
inline constexpr const char* kNotInCatalog = "device_not_in_catalog";
/// The serial's catalog entry is bound to another CA than the certificate's issuer.
inline constexpr const char* kCaNotBound = "ca_not_bound_to_device";
inline constexpr const char* kDeviceDeleted = "device_deleted";
inline constexpr const char* kExpired = "certificate_expired";
}  // namespace reason

class JitrService {
 public:
  /// Everything must outlive the service. Publishes jitr/events.hpp on `bus`.
  JitrService(store::DeviceRepository& devices, store::CaRepository& cas,
              catalog::CatalogService& catalog, PluginControl& plugin, const Clock& clock,
              EventBus& bus, JitrConfig config);
  /// Stops the worker after the queued work is done.
  ~JitrService();
  JitrService(const JitrService&) = delete;
  JitrService& operator=(const JitrService&) = delete;

  /// A stored presence event (any thread).
  void on_presence(const presence::ConnectionEvent& event);
  /// A registration was committed: activate the certificates already seen for the serial.
  void on_registered(const std::string& device_id);
  /// A registration was deleted: stop pre-authorizing the serial at the broker.
  void on_deleted(const std::string& device_id);
  /// Certificates were revoked in the store: revoke (and disconnect) them at the broker.
  void on_certificates_revoked(const std::vector<std::string>& fingerprints);
  void on_ca_disabled(const std::string& ca_id);
  void on_ca_enabled(const std::string& ca_id);
  /// The daemon's MQTT session (re)connected or the broker restarted: send the whole state.
  void on_broker_connected();
  /// Start-up: activate pending certificates whose device got registered while we were down.
  void reconcile();

  /// Checks now whether the store's broker_state_revision changed (smartproductctl wrote to it)
  /// and resends the whole state if so. The worker also does this every revision_poll_interval;
  /// tests call this (then drain()) instead of waiting for the interval.
  void check_revision();

  /// Checks now whether the state sync in flight timed out or a failed one is due for a retry
  /// (the worker also does this on every revision poll; tests call this, then drain()).
  void check_sync();

  /// Why the broker plugin's state is not known to be current (empty: the last sync was applied
  /// or none has failed yet), for /readyz. Any thread.
  std::vector<std::string> readiness() const;

  /// The last state sync the plugin applied (any thread).
  struct SyncStatus {
    std::uint64_t generation = 0;  // 0: none yet
    std::uint64_t entries = 0;
    std::size_t chunks = 0;
    std::int64_t duration_ms = 0;  // from reading the store to the plugin's answer
    bool failing = false;          // the last attempt failed; a retry is scheduled
  };
  SyncStatus sync_status() const;

  /// Blocks until everything queued before this call has been processed (tests, shutdown).
  void drain();

  struct Counters {
    std::atomic<std::uint64_t> evaluated{0};
    std::atomic<std::uint64_t> activated{0};
    std::atomic<std::uint64_t> pending{0};
    std::atomic<std::uint64_t> refused{0};
    std::atomic<std::uint64_t> security_events{0};
    std::atomic<std::uint64_t> failures{0};
    std::atomic<std::uint64_t> syncs_applied{0};
    std::atomic<std::uint64_t> sync_failures{0};
  };
  const Counters& counters() const { return counters_; }

 private:
  void post(std::function<void()> task);
  void run();
  void evaluate(const presence::ConnectionEvent& event);
  void record_rejection(const presence::ConnectionEvent& event);
  void refuse(devices::DeviceCertificate cert, const char* why, std::string detail);
  bool activate(devices::DeviceCertificate& cert, const devices::Registration& registration);
  void activate_pending(const std::string& device_id);
  void security_event(const std::string& kind, const std::string& device_id,
                      const std::string& fingerprint, const std::string& ca_id, std::string detail);
  void sync_state();
  void poll_revision();
  void poll_sync();
  void on_sync_result(std::uint64_t generation, bool applied, const std::string& detail);
  void sync_failed(const std::string& why);
  void flush_activations();

  // Activations sent in one control message at most (the rest in the next): bounds the size of
  // the message and of the plugin's work for it, while batching still saves the per-message fsync.
  static constexpr std::size_t kMaxActivationBatch = 500;
  // The security-event rate limiter forgets everything beyond this many (certificate, kind) keys:
  // a flood of distinct refused certificates must not grow memory without bound; forgetting only
  // lets one more event per key through.
  static constexpr std::size_t kMaxRateLimitKeys = 100000;

  store::DeviceRepository& devices_;
  store::CaRepository& cas_;
  catalog::CatalogService& catalog_;
  PluginControl& plugin_;
  const Clock& clock_;
  EventBus& bus_;
  JitrConfig config_;
  Counters counters_;

  // Worker-thread state.
  std::map<std::string, std::int64_t> last_security_event_ms_;  // fingerprint + '/' + kind
  std::int64_t synced_revision_ = -1;
  // The state sync in flight (generation 0: none), its start and deadline; after a failure the
  // time of the next attempt and how many failed in a row.
  std::uint64_t sync_in_flight_ = 0;
  std::uint64_t sync_in_flight_entries_ = 0;
  std::size_t sync_in_flight_chunks_ = 0;
  std::chrono::steady_clock::time_point sync_started_{};
  std::chrono::steady_clock::time_point sync_deadline_{};
  std::optional<std::chrono::steady_clock::time_point> sync_retry_at_;
  int sync_failures_in_row_ = 0;

  // Shared with readiness() / sync_status() (HTTP and metrics threads).
  mutable std::mutex status_mutex_;
  SyncStatus status_;
  std::string not_ready_;
  std::vector<std::string> pending_activations_;    // activated in the store, not yet sent
  std::vector<std::string> pending_registrations_;  // registered serials, not yet sent

  std::mutex mutex_;
  std::condition_variable wake_;
  std::condition_variable idle_;
  std::deque<std::function<void()>> queue_;
  bool busy_ = false;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace sp::jitr
