#pragma once
// The audit's checks: each a plain function from a Snapshot to the findings it raises, named with
// the AWS IoT Device Defender audit check name where one maps (so people who know Defender
// recognise them), plus the checks that fit this platform. Also the pure parsers of the broker's
// files, so that they are tested without files.

#include <string_view>
#include <vector>

#include "smartproduct/audit/types.hpp"

namespace sp::audit {

using CheckFn = void (*)(const Snapshot&, std::vector<Finding>&);

struct CheckInfo {
  std::string_view name;
  Severity severity;  ///< of its findings (the expiry checks raise kHigh for expired ones)
  std::string_view description;
  CheckFn run;
};

/// Every check, in the order a run executes them.
const std::vector<CheckInfo>& all_checks();
/// The check named `name`, or null.
const CheckInfo* find_check(std::string_view name);

// The checks (see all_checks() for what each looks at).
void device_certificate_expiring(const Snapshot& s, std::vector<Finding>& out);
void ca_certificate_expiring(const Snapshot& s, std::vector<Finding>& out);
void revoked_ca_still_active(const Snapshot& s, std::vector<Finding>& out);
void revoked_device_certificate_still_active(const Snapshot& s, std::vector<Finding>& out);
void device_certificate_shared(const Snapshot& s, std::vector<Finding>& out);
void conflicting_client_ids(const Snapshot& s, std::vector<Finding>& out);
void policy_overly_permissive(const Snapshot& s, std::vector<Finding>& out);
void logging_disabled(const Snapshot& s, std::vector<Finding>& out);
void weak_keys(const Snapshot& s, std::vector<Finding>& out);
void pki_file_permissions(const Snapshot& s, std::vector<Finding>& out);
void tls_version(const Snapshot& s, std::vector<Finding>& out);
void admin_account_hygiene(const Snapshot& s, std::vector<Finding>& out);

/// Reads a mosquitto.conf text (not the files it names: acl_read stays false).
BrokerConfig parse_broker_config(std::string_view text);
/// Reads an acl_file text.
std::vector<AclGrant> parse_acl(std::string_view text);

/// Takeovers in the window: a `connected` of a client id while an earlier connection of the same
/// client id (same broker epoch, lower sequence number) had not yet disconnected.
struct Takeover {
  const Connection* old_connection;
  const Connection* new_connection;
};
std::vector<Takeover> takeovers(const std::vector<Connection>& connections);

}  // namespace sp::audit
