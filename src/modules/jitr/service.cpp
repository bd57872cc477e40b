#include "smartproduct/jitr/service.hpp"

#include "smartproduct/jitr/events.hpp"

#include <spdlog/spdlog.h>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <optional>
#include <set>

namespace sp::jitr {
namespace {

std::string not_bound_detail(const devices::DeviceCertificate& cert,
                             const store::CatalogBinding& binding) {
  return fmt::format("serial {} is bound to CA {} in the catalog; the certificate is from {}",
                     cert.device_id, fmt::join(binding.ca_ids, " or "),
                     cert.ca_id.empty() ? std::string("an unregistered CA") : "CA " + cert.ca_id);
}

}  // namespace

using devices::CertificateStatus;
using devices::DeviceCertificate;
using presence::ConnectionEvent;

JitrService::JitrService(store::DeviceRepository& devices, store::CaRepository& cas,
                         catalog::CatalogService& catalog, PluginControl& plugin,
                         const Clock& clock, EventBus& bus, JitrConfig config)
    : devices_(devices),
      cas_(cas),
      catalog_(catalog),
      plugin_(plugin),
      clock_(clock),
      bus_(bus),
      config_(config),
      worker_([this] { run(); }) {
  plugin_.set_sync_listener(
      [this](std::uint64_t generation, bool applied, const std::string& detail) {
        post([this, generation, applied, detail] { on_sync_result(generation, applied, detail); });
      });
}

JitrService::~JitrService() {
  plugin_.set_sync_listener({});  // no answer may reach a destroyed service
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  worker_.join();
}

void JitrService::post(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    queue_.push_back(std::move(task));
  }
  wake_.notify_one();
}

void JitrService::drain() {
  std::unique_lock lock(mutex_);
  idle_.wait(lock, [this] { return queue_.empty() && !busy_; });
}

void JitrService::run() {
  auto next_poll = std::chrono::steady_clock::now();
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock lock(mutex_);
      wake_.wait_until(lock, next_poll, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) {
        if (stopping_) return;
        busy_ = true;
      } else {
        task = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
      }
    }
    try {
      if (task) {
        task();
      } else {
        next_poll = std::chrono::steady_clock::now() + config_.revision_poll_interval;
        poll_sync();
        poll_revision();
      }
    } catch (const std::exception& e) {
      counters_.failures++;
      spdlog::error("jitr: unexpected error: {}", e.what());
    }
    bool empty = false;
    {
      std::lock_guard lock(mutex_);
      empty = queue_.empty();
    }
    // The queue ran dry: send the activations collected meanwhile, in one control message.
    if (empty) flush_activations();
    {
      std::lock_guard lock(mutex_);
      busy_ = false;
      if (queue_.empty()) idle_.notify_all();
    }
  }
}

// --- entry points (any thread) -------------------------------------------------------------

void JitrService::on_presence(const ConnectionEvent& event) {
  if (event.kind == ConnectionEvent::Kind::kDisconnected) return;
  post([this, event] {
    if (event.kind == ConnectionEvent::Kind::kRejected) {
      record_rejection(event);
    } else if (config_.enabled) {
      evaluate(event);
    }
  });
}

void JitrService::on_registered(const std::string& device_id) {
  if (!config_.enabled) return;
  post([this, device_id] {
    // The plugin lets a registered serial in at once when its certificate comes from an
    // auto-registering CA; a serial bound to a CA in the catalog waits for evaluate() instead,
    // which checks the issuer (the plugin does not know the bindings).
    auto binding = catalog_.binding(device_id);
    if (binding && binding->ca_ids.empty()) pending_registrations_.push_back(device_id);
    activate_pending(device_id);
  });
}

void JitrService::on_deleted(const std::string& device_id) {
  if (!config_.enabled) return;
  post([this, device_id] {
    flush_activations();
    plugin_.unregister_devices({device_id});
  });
}

