#pragma once
// Storage of the devices module (registrations, device certificates, security events) and the read
// model that joins them with presence. The records are the module's own types (devices/types.hpp):
// the store serves the module, not the other way round. Tables: migrations/main/0005_devices.sql.
// Times are epoch ms, certificate validity epoch s.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/devices/types.hpp"

namespace sp::store {

class DeviceRepository {
 public:
  virtual ~DeviceRepository() = default;

  // --- registrations ---

  /// Inserts `r` (id ignored) and returns it with its id. store::Failure::kConflict when the device
  /// already has a live (not deleted) registration (unique index: concurrent registrations of one
  /// serial cannot both win).
  virtual Result<devices::Registration> create_registration(devices::Registration r) = 0;
  /// The device's live (pending or complete) registration.
  virtual Result<std::optional<devices::Registration>> live_registration(
      std::string_view device_id) = 0;
  /// The newest registration of the device (any status, any user).
  virtual Result<std::optional<devices::Registration>> latest_registration(
      std::string_view device_id) = 0;
  /// The newest registration of the device by this user (any status).
  virtual Result<std::optional<devices::Registration>> latest_registration_of_user(
      std::string_view device_id, std::string_view user_id) = 0;
  /// Every registration of the user (all statuses), ordered by device name, device id, id.
  virtual Result<std::vector<devices::Registration>> registrations_of_user(
      std::string_view user_id) = 0;
  /// Live registrations (of one user, or of everyone when `user_id` is nullopt), ordered by
  /// registration id, `limit` >= 1 rows after `after_id`.
  virtual Result<devices::DevicePage> list_devices(const std::optional<std::string>& user_id,
                                                   int limit,
                                                   std::optional<std::int64_t> after_id) = 0;
  /// One transaction: the live registration `registration_id` becomes deleted (updated_at,
  /// deleted_at = now) and every PENDING_ACTIVATION or ACTIVE certificate of its device becomes
  /// REVOKED (reason "device_deleted"). Returns the fingerprints revoked;
  /// store::Failure::kNotFound when the registration is not live any more.
  virtual Result<std::vector<std::string>> delete_registration(std::int64_t registration_id,
                                                               std::int64_t now_ms) = 0;

  // --- certificates ---

  virtual Result<std::optional<devices::DeviceCertificate>> certificate(
      std::string_view fingerprint) = 0;
  /// Oldest first.
  virtual Result<std::vector<devices::DeviceCertificate>> certificates_of_device(
      std::string_view device_id) = 0;
  /// Inserts the certificate, or, when the fingerprint exists, updates every field except
  /// fingerprint and first_seen_at.
  virtual Result<void> save_certificate(const devices::DeviceCertificate& cert) = 0;
  /// One transaction (JITR's activation): the certificate becomes ACTIVE (activated_at, reason
  /// cleared, registration_id set) and the registration, if pending, becomes complete with
  /// activated_at = now. store::Failure::kConflict (nothing changed) when the registration
  /// is deleted by then.
  virtual Result<void> activate_certificate(std::string_view fingerprint,
                                            std::int64_t registration_id, std::int64_t now_ms) = 0;
  /// Sets REVOKED (revoked_at, reason). Returns false when unknown or already revoked.
  virtual Result<bool> revoke_certificate(std::string_view fingerprint, std::string_view reason,
                                          std::int64_t now_ms) = 0;
  /// Certificates in a status (of one device, or all when `device_id` is empty).
  virtual Result<std::vector<devices::DeviceCertificate>> certificates_with_status(
      devices::CertificateStatus status, std::string_view device_id) = 0;

  // --- security events ---

  virtual Result<void> add_security_event(const devices::SecurityEvent& event) = 0;
  /// Newest first; `before_id` pages backwards; `device_id` empty = all devices.
  virtual Result<std::vector<devices::SecurityEvent>> security_events(
      int limit, std::optional<std::int64_t> before_id, std::string_view device_id) = 0;
};

}  // namespace sp::store
