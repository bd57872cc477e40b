#include "smartproduct/pki/ca_routes.hpp"

#include "smartproduct/core/clock.hpp"
#include "smartproduct/http/paging.hpp"

namespace sp::pki {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

tl::unexpected<Error> bad_request(std::string message) {
  return fail(errors::kInvalidRequest, std::move(message));
}

Result<std::string> required_string(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return bad_request(std::string(key) + " is required.");
  if (!it->is_string()) return bad_request(std::string(key) + " must be a string.");
  return it->get<std::string>();
}

Result<std::optional<bool>> optional_bool(const json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return std::optional<bool>{};
  if (!it->is_boolean()) return bad_request(std::string(key) + " must be true or false.");
  return std::optional<bool>(it->get<bool>());
}

// One CA with its device count; a failed count is an error (the caller asked for it).
Response ca_response(CaService& service, int status, const CertificateAuthority& ca,
                     bool with_pem) {
  auto n = service.device_count(ca.id);
  if (!n) return Response::error(n.error());
  return Response::json(status, ca_to_json(ca, *n, with_pem));
}

Response register_ca(CaService& service, const Request& req) {
  auto body = http::parse_json_object(req);
  if (!body) return Response::error(body.error());
  CaService::RegisterRequest r;
  auto ca = required_string(*body, "caCertificate");
  if (!ca) return Response::error(ca.error());
  auto verification = required_string(*body, "verificationCertificate");
  if (!verification) return Response::error(verification.error());
  r.ca_pem = std::move(*ca);
  r.verification_pem = std::move(*verification);
  if (auto it = body->find("name"); it != body->end() && !it->is_null()) {
    if (!it->is_string()) return Response::error(bad_request("name must be a string.").value());
    r.name = it->get<std::string>();
    if (r.name.empty()) {
      return Response::error(errors::kInvalidCaName,
                             "name must be 1 to 64 characters from A-Z a-z 0-9 . _ -.");
    }
  }
  auto active = optional_bool(*body, "setAsActive");
  if (!active) return Response::error(active.error());
  auto autoreg = optional_bool(*body, "allowAutoRegistration");
  if (!autoreg) return Response::error(autoreg.error());
  r.set_active = active->value_or(false);
  r.auto_registration = autoreg->value_or(false);
  auto row = service.register_ca(r);
  if (!row) return Response::error(row.error());
  return ca_response(service, 201, *row, true);
}

Response list(CaService& service, const Request& req) {
  bool include = false;
  if (auto v = req.query_param("includeDeregistered"); v && !v->empty()) {
    if (*v == "true") {
      include = true;
    } else if (*v != "false") {
      return Response::error(errors::kInvalidQuery, "includeDeregistered must be true or false.");
    }
  }
  auto cas = service.list(include);
  if (!cas) return Response::error(cas.error());
  json items = json::array();
  for (const auto& ca : *cas) {
    auto n = service.device_count(ca.id);
    if (!n) return Response::error(n.error());
    items.push_back(ca_to_json(ca, *n, false));
  }
  // Not paged (an instance has a handful of CAs), but in the shape of every other list.
  return Response::json(200, http::page_json(std::move(items), std::nullopt));
}

Response patch(CaService& service, const Request& req) {
  auto body = http::parse_json_object(req);
  if (!body) return Response::error(body.error());
  std::optional<CaStatus> status;
  // A PATCH changes what it names: null is not a value of either field (it was taken as "leave
  // unchanged", so {"status": null} answered 200 having done nothing).
  if (auto it = body->find("status"); it != body->end()) {
    if (!it->is_string()) return Response::error(bad_request("status must be a string.").value());
    status = ca_status_from(it->get<std::string>());
    if (!status || *status == CaStatus::kDeregistered) {
      return Response::error(errors::kInvalidCaStatus, "status must be ACTIVE or INACTIVE.");
    }
  }
  if (auto it = body->find("autoRegistration"); it != body->end() && it->is_null()) {
    return Response::error(bad_request("autoRegistration must be true or false.").value());
  }
  auto autoreg = optional_bool(*body, "autoRegistration");
  if (!autoreg) return Response::error(autoreg.error());
  auto row = service.update(req.param("caId"), status, *autoreg);
  if (!row) return Response::error(row.error());
  return ca_response(service, 200, *row, false);
}

}  // namespace

json ca_to_json(const CertificateAuthority& ca, std::optional<std::int64_t> device_count,
                bool with_pem) {
  json out{{"caId", ca.id},
           {"name", ca.name},
           {"subject", ca.subject},
           {"issuer", ca.issuer},
           {"serial", ca.serial},
           {"fingerprint", ca.fingerprint},
           {"notBefore", iso8601_ms(ca.not_before_s * 1000)},
           {"notAfter", iso8601_ms(ca.not_after_s * 1000)},
           {"status", std::string(to_string(ca.status))},
           {"autoRegistration", ca.auto_registration},
           {"managed", ca.managed},
           {"createdAt", iso8601_ms(ca.created_at_ms)},
           {"updatedAt", iso8601_ms(ca.updated_at_ms)}};
  if (device_count) out["deviceCount"] = *device_count;
  if (with_pem) out["certificatePem"] = ca.certificate_pem;
  return out;
}

void add_ca_routes(http::Router& router, CaService& service, const identity::Authenticator& auth) {
  const std::string base = "/api/admin/cas";
  const std::string item = base + "/{caId}";
  router.add("GET", base + "/registration-code",
             auth.protect_admin([&service](Request&, const identity::Principal&) {
               auto code = service.registration_code();
               if (!code) return Response::error(code.error());
               return Response::json(200, json{{"registrationCode", *code}});
             }));
  router.add("POST", base, auth.protect_admin([&service](Request& req, const identity::Principal&) {
    return register_ca(service, req);
  }));
  router.add("GET", base, auth.protect_admin([&service](Request& req, const identity::Principal&) {
    return list(service, req);
  }));
  router.add("GET", item, auth.protect_admin([&service](Request& req, const identity::Principal&) {
    auto row = service.describe(req.param("caId"));
    if (!row) return Response::error(row.error());
    return ca_response(service, 200, *row, true);
  }));
  router.add("PATCH", item,
             auth.protect_admin([&service](Request& req, const identity::Principal&) {
               return patch(service, req);
             }));
  router.add("DELETE", item,
             auth.protect_admin([&service](Request& req, const identity::Principal&) {
               auto row = service.deregister(req.param("caId"));
               if (!row) return Response::error(row.error());
               return ca_response(service, 200, *row, false);
             }));
}

}  // namespace sp::pki