// Commands go through the worker too: a full state read before a change was committed and sent
// after its incremental command would undo it at the broker.
void JitrService::on_certificates_revoked(const std::vector<std::string>& fingerprints) {
  if (fingerprints.empty()) return;
  post([this, fingerprints] {
    flush_activations();
    plugin_.revoke(fingerprints);
  });
}

// A CA change is rare and may concern certificates without an AKI (matched by issuer DN): send
// the whole state rather than one disableCa/enableCa.
void JitrService::on_ca_disabled(const std::string& ca_id) {
  spdlog::info("jitr: CA {} disabled: refusing its devices at the broker", ca_id);
  post([this] { sync_state(); });
}

void JitrService::on_ca_enabled(const std::string& ca_id) {
  spdlog::info("jitr: CA {} enabled", ca_id);
  post([this] { sync_state(); });
}

void JitrService::check_revision() {
  post([this] { poll_revision(); });
}

void JitrService::check_sync() {
  post([this] { poll_sync(); });
}

std::vector<std::string> JitrService::readiness() const {
  std::lock_guard lock(status_mutex_);
  if (not_ready_.empty()) return {};
  return {not_ready_};
}

JitrService::SyncStatus JitrService::sync_status() const {
  std::lock_guard lock(status_mutex_);
  return status_;
}

void JitrService::on_broker_connected() {
  post([this] { sync_state(); });
}

void JitrService::reconcile() {
  if (!config_.enabled) return;
  post([this] {
    auto pending = devices_.certificates_with_status(CertificateStatus::kPendingActivation, "");
    if (!pending) {
      counters_.failures++;
      spdlog::error("jitr: reconcile: {}", pending.error().message);
      return;
    }
    std::set<std::string> serials;
    for (const auto& c : *pending) serials.insert(c.device_id);
    for (const auto& s : serials) activate_pending(s);
    if (!serials.empty()) {
      spdlog::info("jitr: reconciled pending certificates of {} device(s)", serials.size());
    }
  });
}

// --- worker ------------------------------------------------------------------------------------

