// libFuzzer target for the broker plugin's core (src/broker_plugin/policy.cpp): control messages
// on $CONTROL/smartproduct/v1 (including stateChunk generations), the state file parser and the
// per-device topic ACL. The input is used three ways:
//  - as a control message from the service user, against a policy with live connections:
//    the answer is always {"responses":[...]} with one entry per command, kicks name only
//    connected clients;
//  - as a state file: what parses serializes and parses back to the same state;
//  - as a topic / filter for every access kind: a device is allowed only inside its own
//    namespaces (segment-exact, no wildcard before its CN).
// Crashes, sanitizer reports and aborts are findings.

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>

#include "policy.hpp"

namespace {

using namespace sp::broker_plugin;

void check(bool ok) {
  if (!ok) std::abort();
}

int k1, k2, k3;

CertIdentity cert(const std::string& cn, char tag, const std::string& ca) {
  CertIdentity c;
  c.cn = cn;
  c.fingerprint = std::string(64, tag);
  c.aki = ca;
  c.ca_id = ca;
  c.issuer = "CN=Device CA";
  c.serial = "01";
  c.issuer_kind = cn == "svc-backend" ? IssuerKind::kService : IssuerKind::kDevice;
  return c;
}

ConnectAttempt attempt(const void* key, const std::string& id) {
  ConnectAttempt a;
  a.key = key;
  a.client_id = id;
  a.address = "127.0.0.1";
  a.protocol_version = 5;
  return a;
}

Options options(bool gated) {
  Options o;
  o.state_file = "/nonexistent/state.json";
  o.service_ca = "/nonexistent/root.crt";
  o.device_ca_dir = "/nonexistent/cas";
  o.require_activation = gated;
  return o;
}

// A topic a device with CN `cn` may use must start with one of its own namespaces.
bool inside_own_namespace(const Options& o, std::string_view cn, std::string_view topic) {
  for (const auto& prefix : {o.telemetry_topic, o.event_topic, o.command_topic, o.shadow_prefix}) {
    const std::string own = prefix + "/" + std::string(cn);
    if (topic == own || topic.substr(0, own.size() + 1) == own + "/") return true;
  }
  return false;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);

  // 1. Control messages.
  Policy policy(options(size % 2 == 0), {}, 1);
  policy.authenticate(attempt(&k1, "SN1"), cert("SN1", 'A', "AA11"), 1);
  policy.authenticate(attempt(&k2, "SN2"), cert("SN2", 'B', "BB22"), 2);
  policy.authenticate(attempt(&k3, "backend"), cert("svc-backend", 'C', "CC33"), 3);
  // Twice: the second message sees the state (and any staged generation) the first one left.
  for (int round = 0; round < 2; ++round) {
    const auto out = policy.handle_control("svc-backend", input);
    check(out.authorized);
    const auto answer = nlohmann::json::parse(out.response, nullptr, false);
    check(answer.is_object() && answer.contains("responses") && answer["responses"].is_array());
    const auto doc = nlohmann::json::parse(input, nullptr, false);
    if (!doc.is_discarded() && doc.is_object() && doc.contains("commands") &&
        doc["commands"].is_array()) {
      check(answer["responses"].size() == doc["commands"].size() ||
            (doc["commands"].empty() && answer["responses"].empty()));
    }
    static const std::set<std::string> kConnected = {"SN1", "SN2", "backend"};
    for (const auto& id : out.kick_client_ids) check(kConnected.count(id) == 1);
  }
  check(!policy.handle_control("SN1", input).authorized);

  // 2. The state file.
  if (auto st = parse_state(input)) {
    auto again = parse_state(serialize_state(*st));
    check(again && *again == *st);
  }

  // 3. The topic ACL, for a device and every access kind.
  Policy open(options(false), {}, 1);
  open.authenticate(attempt(&k1, "SN1"), cert("SN1", 'A', "AA11"), 1);
  for (auto access : {Access::kRead, Access::kWrite, Access::kSubscribe, Access::kUnsubscribe}) {
    const auto r = open.check_acl(&k1, "SN1", input, access);
    check(r != AclResult::kDefer);
    if (r == AclResult::kAllow) {
      check(inside_own_namespace(open.options(), "SN1", input));
      if (access == Access::kWrite) check(input.find_first_of("+#") == std::string_view::npos);
    }
    check(open.check_acl(&k3, "svc-backend", input, access) == AclResult::kDefer);
    check(open.check_acl(nullptr, "", input, access) == AclResult::kDeny);
  }
  return 0;
}
