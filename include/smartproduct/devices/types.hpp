#pragma once
// Types of the devices module (the seed's registration and device services, seed-behaviour.md
// §3.3 (3)-(7), §7): who is calling, what a registration request carries, and the JSON shapes of
// the REST API (the seed's field names). No HTTP, no SQL.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"
#include "smartproduct/store/device_repository.hpp"

namespace sp::devices {

inline constexpr std::size_t kMaxDeviceNameLength = 128;
inline constexpr std::size_t kMaxClaimCodeLength = 128;

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
nlohmann::json registration_to_json(const store::Registration& registration);
/// The seed's thing document {thingName, thingTypeName:"SmartProduct", attributes{userId,
/// deviceName, modelNumber}, connectivity{connected, timestamp (epoch ms, 0 if never)}} plus the
/// registration's status.
nlohmann::json device_to_json(const store::DeviceSummary& device);
/// {fingerprint, deviceId, caId, issuer, serial, notBefore?, notAfter?, status, statusReason,
/// firstSeenAt, lastSeenAt, activatedAt?, revokedAt?}.
nlohmann::json certificate_to_json(const store::DeviceCertificate& certificate);
/// {id, at, kind, deviceId, certFingerprint, caId, detail}.
nlohmann::json security_event_to_json(const store::SecurityEvent& event);

}  // namespace sp::devices