void JitrService::evaluate(const ConnectionEvent& event) {
  counters_.evaluated++;
  const auto now = clock_.now_ms();
  const auto& fp = event.cert_fingerprint;
  if (fp.empty() || event.device_id.empty()) return;

  auto known = devices_.certificate(fp);
  if (!known) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", event.device_id, known.error().message);
    return;
  }
  DeviceCertificate cert;
  // A certificate accepted before (pending registration) keeps its place even if the CA stopped
  // auto-registering meanwhile; a refused or new one needs auto-registration now.
  const bool accepted_before = *known && (*known)->status == CertificateStatus::kPendingActivation;
  if (*known) {
    cert = std::move(**known);
    if (cert.status == CertificateStatus::kActive) return;  // the plugin already lets it in
    if (cert.status == CertificateStatus::kRevoked) {
      // The plugin let a revoked certificate in: its state is behind the store (e.g. a command
      // lost with a connection). Repair it; the full state follows at the next reconnect anyway.
      flush_activations();
      plugin_.revoke({fp});
      return;
    }
    cert.last_seen_at_ms = now;
  } else {
    cert.fingerprint = fp;
    cert.device_id = event.device_id;
    // Verified by the broker plugin (the registered CA whose key checks the signature); the AKI
    // is the issuer's own claim and never decides which CA this is.
    cert.ca_id = event.ca_id;
    cert.issuer = event.issuer;
    cert.serial = event.serial;
    if (event.not_before_s) cert.not_before_s = event.not_before_s;
    if (event.not_after_s) cert.not_after_s = event.not_after_s;
    cert.first_seen_at_ms = now;
    cert.last_seen_at_ms = now;
    cert.status = CertificateStatus::kPendingActivation;
  }
  cert.updated_at_ms = now;

  // 1. The issuing CA must be registered, active and (for a certificate not seen before)
  //    auto-registering.
  auto ca = cert.ca_id.empty() ? Result<std::optional<pki::CertificateAuthority>>{}
                               : cas_.find(cert.ca_id);
  if (!ca) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", event.device_id, ca.error().message);
    return;
  }
  if (!*ca || (*ca)->status == pki::CaStatus::kDeregistered) {
    return refuse(std::move(cert), reason::kCaNotRegistered,
                  "issuer " + event.issuer + " is not a registered CA");
  }
  if ((*ca)->status != pki::CaStatus::kActive) {
    return refuse(std::move(cert), reason::kCaInactive, "CA " + (*ca)->name + " is inactive");
  }
  if (!accepted_before && !(*ca)->auto_registration) {
    return refuse(std::move(cert), reason::kAutoRegistrationDisabled,
                  "CA " + (*ca)->name + " does not auto-register certificates");
  }
  if (cert.not_after_s && *cert.not_after_s * 1000 < now) {
    return refuse(std::move(cert), reason::kExpired, "the certificate has expired");
  }
  // 2. The CN must be a serial of the catalog and, when its entry is bound to a CA, the
  //    certificate must come from that CA.
  auto binding = catalog_.binding(cert.device_id);
  if (!binding) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", event.device_id, binding.error().message);
    return;
  }
  if (!binding->listed) {
    return refuse(std::move(cert), reason::kNotInCatalog,
                  "serial " + cert.device_id + " is not in the reference catalog");
  }
  if (!binding->admits(cert.ca_id)) {
    return refuse(std::move(cert), reason::kCaNotBound, not_bound_detail(cert, *binding));
  }
  // 3. Registered → activate; deleted and not registered again → refuse; never registered →
  //    wait for the owner (registration activates it, see activate_pending).
  auto live = devices_.live_registration(cert.device_id);
  if (!live) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", event.device_id, live.error().message);
    return;
  }
  if (*live) {
    activate(cert, **live);
    return;
  }
  auto latest = devices_.latest_registration(cert.device_id);
  if (latest && *latest && (*latest)->status == devices::RegistrationStatus::kDeleted) {
    return refuse(std::move(cert), reason::kDeviceDeleted,
                  "device " + cert.device_id + " was deleted and is not registered again");
  }
  cert.status = CertificateStatus::kPendingActivation;
  cert.status_reason = "awaiting_registration";
  if (auto r = devices_.save_certificate(cert); !r) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", event.device_id, r.error().message);
    return;
  }
  if (!accepted_before) {
    counters_.pending++;
    spdlog::info("jitr: certificate {} of {} is pending activation (not registered yet)",
                 fp.substr(0, 16), cert.device_id);
  }
}

bool JitrService::activate(DeviceCertificate& cert, const devices::Registration& registration) {
  const auto now = clock_.now_ms();
  if (auto r = devices_.save_certificate(cert); !r) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", cert.device_id, r.error().message);
    return false;
  }
  if (auto r = devices_.activate_certificate(cert.fingerprint, registration.id, now); !r) {
    // kConflict: the registration was deleted meanwhile; the certificate stays pending.
    if (r.error().kind != ErrorKind::kConflict) counters_.failures++;
    spdlog::warn("jitr: {} not activated: {}", cert.device_id, r.error().message);
    return false;
  }
  // Batched: the plugin persists its state file (with fsync, on the broker's only thread) once
  // per control message, so 1,000 devices activated one message each stalled the broker ~8 s.
  pending_activations_.push_back(cert.fingerprint);
  if (pending_activations_.size() >= kMaxActivationBatch) flush_activations();
  counters_.activated++;
  bus_.publish(CertificateActivated{cert.device_id, cert.fingerprint, registration.user_id});
  spdlog::info("jitr: certificate {} of {} activated (registration {} of user {})",
               cert.fingerprint.substr(0, 16), cert.device_id, registration.id,
               registration.user_id);
  return true;
}

