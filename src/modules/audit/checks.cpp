// The audit checks and the parsers of the broker's files. Everything here is pure: a Snapshot in,
// findings out.

#include "smartproduct/audit/checks.hpp"

#include "smartproduct/core/clock.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <sstream>

namespace sp::audit {
namespace {

constexpr std::int64_t kDayMs = 86400LL * 1000;

Finding make(std::string_view check, Severity severity, std::string resource_type,
             std::string resource_id, std::string reason) {
  Finding f;
  f.check = std::string(check);
  f.severity = severity;
  f.resource_type = std::move(resource_type);
  f.resource_id = std::move(resource_id);
  f.reason = std::move(reason);
  return f;
}

// A certificate expired (high) or expiring within the warning window (the check's severity).
std::optional<Finding> expiry_finding(const Snapshot& s, std::string_view check,
                                      std::int64_t not_after_s, std::string type, std::string id,
                                      std::string_view what) {
  const std::int64_t not_after_ms = not_after_s * 1000;
  if (not_after_ms <= s.now_ms) {
    return make(check, Severity::kHigh, std::move(type), std::move(id),
                fmt::format("{} expired at {}", what, iso8601_ms(not_after_ms)));
  }
  if (not_after_ms - s.now_ms <= s.expiry_warning_days * kDayMs) {
    const auto days = (not_after_ms - s.now_ms + kDayMs - 1) / kDayMs;
    return make(check, Severity::kMedium, std::move(type), std::move(id),
                fmt::format("{} expires in {} day(s)", what, days));
  }
  return std::nullopt;
}

std::string trim(std::string_view v) {
  const auto b = v.find_first_not_of(" \t\r");
  if (b == std::string_view::npos) return {};
  const auto e = v.find_last_not_of(" \t\r");
  return std::string(v.substr(b, e - b + 1));
}

// Splits a config line into its first word and the rest (mosquitto's syntax: "key value...").
std::pair<std::string, std::string> key_value(std::string_view line) {
  std::string t = trim(line);
  if (t.empty() || t[0] == '#') return {};
  const auto sp = t.find_first_of(" \t");
  if (sp == std::string::npos) return {t, {}};
  return {t.substr(0, sp), trim(std::string_view(t).substr(sp + 1))};
}

bool has_wildcard(std::string_view topic) {
  return topic.find('#') != std::string_view::npos || topic.find('+') != std::string_view::npos;
}

}  // namespace

std::string_view to_string(Severity s) {
  switch (s) {
    case Severity::kCritical:
      return "critical";
    case Severity::kHigh:
      return "high";
    case Severity::kMedium:
      return "medium";
    case Severity::kLow:
      return "low";
  }
  return "medium";
}

std::optional<Severity> severity_from(std::string_view text) {
  for (auto s : {Severity::kCritical, Severity::kHigh, Severity::kMedium, Severity::kLow}) {
    if (to_string(s) == text) return s;
  }
  return std::nullopt;
}

void device_certificate_expiring(const Snapshot& s, std::vector<Finding>& out) {
  for (const auto& c : s.device_certs) {
    if (c.status != "ACTIVE" || !c.not_after_s) continue;
    auto f = expiry_finding(s, "DEVICE_CERTIFICATE_EXPIRING_CHECK", *c.not_after_s, "certificate",
                            c.fingerprint, "the device certificate of " + c.device_id);
    if (!f) continue;
    f->details = {{"deviceId", c.device_id}, {"caId", c.ca_id}, {"notAfter", *c.not_after_s}};
    out.push_back(std::move(*f));
  }
}

void ca_certificate_expiring(const Snapshot& s, std::vector<Finding>& out) {
  for (const auto& ca : s.cas) {
    if (ca.status == "DEREGISTERED") continue;
    auto f = expiry_finding(s, "CA_CERTIFICATE_EXPIRING_CHECK", ca.not_after_s, "ca", ca.id,
                            "the device CA " + ca.name);
    if (!f) continue;
    f->details = {{"name", ca.name}, {"status", ca.status}, {"notAfter", ca.not_after_s}};
    out.push_back(std::move(*f));
  }
  for (const auto& c : s.platform_certs) {
    if (!c.is_ca) continue;
    auto f = expiry_finding(s, "CA_CERTIFICATE_EXPIRING_CHECK", c.not_after_s, "file", c.path,
                            "the platform CA certificate " + c.path);
    if (f) out.push_back(std::move(*f));
  }
}

void revoked_ca_still_active(const Snapshot& s, std::vector<Finding>& out) {
  for (const auto& ca : s.cas) {
    if (ca.status == "ACTIVE") continue;
    std::vector<std::string> why;
    // The CA service removes INACTIVE and DEREGISTERED CAs from the capath.
    if (ca.in_trust_dir) {
      why.push_back("its certificate is still in the broker's trust directory");
    }
    if (s.plugin.read && !s.plugin.disabled_cas.count(ca.id)) {
      why.push_back("the broker plugin's state does not refuse it");
    }
    if (ca.connected_devices > 0) {
      why.push_back(fmt::format("{} device(s) of it are connected", ca.connected_devices));
    }
    if (why.empty()) continue;
    std::string reason = "the " + ca.status + " CA " + ca.name + " is still trusted: ";
    for (std::size_t i = 0; i < why.size(); ++i) reason += (i ? "; " : "") + why[i];
    auto f =
        make("REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK", Severity::kMedium, "ca", ca.id, reason);
    f.details = {{"name", ca.name},
                 {"status", ca.status},
                 {"connectedDevices", ca.connected_devices},
                 {"inTrustDir", ca.in_trust_dir}};
    out.push_back(std::move(f));
  }
}

void revoked_device_certificate_still_active(const Snapshot& s, std::vector<Finding>& out) {
  for (const auto& c : s.device_certs) {
    if (c.status != "REVOKED") continue;
    std::vector<std::string> why;
    if (c.connected) why.push_back("the device is connected with it");
    if (s.plugin.read && !s.plugin.revoked_fingerprints.count(c.fingerprint)) {
      why.push_back("the broker plugin's state does not list it as revoked");
    }
    if (why.empty()) continue;
    std::string reason = "the revoked certificate of " + c.device_id + " is still usable: ";
    for (std::size_t i = 0; i < why.size(); ++i) reason += (i ? "; " : "") + why[i];
    auto f = make("REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", Severity::kMedium, "certificate",
                  c.fingerprint, reason);
    f.details = {{"deviceId", c.device_id}, {"connected", c.connected}};
    out.push_back(std::move(f));
  }
}

std::vector<Takeover> takeovers(const std::vector<Connection>& connections) {
  // client id -> live connections by (broker epoch, sequence number)
  std::map<std::string, std::map<std::pair<std::int64_t, std::int64_t>, const Connection*>> live;
  std::vector<Takeover> out;
  for (const auto& c : connections) {
    auto& mine = live[c.client_id];
    const auto key = std::make_pair(c.broker_epoch, c.conn_seq);
    if (c.event == "connected") {
      // A new broker epoch means every earlier connection is gone.
      for (auto it = mine.begin(); it != mine.end();) {
        it = it->first.first != c.broker_epoch ? mine.erase(it) : std::next(it);
      }
      if (!mine.empty()) out.push_back({mine.rbegin()->second, &c});
      mine[key] = &c;
    } else if (c.event == "disconnected") {
      mine.erase(key);
    }
  }
  return out;
}

void device_certificate_shared(const Snapshot& s, std::vector<Finding>& out) {
  // The broker requires client id == CN, so two holders of one certificate take each other's
  // session over: a takeover between two different source addresses with the same certificate.
  struct Seen {
    std::string device_id;
    std::set<std::string> addresses;
    int takeovers = 0;
  };
  std::map<std::string, Seen> by_fingerprint;
  for (const auto& t : takeovers(s.connections)) {
    if (t.old_connection->fingerprint != t.new_connection->fingerprint) continue;
    if (t.old_connection->address == t.new_connection->address) continue;
    auto& seen = by_fingerprint[t.new_connection->fingerprint];
    seen.device_id = t.new_connection->device_id;
    seen.addresses.insert(t.old_connection->address);
    seen.addresses.insert(t.new_connection->address);
    ++seen.takeovers;
  }
  for (const auto& [fp, seen] : by_fingerprint) {
    auto f = make("DEVICE_CERTIFICATE_SHARED_CHECK", Severity::kCritical, "certificate", fp,
                  fmt::format("the certificate of {} was used by {} concurrent connections from "
                              "different addresses ({} takeover(s) in the window)",
                              seen.device_id, seen.addresses.size(), seen.takeovers));
    f.details = {
        {"deviceId", seen.device_id},
        {"addresses", std::vector<std::string>(seen.addresses.begin(), seen.addresses.end())},
        {"takeovers", seen.takeovers}};
    out.push_back(std::move(f));
  }
}

void conflicting_client_ids(const Snapshot& s, std::vector<Finding>& out) {
  // One takeover is a device reconnecting before the broker noticed its old connection died; two
  // or more in the window are two clients fighting over one id.
  constexpr int kMinTakeovers = 2;
  std::map<std::string, std::pair<std::string, int>> by_client;  // client id -> (device, count)
  for (const auto& t : takeovers(s.connections)) {
    auto& e = by_client[t.new_connection->client_id];
    e.first = t.new_connection->device_id;
    ++e.second;
  }
  for (const auto& [client_id, e] : by_client) {
    if (e.second < kMinTakeovers) continue;
    auto f = make("CONFLICTING_CLIENT_IDS_CHECK", Severity::kHigh, "client-id", client_id,
                  fmt::format("client id {} took over its own live session {} times in the window",
                              client_id, e.second));
    f.details = {{"deviceId", e.first}, {"takeovers", e.second}};
    out.push_back(std::move(f));
  }
}

void policy_overly_permissive(const Snapshot& s, std::vector<Finding>& out) {
  constexpr std::string_view kCheck = "IOT_POLICY_OVERLY_PERMISSIVE_CHECK";
  const auto& b = s.broker;
  if (!b.read) return;
  if (b.allow_anonymous) {
    out.push_back(make(kCheck, Severity::kCritical, "broker", b.path + ":allow_anonymous",
                       "the broker allows anonymous clients (allow_anonymous true)"));
  }
  if (!b.plugin_loaded) {
    out.push_back(make(kCheck, Severity::kCritical, "broker", b.path + ":plugin",
                       "the smartproduct broker plugin is not loaded: devices are not limited "
                       "to their own topics"));
  }
  for (const auto& l : b.listeners) {
    if (l.tls) continue;
    auto f =
        make(kCheck, Severity::kCritical, "broker", fmt::format("{}:listener {}", b.path, l.port),
             fmt::format("listener {} (line {}) has no TLS: clients connect unauthenticated "
                         "and in clear text",
                         l.port, l.line));
    out.push_back(std::move(f));
  }
  for (const auto& g : b.acl) {
    if (g.access == "deny") continue;
    std::string why;
    if (g.pattern && has_wildcard(g.topic)) {
      why = "a pattern with a wildcard applies to every client";
    } else if (g.user.empty()) {
      why = "a grant before any `user` line applies to every client";
    } else if (g.topic == "#" || g.topic.rfind("#", 0) == 0 || g.topic.rfind("+/#", 0) == 0) {
      why = "a grant of every topic";
    } else if (!b.service_users.count(g.user) && has_wildcard(g.topic)) {
      why = "a wildcard grant to " + g.user + ", who is not a service user";
    }
    if (why.empty()) continue;
    auto f = make(kCheck, Severity::kCritical, "broker", fmt::format("{}:{}", b.acl_file, g.line),
                  fmt::format("acl line {} ({}{} {}): {}", g.line,
                              g.pattern ? "pattern " : "topic ", g.access, g.topic, why));
    f.details = {{"file", b.acl_file}, {"line", g.line}, {"user", g.user}, {"topic", g.topic}};
    out.push_back(std::move(f));
  }
}

void logging_disabled(const Snapshot& s, std::vector<Finding>& out) {
  constexpr std::string_view kCheck = "LOGGING_DISABLED_CHECK";
  const auto& b = s.broker;
  if (b.read) {
    const bool dest_none =
        std::find(b.log_dest.begin(), b.log_dest.end(), "none") != b.log_dest.end();
    const bool type_none =
        !b.log_type.empty() && std::all_of(b.log_type.begin(), b.log_type.end(),
                                           [](const std::string& t) { return t == "none"; });
    if (dest_none || type_none) {
      out.push_back(make(kCheck, Severity::kLow, "broker", b.path + ":log",
                         dest_none ? "the broker's log is off (log_dest none)"
                                   : "the broker logs nothing (log_type none)"));
    }
  }
  if (s.daemon_log_level == "error" || s.daemon_log_level == "off" ||
      s.daemon_log_level == "critical") {
    out.push_back(make(kCheck, Severity::kLow, "daemon", "[log] level",
                       "the daemon's log level is " + s.daemon_log_level +
                           ": warnings (refused devices, failures) are not logged"));
  }
}

void weak_keys(const Snapshot& s, std::vector<Finding>& out) {
  constexpr std::string_view kCheck = "WEAK_KEY_CHECK";
  static const std::set<std::string> kCurves = {"prime256v1", "secp384r1", "secp521r1"};
  auto why = [](const KeyInfo& k) -> std::optional<std::string> {
    if (k.type.empty()) return std::nullopt;  // unreadable: not judged
    if (k.type == "RSA" && k.bits < 2048) return fmt::format("RSA key of {} bits (< 2048)", k.bits);
    if (k.type == "EC" && !kCurves.count(k.curve)) {
      return "EC key on the curve " + (k.curve.empty() ? std::string("(unknown)") : k.curve) +
             " (not P-256, P-384 or P-521)";
    }
    if (k.type != "RSA" && k.type != "EC" && k.type != "ED25519" && k.type != "ED448") {
      return "key type " + k.type;
    }
    return std::nullopt;
  };
  for (const auto& ca : s.cas) {
    if (ca.status == "DEREGISTERED") continue;
    if (auto w = why(ca.key)) {
      auto f =
          make(kCheck, Severity::kHigh, "ca", ca.id, "the device CA " + ca.name + " has an " + *w);
      f.details = {{"name", ca.name}, {"keyType", ca.key.type}, {"bits", ca.key.bits}};
      out.push_back(std::move(f));
    }
  }
  for (const auto& c : s.platform_certs) {
    if (auto w = why(c.key)) {
      out.push_back(make(kCheck, Severity::kHigh, "file", c.path, c.path + " has an " + *w));
    }
  }
}

void pki_file_permissions(const Snapshot& s, std::vector<Finding>& out) {
  for (const auto& k : s.key_files) {
    if ((k.mode & 0077) == 0) continue;
    const bool world = (k.mode & 0004) != 0;
    auto f = make("PKI_FILE_PERMISSIONS_CHECK", world ? Severity::kCritical : Severity::kHigh,
                  "file", k.path,
                  fmt::format("the private key {} has mode {:04o}: readable or writable by {}",
                              k.path, k.mode, world ? "every local user" : "its group"));
    f.details = {{"mode", fmt::format("{:04o}", k.mode)}};
    out.push_back(std::move(f));
  }
}

void tls_version(const Snapshot& s, std::vector<Finding>& out) {
  for (const auto& l : s.broker.listeners) {
    if (!l.tls || l.tls_version.empty()) continue;
    if (l.tls_version == "tlsv1.2" || l.tls_version == "tlsv1.3") continue;
    out.push_back(
        make("TLS_VERSION_CHECK", Severity::kHigh, "broker",
             fmt::format("{}:listener {}", s.broker.path, l.port),
             fmt::format("listener {} accepts {} (below TLS 1.2)", l.port, l.tls_version)));
  }
}

// An administrator holds every device and the platform: one that never proved its email (reset
// mail goes elsewhere, or nowhere) or that nobody has used for months is an account to remove or
// re-check. Accounts younger than the window have not had the chance to sign in yet.
void admin_account_hygiene(const Snapshot& s, std::vector<Finding>& out) {
  const std::int64_t window_ms = static_cast<std::int64_t>(s.admin_inactive_days) * 86'400'000;
  for (const auto& a : s.admins) {
    std::vector<std::string> reasons;
    if (!a.email_verified) reasons.push_back("its email address is not verified");
    const std::int64_t last_active = a.last_sign_in_ms.value_or(a.created_at_ms);
    if (s.now_ms - last_active > window_ms) {
      reasons.push_back(a.last_sign_in_ms
                            ? fmt::format("no sign-in since {}", iso8601_ms(*a.last_sign_in_ms))
                            : fmt::format("no sign-in since it was created at {}",
                                          iso8601_ms(a.created_at_ms)));
    }
    if (reasons.empty()) continue;
    std::string reason = "administrator " + a.email + ": " + reasons[0];
    for (std::size_t i = 1; i < reasons.size(); ++i) reason += "; " + reasons[i];
    Finding f = make("ADMIN_ACCOUNT_HYGIENE_CHECK",
                     a.email_verified ? Severity::kLow : Severity::kMedium, "account", a.id,
                     std::move(reason));
    f.details = {{"email", a.email},
                 {"emailVerified", a.email_verified},
                 {"lastSignIn", a.last_sign_in_ms ? nlohmann::json(iso8601_ms(*a.last_sign_in_ms))
                                                  : nlohmann::json(nullptr)},
                 {"inactiveDays", s.admin_inactive_days}};
    out.push_back(std::move(f));
  }
}

const std::vector<CheckInfo>& all_checks() {
  static const std::vector<CheckInfo> kChecks = {
      {"DEVICE_CERTIFICATE_EXPIRING_CHECK", Severity::kMedium,
       "active device certificates expiring within expiry_warning_days (expired: high)",
       device_certificate_expiring},
      {"CA_CERTIFICATE_EXPIRING_CHECK", Severity::kMedium,
       "registered device CAs and the platform's CA files expiring (expired: high)",
       ca_certificate_expiring},
      {"REVOKED_CA_CERTIFICATE_STILL_ACTIVE_CHECK", Severity::kMedium,
       "inactive or deregistered CAs still trusted by the broker or with devices connected",
       revoked_ca_still_active},
      {"REVOKED_DEVICE_CERTIFICATE_STILL_ACTIVE_CHECK", Severity::kMedium,
       "revoked certificates still connected or missing from the plugin's revocation state",
       revoked_device_certificate_still_active},
      {"DEVICE_CERTIFICATE_SHARED_CHECK", Severity::kCritical,
       "one certificate used by concurrent connections from different addresses",
       device_certificate_shared},
      {"CONFLICTING_CLIENT_IDS_CHECK", Severity::kHigh,
       "a client id repeatedly taking over its own live session", conflicting_client_ids},
      {"IOT_POLICY_OVERLY_PERMISSIVE_CHECK", Severity::kCritical,
       "allow_anonymous, no plugin, listeners without TLS, wildcard or catch-all ACL grants",
       policy_overly_permissive},
      {"LOGGING_DISABLED_CHECK", Severity::kLow,
       "broker log off (log_dest/log_type none), daemon log level above warn", logging_disabled},
      {"WEAK_KEY_CHECK", Severity::kHigh, "RSA keys below 2048 bits, unknown curves", weak_keys},
      {"PKI_FILE_PERMISSIONS_CHECK", Severity::kCritical,
       "private keys readable by group or others (others: critical)", pki_file_permissions},
      {"TLS_VERSION_CHECK", Severity::kHigh, "broker listeners accepting TLS below 1.2",
       tls_version},
      {"ADMIN_ACCOUNT_HYGIENE_CHECK", Severity::kMedium,
       "enabled administrators with an unverified email (medium) or no sign-in for "
       "admin_inactive_days (low)",
       admin_account_hygiene},
  };
  return kChecks;
}

const CheckInfo* find_check(std::string_view name) {
  for (const auto& c : all_checks()) {
    if (c.name == name) return &c;
  }
  return nullptr;
}

BrokerConfig parse_broker_config(std::string_view text) {
  BrokerConfig b;
  b.read = true;
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  Listener* current = nullptr;
  Listener default_listener;  // settings before any `listener` line belong to port 1883
  bool default_used = false;
  while (std::getline(in, line)) {
    ++number;
    auto [key, value] = key_value(line);
    if (key.empty()) continue;
    if (key == "listener") {
      b.listeners.push_back(Listener{value, number, false, {}});
      current = &b.listeners.back();
    } else if (key == "port") {
      default_used = true;
      default_listener.port = value;
      default_listener.line = number;
    } else if (key == "certfile" || key == "psk_hint") {
      (current ? current : &default_listener)->tls = true;
    } else if (key == "tls_version") {
      (current ? current : &default_listener)->tls_version = value;
    } else if (key == "allow_anonymous") {
      b.allow_anonymous = value == "true";
    } else if (key == "plugin" || key == "auth_plugin") {
      if (value.find("smartproduct") != std::string::npos) b.plugin_loaded = true;
    } else if (key == "log_dest") {
      b.log_dest.push_back(value.substr(0, value.find(' ')));
    } else if (key == "log_type") {
      b.log_type.push_back(value);
    } else if (key == "acl_file") {
      b.acl_file = value;
    } else if (key == "plugin_opt_state_file") {
      b.state_file = value;
    } else if (key == "capath") {
      if (b.capath.empty()) b.capath = value;
    } else if (key == "plugin_opt_service_users") {
      std::string users = value;
      std::replace(users.begin(), users.end(), ',', ' ');
      std::istringstream words(users);
      for (std::string u; words >> u;) b.service_users.insert(u);
    }
  }
  if (default_used) b.listeners.insert(b.listeners.begin(), default_listener);
  return b;
}

std::vector<AclGrant> parse_acl(std::string_view text) {
  std::vector<AclGrant> out;
  std::istringstream in{std::string(text)};
  std::string line;
  int number = 0;
  std::string user;
  while (std::getline(in, line)) {
    ++number;
    auto [key, value] = key_value(line);
    if (key == "user") {
      user = value;
    } else if (key == "topic" || key == "pattern") {
      AclGrant g;
      g.user = key == "pattern" ? std::string() : user;
      g.pattern = key == "pattern";
      g.line = number;
      // "topic [read|write|readwrite|deny] <topic>"
      std::istringstream words(value);
      std::string first;
      words >> first;
      if (first == "read" || first == "write" || first == "readwrite" || first == "deny" ||
          first == "subscribe") {
        g.access = first;
        std::getline(words, g.topic);
        g.topic = trim(g.topic);
      } else {
        g.access = "readwrite";
        g.topic = value;
      }
      out.push_back(std::move(g));
    }
  }
  return out;
}

}  // namespace sp::audit
