#pragma once
// The devices module: registration of a catalog serial by a user (the seed's registration service),
// the user's devices, their certificates and the device delete (the seed's device service), with
// ownership rules the seed lacked: a user sees the devices they registered (a deleted registration
// stays readable as history), admins see all, someone else's device is 403 and an unknown one 404.
// No HTTP, no SQL.
//
// Error names: InvalidRegistration (422), DeviceNotFoundFailure (404, unknown serial/model pair),
// ClaimCodeRequired (422), InvalidClaimCode (403), TooManyClaimAttempts (429),
// DeviceRegisteredFailure (409), MissingDevice (404), DeviceAccessDenied (403),
// DeviceAlreadyDeleted (409), CertificateNotFound (404), CertificateAlreadyRevoked (409),
// InvalidLimit (422), Forbidden (403).

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "smartproduct/catalog/service.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/devices/claim_limits.hpp"
#include "smartproduct/devices/events.hpp"
#include "smartproduct/devices/types.hpp"
#include "smartproduct/store/device_repository.hpp"

namespace sp::devices {

/// Wrong claim codes a user may try within kClaimWindow before registrations needing a claim
/// code answer 429 (a claim code is a short secret: this bounds guessing).
inline constexpr int kMaxClaimFailures = 10;
inline constexpr std::chrono::minutes kClaimWindow{15};

class DeviceService {
 public:
  /// Everything must outlive the service. Thread-safe. Publishes devices/events.hpp on `bus`.
  /// `per_serial` (may be null: no per-serial limit) counts claim attempts per serial across all
  /// users, persistently.
  DeviceService(store::DeviceRepository& repo, catalog::CatalogService& catalog, const Clock& clock,
                EventBus& bus, ClaimPolicy policy = {}, ClaimAttemptCounter* per_serial = nullptr);

  /// POST /api/registration: checks the catalog pair and its claim code, then stores a pending
  /// registration of the caller with the catalog entry's details; publishes DeviceRegistered.
  Result<Registration> register_device(const Caller& caller, const RegistrationRequest& request);
  /// Seconds until the caller may try a claim code again (0 when not limited); for Retry-After.
  /// Also counts the serial's limit (across all users) when `device_id` is given.
  int claim_retry_after_s(const std::string& user_id, std::string_view device_id = {});

  /// The caller's registrations of every status, by device name.
  Result<std::vector<Registration>> registrations(const Caller& caller);
  /// One page (limit 1..http::kMaxPageLimit) of live devices: the caller's, or everyone's for an
  /// admin.
  Result<DevicePage> list_devices(const Caller& caller, int limit,
                                  std::optional<std::int64_t> after_id);
  /// Every live device of list_devices (paged internally).
  Result<std::vector<DeviceSummary>> all_devices(const Caller& caller);
  /// The caller's newest registration of the device (any status); an admin's: the newest of
  /// anyone.
  Result<Registration> device(const Caller& caller, std::string_view device_id);
  /// The live registration of a device the caller may control (its owner, or an admin): 404 for an
  /// unknown device, 403 for someone else's, 409 when the caller's registration was deleted. For
  /// the routes that change a device (shadow, commands).
  Result<Registration> controllable(const Caller& caller, std::string_view device_id);
  /// Soft-deletes the caller's (an admin: anyone's) live registration, revoking the device's
  /// certificates in the same transaction, then publishes DeviceDeleted and CertificatesRevoked.
  Result<void> delete_device(const Caller& caller, std::string_view device_id);
  /// The device's certificates, oldest first: all of them for the live owner or an admin; for a
  /// former owner only those activated for one of their registrations.
  Result<std::vector<DeviceCertificate>> certificates(const Caller& caller,
                                                      std::string_view device_id);
  /// Revokes one certificate of the device (live owner or admin) and returns it updated; calls
  /// CertificatesRevoked.
  Result<DeviceCertificate> revoke_certificate(const Caller& caller, std::string_view device_id,
                                               std::string_view fingerprint);
  /// The user id of the device's live registration (events ingest); nullopt when none or on a
  /// storage error.
  std::optional<std::string> owner_of(std::string_view device_id);
  /// Admins only: newest first, `limit` 1..http::kMaxPageLimit + 1 (the route asks for one extra
  /// row to know whether another page exists), `before_id` pages backwards, empty `device_id` =
  /// all.
  Result<std::vector<SecurityEvent>> security_events(const Caller& caller, int limit,
                                                     std::optional<std::int64_t> before_id,
                                                     std::string_view device_id);

 private:
  // What the caller may do with a device, from its registrations.
  enum class Access { kNone, kFormerOwner, kOwner, kAdmin };
  struct Resolved {
    Access access = Access::kNone;
    std::optional<Registration> live;
  };
  Result<Resolved> resolve(const Caller& caller, std::string_view device_id);

  bool claim_blocked(const std::string& user_id, std::int64_t now_ms);
  void claim_failed(const std::string& user_id, std::int64_t now_ms);

  store::DeviceRepository& repo_;
  catalog::CatalogService& catalog_;
  const Clock& clock_;
  EventBus& bus_;
  ClaimPolicy policy_;
  ClaimAttemptCounter* per_serial_;

  std::mutex claims_mu_;
  std::unordered_map<std::string, std::deque<std::int64_t>> claim_failures_;  // epoch ms
  std::size_t claim_events_ = 0;
};

}  // namespace sp::devices