void JitrService::activate_pending(const std::string& device_id) {
  auto live = devices_.live_registration(device_id);
  if (!live || !*live) return;
  auto pending =
      devices_.certificates_with_status(CertificateStatus::kPendingActivation, device_id);
  if (!pending) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", device_id, pending.error().message);
    return;
  }
  if (pending->empty()) return;
  auto binding = catalog_.binding(device_id);
  if (!binding) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", device_id, binding.error().message);
  }
  for (auto& cert : *pending) {
    // The CA may have been deactivated since the certificate was first seen.
    auto ca = cert.ca_id.empty() ? Result<std::optional<pki::CertificateAuthority>>{}
                                 : cas_.find(cert.ca_id);
    if (!ca || !*ca || (*ca)->status != pki::CaStatus::kActive) continue;
    if (cert.not_after_s && *cert.not_after_s * 1000 < clock_.now_ms()) continue;
    // The entry may have been bound to another CA since the certificate was first seen.
    if (!binding) continue;
    if (!binding->admits(cert.ca_id)) {
      refuse(std::move(cert), reason::kCaNotBound, not_bound_detail(cert, *binding));
      continue;
    }
    cert.updated_at_ms = clock_.now_ms();
    activate(cert, **live);
  }
}

void JitrService::refuse(DeviceCertificate cert, const char* why, std::string detail) {
  counters_.refused++;
  const bool changed =
      cert.status != CertificateStatus::kRefused || cert.status_reason != std::string(why);
  cert.status = CertificateStatus::kRefused;
  cert.status_reason = why;
  if (auto r = devices_.save_certificate(cert); !r) {
    counters_.failures++;
    spdlog::error("jitr: {}: {}", cert.device_id, r.error().message);
  }
  // Close the connection: it has no rights anyway, and the device should back off and retry
  // (a later registration or catalog import makes the next attempt succeed).
  flush_activations();
  plugin_.deactivate({cert.fingerprint});
  if (changed) {
    spdlog::warn("jitr: refused certificate {} of '{}': {} ({})", cert.fingerprint.substr(0, 16),
                 cert.device_id, why, detail);
  }
  security_event(why, cert.device_id, cert.fingerprint, cert.ca_id, std::move(detail));
}

void JitrService::record_rejection(const ConnectionEvent& event) {
  const std::string kind = event.reason.empty() ? "rejected" : event.reason;
  security_event(
      kind, event.device_id, event.cert_fingerprint, event.ca_id,
      fmt::format("broker refused client '{}' from {} (issuer {}, AKI {})", event.client_id,
                  event.address, event.issuer, event.aki.empty() ? "-" : event.aki));
}

void JitrService::security_event(const std::string& kind, const std::string& device_id,
                                 const std::string& fingerprint, const std::string& ca_id,
                                 std::string detail) {
  const auto now = clock_.now_ms();
  const auto key = fingerprint + '/' + kind;
  const auto interval_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(config_.security_event_interval)
          .count();
  if (auto it = last_security_event_ms_.find(key);
      it != last_security_event_ms_.end() && now - it->second < interval_ms) {
    return;
  }
  if (last_security_event_ms_.size() > kMaxRateLimitKeys) last_security_event_ms_.clear();
  last_security_event_ms_[key] = now;
  devices::SecurityEvent e;
  e.at_ms = now;
  e.kind = kind;
  e.device_id = device_id;
  e.cert_fingerprint = fingerprint;
  e.ca_id = ca_id;
  e.detail = std::move(detail);
  if (auto r = devices_.add_security_event(e); !r) {
    counters_.failures++;
    spdlog::error("jitr: security event not stored: {}", r.error().message);
    return;
  }
  counters_.security_events++;
}

