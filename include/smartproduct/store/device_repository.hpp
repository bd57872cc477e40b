#pragma once
// Storage of the devices module (registrations, device certificates, security events) and the
// read model that joins them with presence. Tables: migrations/main/0005_devices.sql. Times are
// epoch ms, certificate validity epoch s.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::store {

enum class RegistrationStatus { kPending, kComplete, kDeleted };
/// "pending" | "complete" | "deleted" (the seed's values).
std::string_view to_string(RegistrationStatus status);
std::optional<RegistrationStatus> registration_status_from(std::string_view text);

struct Registration {
  std::int64_t id = 0;  // assigned by create_registration
  std::string device_id;
  std::string user_id;
  std::string device_name;
  std::string model_number;
  nlohmann::json details = nlohmann::json::object();  // copied from the catalog entry
  RegistrationStatus status = RegistrationStatus::kPending;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
  std::optional<std::int64_t> activated_at_ms;
  std::optional<std::int64_t> deleted_at_ms;
};

enum class CertificateStatus { kPendingActivation, kActive, kRevoked, kRefused };
/// "PENDING_ACTIVATION" | "ACTIVE" | "REVOKED" | "REFUSED" (AWS IoT's spelling).
std::string_view to_string(CertificateStatus status);
std::optional<CertificateStatus> certificate_status_from(std::string_view text);

struct DeviceCertificate {
  std::string fingerprint;  // SHA-256 of the DER, 64 uppercase hex digits
  std::string device_id;    // the certificate's CN
  std::string ca_id;        // the issuing CA's id (its subject key id); may be unknown ("")
  std::string issuer;       // RFC 2253 DN
  std::string serial;       // uppercase hex
  std::optional<std::int64_t> not_before_s;
  std::optional<std::int64_t> not_after_s;
  CertificateStatus status = CertificateStatus::kPendingActivation;
  std::string status_reason;  // why REFUSED / REVOKED (e.g. "device_not_in_catalog")
  std::optional<std::int64_t> registration_id;
  std::int64_t first_seen_at_ms = 0;
  std::int64_t last_seen_at_ms = 0;
  std::optional<std::int64_t> activated_at_ms;
  std::optional<std::int64_t> revoked_at_ms;
  std::int64_t updated_at_ms = 0;
};

struct SecurityEvent {
  std::int64_t id = 0;  // assigned on insert
  std::int64_t at_ms = 0;
  std::string kind;  // e.g. "device_not_in_catalog", "ca_inactive", "revoked", "device_deleted"
  std::string device_id;
  std::string cert_fingerprint;
  std::string ca_id;
  std::string detail;
};

/// A live (not deleted) registration with the device's connectivity (from device_presence).
struct DeviceSummary {
  Registration registration;
  bool connected = false;
  std::optional<std::int64_t> connectivity_since_ms;  // last connect/disconnect, if ever seen
};

struct DevicePage {
  std::vector<DeviceSummary> items;
  /// Registration id after which the next page starts; set only when more rows exist.
  std::optional<std::int64_t> next_after_id;
};

class DeviceRepository {
 public:
  virtual ~DeviceRepository() = default;

  // --- registrations ---

  /// Inserts `r` (id ignored) and returns it with its id. store::Failure::kConflict when the device
  /// already has a live (not deleted) registration (unique index: concurrent registrations of one
  /// serial cannot both win).
  virtual Result<Registration> create_registration(Registration r) = 0;
  /// The device's live (pending or complete) registration.
  virtual Result<std::optional<Registration>> live_registration(std::string_view device_id) = 0;
  /// The newest registration of the device (any status, any user).
  virtual Result<std::optional<Registration>> latest_registration(std::string_view device_id) = 0;
  /// The newest registration of the device by this user (any status).
  virtual Result<std::optional<Registration>> latest_registration_of_user(
      std::string_view device_id, std::string_view user_id) = 0;
  /// Every registration of the user (all statuses), ordered by device name, device id, id.
  virtual Result<std::vector<Registration>> registrations_of_user(std::string_view user_id) = 0;
  /// Live registrations (of one user, or of everyone when `user_id` is nullopt), ordered by
  /// registration id, `limit` >= 1 rows after `after_id`.
  virtual Result<DevicePage> list_devices(const std::optional<std::string>& user_id, int limit,
                                          std::optional<std::int64_t> after_id) = 0;
  /// One transaction: the live registration `registration_id` becomes deleted (updated_at,
  /// deleted_at = now) and every PENDING_ACTIVATION or ACTIVE certificate of its device becomes
  /// REVOKED (reason "device_deleted"). Returns the fingerprints revoked;
  /// store::Failure::kNotFound when the registration is not live any more.
  virtual Result<std::vector<std::string>> delete_registration(std::int64_t registration_id,
                                                               std::int64_t now_ms) = 0;

  // --- certificates ---

  virtual Result<std::optional<DeviceCertificate>> certificate(std::string_view fingerprint) = 0;
  /// Oldest first.
  virtual Result<std::vector<DeviceCertificate>> certificates_of_device(
      std::string_view device_id) = 0;
  /// Inserts the certificate, or, when the fingerprint exists, updates every field except
  /// fingerprint and first_seen_at.
  virtual Result<void> save_certificate(const DeviceCertificate& cert) = 0;
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
  virtual Result<std::vector<DeviceCertificate>> certificates_with_status(
      CertificateStatus status, std::string_view device_id) = 0;

  // --- security events ---

  virtual Result<void> add_security_event(const SecurityEvent& event) = 0;
  /// Newest first; `before_id` pages backwards; `device_id` empty = all devices.
  virtual Result<std::vector<SecurityEvent>> security_events(int limit,
                                                             std::optional<std::int64_t> before_id,
                                                             std::string_view device_id) = 0;
};

}  // namespace sp::store
