#pragma once
// REST binding of the CA service (admins only), AWS IoT-like camelCase JSON:
//   GET    /api/admin/cas/registration-code   -> {"registrationCode"}
//   POST   /api/admin/cas                      {caCertificate, verificationCertificate, name?,
//                                               setAsActive?, allowAutoRegistration?} -> 201 CA
//   GET    /api/admin/cas?includeDeregistered=true -> {"Items":[CA], "Count"}
//   GET    /api/admin/cas/{caId}               -> CA with certificatePem ({caId}: id or name)
//   PATCH  /api/admin/cas/{caId}               {status?: ACTIVE|INACTIVE, autoRegistration?}
//   DELETE /api/admin/cas/{caId}               -> CA (DEREGISTERED)

#include <cstdint>
#include <optional>

#include <nlohmann/json.hpp>

#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/pki/ca_service.hpp"

namespace sp::pki {

/// {caId, name, subject, issuer, serial, fingerprint, notBefore, notAfter, status,
/// autoRegistration, managed, createdAt, updatedAt[, deviceCount][, certificatePem]}; times
/// ISO-8601 UTC.
nlohmann::json ca_to_json(const CertificateAuthority& ca, std::optional<std::int64_t> device_count,
                          bool with_pem);

/// Registers the routes; `service` and `auth` must outlive the router.
void add_ca_routes(http::Router& router, CaService& service, const identity::Authenticator& auth);

}  // namespace sp::pki