void JitrService::sync_state() {
  sync_retry_at_.reset();
  const auto started = std::chrono::steady_clock::now();
  auto revision = cas_.broker_state_revision();
  auto state = cas_.broker_state();
  if (!state || !revision) {
    counters_.failures++;
    sync_in_flight_ = 0;
    sync_failed("cannot read the broker state from the store: " +
                (!state ? state.error().message : revision.error().message));
    return;
  }
  pending_activations_.clear();  // the full state includes them
  pending_registrations_.clear();
  const auto sent = plugin_.sync_state(*state);
  // Every command sent after this one reaches the plugin after the last chunk, so it applies to
  // the swapped-in state: nothing committed meanwhile is lost.
  sync_in_flight_ = sent.generation;
  sync_in_flight_entries_ = sent.entries;
  sync_in_flight_chunks_ = sent.chunks;
  sync_started_ = started;
  sync_deadline_ = std::chrono::steady_clock::now() + config_.sync_timeout +
                   config_.sync_timeout_per_chunk * static_cast<std::int64_t>(sent.chunks);
  synced_revision_ = *revision;
  spdlog::info(
      "jitr: broker plugin state generation {} sent ({} active, {} revoked certificates, {} "
      "registered devices, {} disabled CAs; {} chunks, {} bytes)",
      sent.generation, state->activated_fingerprints.size(), state->revoked_fingerprints.size(),
      state->registered_devices.size(), state->disabled_cas.size(), sent.chunks, sent.bytes);
}

void JitrService::on_sync_result(std::uint64_t generation, bool applied,
                                 const std::string& detail) {
  if (generation != sync_in_flight_) return;  // an older generation, already replaced
  sync_in_flight_ = 0;
  if (!applied)
    return sync_failed("the broker plugin refused generation " + std::to_string(generation) + ": " +
                       detail);
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                      std::chrono::steady_clock::now() - sync_started_)
                      .count();
  sync_failures_in_row_ = 0;
  counters_.syncs_applied++;
  {
    std::lock_guard lock(status_mutex_);
    status_ = SyncStatus{generation, sync_in_flight_entries_, sync_in_flight_chunks_, ms, false};
    not_ready_.clear();
  }
  spdlog::info("jitr: broker plugin applied state generation {} ({} entries, {} chunks) in {} ms",
               generation, sync_in_flight_entries_, sync_in_flight_chunks_, ms);
}

void JitrService::sync_failed(const std::string& why) {
  counters_.sync_failures++;
  ++sync_failures_in_row_;
  auto delay = config_.sync_retry_initial;
  for (int i = 1; i < sync_failures_in_row_ && delay < config_.sync_retry_max; ++i) delay *= 2;
  delay = std::min(delay, config_.sync_retry_max);
  sync_retry_at_ = std::chrono::steady_clock::now() + delay;
  // A failed sync leaves the broker deciding with an old state: say so loudly, and let the
  // revision poll notice any change again once a sync went through.
  synced_revision_ = -1;
  const auto reason =
      fmt::format("broker plugin state not synced: {} (failed {} time(s), retry in {} ms)", why,
                  sync_failures_in_row_, delay.count());
  spdlog::error("jitr: {}", reason);
  std::lock_guard lock(status_mutex_);
  status_.failing = true;
  not_ready_ = reason;
}

void JitrService::poll_sync() {
  const auto now = std::chrono::steady_clock::now();
  if (sync_in_flight_ != 0 && now >= sync_deadline_) {
    const auto generation = sync_in_flight_;
    sync_in_flight_ = 0;
    sync_failed(fmt::format("no answer to generation {} ({} chunks) in time", generation,
                            sync_in_flight_chunks_));
  } else if (sync_in_flight_ == 0 && sync_retry_at_ && now >= *sync_retry_at_) {
    sync_state();
  }
}

void JitrService::flush_activations() {
  if (!pending_registrations_.empty()) {
    plugin_.register_devices(pending_registrations_);
    pending_registrations_.clear();
  }
  if (!pending_activations_.empty()) {
    plugin_.activate(pending_activations_);
    pending_activations_.clear();
  }
}

void JitrService::poll_revision() {
  if (synced_revision_ < 0) return;  // nothing sent yet: the first connect sends everything
  auto revision = cas_.broker_state_revision();
  if (revision && *revision != synced_revision_) {
    spdlog::info("jitr: the store changed outside the daemon (revision {}): resending state",
                 *revision);
    sync_state();
  }
}

}  // namespace sp::jitr
