#pragma once
// The shadow module's service: AWS IoT classic-shadow update/get/delete over a ShadowRepository.
// It knows nothing of MQTT or HTTP: bindings pass the device id (from the topic or the route, never
// from the payload) and the raw payload, and publish the returned texts at QoS 1. Every write is
// committed before a method returns, so publishing the result afterwards is "after commit".
//
// Thread-safe. Writers of one device inside this process take turns (a striped lock), so they do
// not starve each other with retries; correctness across processes (smartproductctl, a second
// daemon) comes from the repository's compare-and-set: the loser reloads and applies its request
// again, or gets 409 when it asked for a specific version.

#include <array>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/shadow/types.hpp"
#include "smartproduct/store/shadow_repository.hpp"

namespace sp::shadow {

/// One update worked out against the stored row, ready to be written: the row to save, the stamp
/// the stored row must still carry (compare-and-set), and what to publish once it committed.
struct PlannedUpdate {
  store::ShadowRecord record;
  std::optional<store::ShadowStamp> expected;
  UpdateOutcome outcome;
};

/// The pure step of every accepted update: `request` applied to `stored` (nullopt: the device
/// never had a shadow; a tombstone continues its version within 48 hours, as AWS) at `now_s`.
/// Rejects with 409 when the request names another version, 413 when the result is too large.
/// ShadowService uses it with its repository; the commands module runs it inside its own write
/// transaction, so a command's desired change follows exactly the shadow's rules.
Reply<PlannedUpdate> plan_update(std::string_view device_id,
                                 const std::optional<store::ShadowRecord>& stored,
                                 const UpdateRequest& request, std::int64_t now_s,
                                 const Limits& limits);

/// plan_update() for a `desired` object patch (null values remove keys), checked by the same
/// parser and limits as a device's request.
Reply<PlannedUpdate> plan_desired(std::string_view device_id,
                                  const std::optional<store::ShadowRecord>& stored,
                                  const nlohmann::json& desired, std::int64_t now_s,
                                  const Limits& limits);

class ShadowService {
 public:
  /// `repository` and `clock` must outlive the service.
  ShadowService(store::ShadowRepository& repository, const Clock& clock, Limits limits = {});

  /// $aws/things/<device_id>/shadow/update from the device. On success: update/accepted,
  /// update/delta (if any) and update/documents to publish; otherwise the update/rejected payload
  /// (Rejection::to_json). Creates the shadow if there is none.
  Reply<UpdateOutcome> update(std::string_view device_id, std::string_view payload);

  /// The owner's update (PATCH /api/devices/{id}/shadow): like update(), but the request may name
  /// only `desired`; a `reported` section is refused with 400 "State contains an invalid node".
  Reply<UpdateOutcome> update_as_owner(std::string_view device_id, std::string_view payload);

  /// Merges `desired` (an object patch; null values remove keys) into the desired state, creating
  /// the shadow if needed; for the commands module. `expected_version` adds optimistic locking.
  Reply<UpdateOutcome> update_desired(std::string_view device_id, const nlohmann::json& desired,
                                      std::optional<std::int64_t> expected_version = std::nullopt);

  /// $aws/things/<device_id>/shadow/get: the get/accepted text (full document with its delta),
  /// or 404 "No shadow exists with name: '<device_id>'". `payload` may carry a clientToken.
  Reply<std::string> get(std::string_view device_id, std::string_view payload = {});

  /// The live document, nullopt when the device has none (the status route answers {} then).
  /// Render it with document_json() from modules/shadow/document.hpp or get().
  Reply<std::optional<ShadowDocument>> find(std::string_view device_id);

  /// $aws/things/<device_id>/shadow/delete: delete/accepted {version, timestamp, clientToken?},
  /// or 404. A shadow created again within 48 hours continues from the deleted version (AWS).
  Reply<DeleteOutcome> remove(std::string_view device_id, std::string_view payload = {});

  /// The time used for rejection payloads (epoch s from the injected clock).
  std::int64_t now_s() const;

  const Limits& limits() const { return limits_; }

 private:
  Reply<UpdateOutcome> apply(std::string_view device_id, const UpdateRequest& request);
  std::mutex& write_lock(std::string_view device_id);

  store::ShadowRepository& repository_;
  const Clock& clock_;
  Limits limits_;
  std::array<std::mutex, 64> write_locks_;
};

}  // namespace sp::shadow
