#include <algorithm>

#include "smartproduct/catalog/service.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/devices/types.hpp"
#include "smartproduct/http/errors.hpp"

namespace sp::devices {
namespace {

using nlohmann::json;

tl::unexpected<Error> invalid(std::string message) {
  return fail(errors::kInvalidRegistration, std::move(message));
}

bool alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

}  // namespace

bool valid_device_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxDeviceNameLength &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return alnum(c) || std::string_view("-_.,:/@#").find(c) != std::string_view::npos;
         });
}

bool valid_claim_code(std::string_view code) {
  return !code.empty() && code.size() <= kMaxClaimCodeLength &&
         std::all_of(code.begin(), code.end(), [](char c) { return c >= ' ' && c < 0x7f; });
}

Result<void> validate_registration(const RegistrationRequest& r) {
  if (!catalog::valid_device_id(r.device_id)) {
    return invalid("deviceId must be 1 to 128 characters from A-Z a-z 0-9 : _ -.");
  }
  if (!valid_device_name(r.device_name)) {
    return invalid("deviceName must be 1 to 128 characters from A-Z a-z 0-9 - _ . , : / @ #.");
  }
  if (!catalog::valid_model_number(r.model_number)) {
    return invalid("modelNumber must be 1 to 64 characters from A-Z a-z 0-9 - _ . , : / @ #.");
  }
  if (r.claim_code && !valid_claim_code(*r.claim_code)) {
    return invalid("claimCode must be 1 to 128 printable ASCII characters.");
  }
  return {};
}

Result<RegistrationRequest> registration_from_json(const json& body) {
  if (!body.is_object()) {
    return fail(errors::kBadRequest, "The body must be a JSON object.");
  }
  RegistrationRequest r;
  const auto text = [&](const char* key, std::string& out) -> Result<void> {
    auto it = body.find(key);
    if (it == body.end() || it->is_null()) return invalid(std::string(key) + " is required.");
    if (!it->is_string()) return invalid(std::string(key) + " must be a string.");
    out = it->get<std::string>();
    return {};
  };
  if (auto e = text("deviceId", r.device_id); !e) return tl::unexpected(e.error());
  if (auto e = text("deviceName", r.device_name); !e) return tl::unexpected(e.error());
  if (auto e = text("modelNumber", r.model_number); !e) return tl::unexpected(e.error());
  if (auto it = body.find("claimCode"); it != body.end() && !it->is_null()) {
    if (!it->is_string()) return invalid("claimCode must be a string.");
    r.claim_code = it->get<std::string>();
  }
  if (auto e = validate_registration(r); !e) return tl::unexpected(e.error());
  return r;
}

json registration_to_json(const Registration& r) {
  json j{{"deviceId", r.device_id},
         {"deviceName", r.device_name},
         {"modelNumber", r.model_number},
         {"details", r.details},
         {"status", std::string(to_string(r.status))},
         {"userId", r.user_id},
         {"createdAt", iso8601_ms(r.created_at_ms)},
         {"updatedAt", iso8601_ms(r.updated_at_ms)}};
  if (r.activated_at_ms) j["activatedAt"] = iso8601_ms(*r.activated_at_ms);
  if (r.deleted_at_ms) j["deletedAt"] = iso8601_ms(*r.deleted_at_ms);
  return j;
}

json device_to_json(const DeviceSummary& d) {
  const auto& r = d.registration;
  return json{
      {"thingName", r.device_id},
      {"thingTypeName", "SmartProduct"},
      {"attributes",
       {{"userId", r.user_id}, {"deviceName", r.device_name}, {"modelNumber", r.model_number}}},
      {"connectivity",
       {{"connected", d.connected}, {"timestamp", d.connectivity_since_ms.value_or(0)}}},
      {"status", std::string(to_string(r.status))}};
}

json certificate_to_json(const DeviceCertificate& c) {
  json j{{"fingerprint", c.fingerprint},
         {"deviceId", c.device_id},
         {"caId", c.ca_id},
         {"issuer", c.issuer},
         {"serial", c.serial},
         {"status", std::string(to_string(c.status))},
         {"statusReason", c.status_reason},
         {"firstSeenAt", iso8601_ms(c.first_seen_at_ms)},
         {"lastSeenAt", iso8601_ms(c.last_seen_at_ms)}};
  if (c.not_before_s) j["notBefore"] = iso8601_ms(*c.not_before_s * 1000);
  if (c.not_after_s) j["notAfter"] = iso8601_ms(*c.not_after_s * 1000);
  if (c.activated_at_ms) j["activatedAt"] = iso8601_ms(*c.activated_at_ms);
  if (c.revoked_at_ms) j["revokedAt"] = iso8601_ms(*c.revoked_at_ms);
  return j;
}

json security_event_to_json(const SecurityEvent& e) {
  return json{{"id", e.id},
              {"at", iso8601_ms(e.at_ms)},
              {"kind", e.kind},
              {"deviceId", e.device_id},
              {"certFingerprint", e.cert_fingerprint},
              {"caId", e.ca_id},
              {"detail", e.detail}};
}

}  // namespace sp::devices
