#pragma once
// Types of the devices module (the seed's registration and device services): its records
// (registrations, device certificates, security events, the device list read model; stored by
// store::DeviceRepository), who is calling, what a registration request carries, and the JSON
// shapes of the REST API (the seed's field names). No HTTP, no SQL.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::devices {

inline constexpr std::size_t kMaxDeviceNameLength = 128;
inline constexpr std::size_t kMaxClaimCodeLength = 128;

// --- records (stored by store::DeviceRepository) -------------------------------------------------

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

// --- requests and JSON --------------------------------------------------------------------------

/// The authenticated user a request acts for.
struct Caller {
  std::string user_id;
  bool admin = false;
};

/// POST /api/registration's body.
struct RegistrationRequest {
  std::string device_id, device_name, model_number;
  std::optional<std::string> claim_code;
};

/// The seed console's character set [a-zA-Z0-9-_.,:/@#]{1,128} (AWS IoT attribute values).
bool valid_device_name(std::string_view name);
/// 1..128 printable ASCII characters.
bool valid_claim_code(std::string_view code);
/// Checks every field (deviceId as catalog::valid_device_id, modelNumber as
/// catalog::valid_model_number): 422 "InvalidRegistration" naming the field.
Result<void> validate_registration(const RegistrationRequest& request);

/// Parses {deviceId, deviceName, modelNumber[, claimCode]} (unknown keys ignored, a null
/// claimCode is absent): 400 "BadRequest" when `body` is not an object, 422
/// "InvalidRegistration" naming the field when one is missing, not a string or invalid.
Result<RegistrationRequest> registration_from_json(const nlohmann::json& body);

/// The seed's registration item {deviceId, deviceName, modelNumber, details, status, userId,
/// createdAt, updatedAt, activatedAt?} (+ deletedAt when deleted); times ISO-8601 UTC with ms.
nlohmann::json registration_to_json(const Registration& registration);
/// The seed's thing document {thingName, thingTypeName:"SmartProduct", attributes{userId,
/// deviceName, modelNumber}, connectivity{connected, timestamp (epoch ms, 0 if never)}} plus the
/// registration's status.
nlohmann::json device_to_json(const DeviceSummary& device);
/// {fingerprint, deviceId, caId, issuer, serial, notBefore?, notAfter?, status, statusReason,
/// firstSeenAt, lastSeenAt, activatedAt?, revokedAt?}.
nlohmann::json certificate_to_json(const DeviceCertificate& certificate);
/// {id, at, kind, deviceId, certFingerprint, caId, detail}.
nlohmann::json security_event_to_json(const SecurityEvent& event);

}  // namespace sp::devices
