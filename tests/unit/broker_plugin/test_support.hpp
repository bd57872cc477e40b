#pragma once
// Shared helpers for the broker plugin core tests.

#include <string>

#include "policy.hpp"

namespace sp::broker_plugin::test {

/// A syntactically valid fingerprint derived from a short tag (deterministic, 64 hex digits).
inline std::string fp(char tag) { return std::string(64, tag); }

inline CertIdentity device_cert(const std::string& cn, char fp_tag = 'A',
                                const std::string& aki = "AA11",
                                const std::string& issuer = "CN=Device CA,O=Acme") {
  CertIdentity c;
  c.cn = cn;
  c.fingerprint = fp(fp_tag);
  c.aki = aki;
  c.issuer = issuer;
  c.serial = "01";
  // What the glue reports when the signature verified: a service-user CN against the service
  // anchor (the platform root), others against the registered device CA named by `aki`.
  c.issuer_kind = cn == "svc-backend" ? IssuerKind::kService : IssuerKind::kDevice;
  c.ca_id = aki;
  return c;
}

inline Options test_options() {
  Options o;
  o.state_file = "/nonexistent/state.json";
  o.service_ca = "/nonexistent/root.crt";
  o.device_ca_dir = "/nonexistent/device-cas";
  return o;
}

inline ConnectAttempt attempt(const void* key, const std::string& client_id, int proto = 5) {
  ConnectAttempt a;
  a.key = key;
  a.client_id = client_id;
  a.address = "127.0.0.1";
  a.protocol_version = proto;
  return a;
}

}  // namespace sp::broker_plugin::test
