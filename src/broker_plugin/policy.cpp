#include "policy.hpp"

#include <charconv>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>

namespace sp::broker_plugin {
namespace {

using nlohmann::json;

// Invalid UTF-8 (e.g. from a client id) must never make dump() throw inside a broker callback.
std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

std::string trim(std::string_view s) {
  const auto* ws = " \t\r\n";
  const auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  const auto e = s.find_last_not_of(ws);
  return std::string(s.substr(b, e - b + 1));
}

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
  });
}

bool is_hex_or_colon(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return c == ':' || (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F') || (c >= 'a' && c <= 'f');
  });
}

// Strict UTF-8 decoding that also refuses the control characters mosquitto refuses in strings.
bool is_clean_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::uint32_t cp = 0;
    std::size_t n = 0;
    if (c < 0x80) {
      cp = c;
      n = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F;
      n = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F;
      n = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07;
      n = 4;
    } else {
      return false;
    }
    if (i + n > s.size()) return false;
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    const bool overlong =
        (n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000);
    if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F)) return false;
    i += n;
  }
  return true;
}

// A topic option is used as a literal prefix; a wildcard or stray '/' would widen every device's
// rights, so such a value is refused at start.
std::optional<std::string> check_topic_option(const std::string& name, const std::string& value) {
  if (value.empty()) return name + " must not be empty";
  if (value.find_first_of("+#") != std::string::npos) return name + " must not contain wildcards";
  if (value.front() == '/' || value.back() == '/' || value.find("//") != std::string::npos) {
    return name + " must not have empty segments";
  }
  return std::nullopt;
}

// Matches "<prefix>/<cn>" at the start of `topic` on segment boundaries; `rest` gets what follows
// (empty or starting with '/'). Segment-exact, so CN "SN1" never matches "SN10".
bool match_device_prefix(std::string_view topic, std::string_view prefix, std::string_view cn,
                         std::string_view& rest) {
  if (topic.size() < prefix.size() + 1 + cn.size()) return false;
  if (topic.substr(0, prefix.size()) != prefix) return false;
  if (topic[prefix.size()] != '/') return false;
  if (topic.substr(prefix.size() + 1, cn.size()) != cn) return false;
  rest = topic.substr(prefix.size() + 1 + cn.size());
  return rest.empty() || rest.front() == '/';
}

std::vector<std::string> sorted(const StringSet& set) {
  std::vector<std::string> v(set.begin(), set.end());
  std::sort(v.begin(), v.end());
  return v;
}

// Adds the entries of doc[key] (absent = none) to `out`, validated and normalized; `sum` (when
// given) is fed every entry as sent, for the chunked sync's checksum.
tl::expected<void, std::string> add_string_array(const json& doc, std::string_view key,
                                                 bool fingerprint, bool maybe_hex, StringSet& out,
                                                 broker::StateChecksum* sum = nullptr,
                                                 std::size_t key_index = 0) {
  const auto it = doc.find(key);
  if (it == doc.end()) return {};
  const auto& arr = *it;
  const std::string name(key);
  if (!arr.is_array()) return tl::unexpected(name + " must be an array");
  for (const auto& el : arr) {
    if (!el.is_string()) return tl::unexpected(name + " must contain strings");
    const auto& raw = el.get_ref<const std::string&>();
    if (sum != nullptr) sum->add(key_index, raw);
    if (fingerprint) {
      auto fp = normalize_hex(raw);
      if (fp.size() != 64 || !is_hex(fp)) {
        return tl::unexpected(name + " contains an invalid SHA-256 fingerprint");
      }
      out.insert(std::move(fp));
    } else if (maybe_hex && is_hex_or_colon(raw)) {
      out.insert(normalize_hex(raw));
    } else {
      if (raw.empty()) return tl::unexpected(name + " contains an empty string");
      out.insert(raw);
    }
  }
  return {};
}

// Adds every array of a (partial) state object to `st`, in kStateKeys order.
tl::expected<void, std::string> add_state(const json& doc, BrokerState& st,
                                          broker::StateChecksum* sum = nullptr) {
  if (!doc.is_object()) return tl::unexpected(std::string("state must be a JSON object"));
  struct Target {
    StringSet* set;
    bool fingerprint;
    bool maybe_hex;
  };
  const std::array<Target, broker::kStateKeys.size()> targets = {{
      {&st.revoked_fingerprints, true, false},
      {&st.revoked_usernames, false, false},
      {&st.disabled_cas, false, true},
      {&st.activated_fingerprints, true, false},
      {&st.registered_usernames, false, false},
      {&st.auto_activate_cas, false, true},
      {&st.quarantined_usernames, false, false},
  }};
  for (std::size_t i = 0; i < targets.size(); ++i) {
    const auto& t = targets[i];
    if (auto r = add_string_array(doc, broker::kStateKeys[i], t.fingerprint, t.maybe_hex, *t.set,
                                  sum, i);
        !r) {
      return r;
    }
  }
  return {};
}

tl::expected<BrokerState, std::string> state_from_json(const json& doc) {
  BrokerState st;
  if (auto r = add_state(doc, st); !r) return tl::unexpected(r.error());
  return st;
}

json presence_body(std::string_view event, const std::optional<std::string>& client_id,
                   std::string_view username, const CertIdentity& cert, std::string_view address,
                   int protocol_version, std::uint64_t conn_seq, std::int64_t epoch,
                   std::int64_t now_ms) {
  json j;
  j["event"] = event;
  j["clientId"] = client_id ? json(*client_id) : json(nullptr);
  j["username"] = username;
  j["certFingerprint"] = cert.fingerprint;
  j["issuer"] = cert.issuer;
  j["serial"] = cert.serial;
  j["aki"] = cert.aki;
  j["caId"] = cert.ca_id;
  j["notBefore"] = cert.not_before;
  j["notAfter"] = cert.not_after;
  j["address"] = address;
  j["protocolVersion"] = protocol_version;
  j["connSeq"] = conn_seq;
  j["epoch"] = epoch;
  j["tsMs"] = now_ms;
  return j;
}

// Appends `s` as a JSON string. Control characters are escaped; invalid UTF-8 (an address is
// whatever the broker reports; a CN is validated) becomes U+FFFD, as dump() does.
void append_json_string(std::string& out, std::string_view s) {
  if (!is_clean_utf8(s)) {
    out += dump(json(std::string(s)));
    return;
  }
  out += '"';
  for (const char ch : s) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  out += '"';
}

std::string presence_topic(std::string_view cn) {
  std::string t(kPresencePrefix);
  t += is_valid_cn(cn) ? cn : std::string_view("_invalid");
  return t;
}

// Reads an optional string field; a present field of another type is an error.
tl::expected<std::optional<std::string>, std::string> opt_string(const json& cmd, const char* key) {
  if (!cmd.contains(key)) return std::optional<std::string>{};
  const auto& v = cmd.at(key);
  if (!v.is_string()) return tl::unexpected(std::string(key) + " must be a string");
  if (v.get_ref<const std::string&>().empty()) {
    return tl::unexpected(std::string(key) + " must not be empty");
  }
  return std::optional<std::string>(v.get<std::string>());
}

tl::expected<std::optional<std::string>, std::string> opt_fingerprint(const json& cmd) {
  auto v = opt_string(cmd, "fingerprint");
  if (!v || !*v) return v;
  auto fp = normalize_hex(**v);
  if (fp.size() != 64 || !is_hex(fp)) {
    return tl::unexpected(std::string("fingerprint must be 64 hex digits (SHA-256)"));
  }
  return std::optional<std::string>(std::move(fp));
}

}  // namespace

std::string normalize_hex(std::string_view in) {
  std::string out;
  out.reserve(in.size());
  for (char c : in) {
    if (c == ':') continue;
    out.push_back((c >= 'a' && c <= 'f') ? static_cast<char>(c - 'a' + 'A') : c);
  }
  return out;
}

bool is_valid_cn(std::string_view cn) {
  if (cn.empty() || cn.size() > 128) return false;
  if (cn.find_first_of("+#/") != std::string_view::npos) return false;
  return is_clean_utf8(cn);
}

tl::expected<Options, std::string> parse_options(
    const std::vector<std::pair<std::string, std::string>>& kv) {
  Options o;
  for (const auto& [key, value] : kv) {
    if (key == "state_file") {
      o.state_file = value;
    } else if (key == "service_users") {
      o.service_users.clear();
      std::string_view rest = value;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        auto item = trim(rest.substr(0, comma));
        if (!item.empty()) o.service_users.insert(std::move(item));
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (key == "telemetry_topic") {
      o.telemetry_topic = value;
    } else if (key == "event_topic") {
      o.event_topic = value;
    } else if (key == "command_topic") {
      o.command_topic = value;
    } else if (key == "shadow_prefix") {
      o.shadow_prefix = value;
    } else if (key == "service_ca") {
      o.service_ca = value;
    } else if (key == "device_ca_dir") {
      o.device_ca_dir = value;
    } else if (key == "service_issuer_akis") {
      std::string_view rest = value;
      while (!rest.empty()) {
        const auto comma = rest.find(',');
        auto item = trim(rest.substr(0, comma));
        if (!item.empty()) {
          if (!is_hex_or_colon(item)) return tl::unexpected("invalid AKI '" + item + "'");
          o.service_issuer_akis.insert(normalize_hex(item));
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
      }
    } else if (key == "spool_dir") {
      o.spool_dir = value;
    } else if (key == "spool_sync_ms" || key == "spool_segment_bytes" ||
               key == "spool_quota_bytes") {
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() ||
          (key == "spool_sync_ms" ? (n < 1 || n > 10000) : n < 4096)) {
        return tl::unexpected(key + " must be a number (" +
                              (key == "spool_sync_ms" ? "1..10000" : ">= 4096") + "), got '" +
                              value + "'");
      }
      (key == "spool_sync_ms"         ? o.spool_sync_ms
       : key == "spool_segment_bytes" ? o.spool_segment_bytes
                                      : o.spool_quota_bytes) = n;
    } else if (key == "behaviour_interval_ms") {
      std::uint64_t n = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), n);
      if (ec != std::errc() || end != value.data() + value.size() ||
          (n != 0 && (n < 100 || n > 3600000))) {
        return tl::unexpected("behaviour_interval_ms must be 0 (off) or 100..3600000, got '" +
                              value + "'");
      }
      o.behaviour_interval_ms = n;
    } else if (key == "require_activation") {
      if (value == "true") {
        o.require_activation = true;
      } else if (value == "false") {
        o.require_activation = false;
      } else {
        return tl::unexpected("require_activation must be true or false, got '" + value + "'");
      }
    } else {
      return tl::unexpected("unknown option '" + key + "'");
    }
  }
  if (o.state_file.empty()) return tl::unexpected(std::string("state_file is required"));
  // Without anchors no issuer can be verified: refuse to start rather than trust AKIs.
  if (o.service_ca.empty()) {
    return tl::unexpected(std::string("service_ca is required (the platform root, PEM)"));
  }
  if (o.device_ca_dir.empty()) {
    return tl::unexpected(std::string("device_ca_dir is required (the broker's capath)"));
  }
  for (const auto& [name, value] :
       {std::pair<std::string, std::string>{"telemetry_topic", o.telemetry_topic},
        {"event_topic", o.event_topic},
        {"command_topic", o.command_topic},
        {"shadow_prefix", o.shadow_prefix}}) {
    if (auto err = check_topic_option(name, value)) return tl::unexpected(*err);
  }
  for (const auto& u : o.service_users) {
    if (!is_valid_cn(u)) return tl::unexpected("invalid service user '" + u + "'");
  }
  return o;
}

tl::expected<BrokerState, std::string> parse_state(std::string_view text) {
  auto doc = json::parse(text.begin(), text.end(), nullptr, false);
  if (doc.is_discarded()) return tl::unexpected(std::string("state is not valid JSON"));
  return state_from_json(doc);
}

std::string serialize_state(const BrokerState& st) {
  json j;
  j["revokedFingerprints"] = sorted(st.revoked_fingerprints);
  j["revokedUsernames"] = sorted(st.revoked_usernames);
  j["disabledCas"] = sorted(st.disabled_cas);
  j["activatedFingerprints"] = sorted(st.activated_fingerprints);
  j["registeredUsernames"] = sorted(st.registered_usernames);
  j["autoActivateCas"] = sorted(st.auto_activate_cas);
  j["quarantinedUsernames"] = sorted(st.quarantined_usernames);
  return j.dump(1, ' ', false, json::error_handler_t::replace) + "\n";
}

tl::expected<BrokerState, std::string> load_state_file(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) {
    if (errno == ENOENT) return BrokerState{};
    return tl::unexpected("cannot open " + path + ": " + std::strerror(errno));
  }
  std::string text;
  char buf[65536];
  std::size_t n = 0;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) text.append(buf, n);
  const bool failed = std::ferror(f) != 0;
  std::fclose(f);
  if (failed) return tl::unexpected("cannot read " + path);
  auto st = parse_state(text);
  if (!st) return tl::unexpected(path + ": " + st.error());
  return st;
}

tl::expected<void, std::string> save_state_file(const std::string& path, const BrokerState& state) {
  const std::string text = serialize_state(state);
  mode_t mode = 0640;
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) mode = st.st_mode & 0777;

  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
  if (fd < 0) return tl::unexpected("cannot create " + tmp + ": " + std::strerror(errno));
  auto fail = [&](const std::string& what) -> tl::expected<void, std::string> {
    const std::string msg = what + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(tmp.c_str());
    return tl::unexpected(msg);
  };
  // umask may have narrowed the create mode; the file must keep the intended one.
  if (::fchmod(fd, mode) != 0) return fail("cannot chmod " + tmp);
  std::size_t off = 0;
  while (off < text.size()) {
    const ssize_t w = ::write(fd, text.data() + off, text.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return fail("cannot write " + tmp);
    }
    off += static_cast<std::size_t>(w);
  }
  if (::fsync(fd) != 0) return fail("cannot fsync " + tmp);
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return tl::unexpected("cannot close " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const std::string msg = "cannot rename " + tmp + ": " + std::strerror(errno);
    ::unlink(tmp.c_str());
    return tl::unexpected(msg);
  }
  // The rename itself is only durable once the directory entry is flushed.
  const auto slash = path.rfind('/');
  const std::string dir =
      slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash));
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return {};
}

Policy::Policy(Options options, BrokerState state, std::int64_t epoch_s, LogSink log)
    : options_(std::move(options)),
      state_(std::move(state)),
      epoch_(epoch_s),
      log_(std::move(log)) {}

void Policy::log(LogLevel level, const std::string& msg) const {
  if (log_) log_(level, msg);
}

bool Policy::is_service_user(std::string_view username) const {
  return options_.service_users.find(username) != options_.service_users.end();
}

const ConnectionInfo* Policy::find_connection(ConnectionKey key) const {
  const auto it = connections_.find(key);
  return it == connections_.end() ? nullptr : &it->second;
}

bool Policy::ca_disabled(const CertIdentity& cert) const {
  return !cert.ca_id.empty() && state_.disabled_cas.find(cert.ca_id) != state_.disabled_cas.end();
}

std::optional<std::string> Policy::refusal_reason(const CertIdentity& cert,
                                                  std::string_view username) const {
  if (state_.revoked_fingerprints.find(cert.fingerprint) != state_.revoked_fingerprints.end() ||
      state_.revoked_usernames.find(username) != state_.revoked_usernames.end()) {
    return "revoked";
  }
  if (ca_disabled(cert)) return "ca_disabled";
  return std::nullopt;
}

AuthDecision Policy::authenticate(const ConnectAttempt& attempt, const CertIdentity& cert,
                                  std::int64_t now_ms) {
  AuthDecision d;
  std::optional<std::string> reason;
  const bool service = is_service_user(cert.cn);
  // SIGHUP re-runs BASIC_AUTH for live connections: same connection, same certificate, so it was
  // announced (and counted) already. A reused pointer with another identity is a new connection.
  const auto known = connections_.find(attempt.key);
  const bool recheck = known != connections_.end() &&
                       known->second.cert.fingerprint == cert.fingerprint &&
                       known->second.client_id == attempt.client_id.value_or("");
  DeviceBehaviour* slot = nullptr;
  if (!recheck && !service && is_valid_cn(cert.cn)) {
    slot = behaviour_slot(cert.cn);
    if (slot != nullptr) {
      ++slot->connection_attempts;
      if (slot->address_set.size() < DeviceBehaviour::kMaxDistinctAddresses &&
          slot->address_set.insert(attempt.address).second &&
          slot->addresses.size() < DeviceBehaviour::kMaxListedAddresses) {
        slot->addresses.push_back(attempt.address);
      }
    }
  }
  if (!is_valid_cn(cert.cn)) {
    reason = "invalid_cn";
  } else if (!service && (!attempt.client_id || *attempt.client_id != cert.cn)) {
    // Without this a device could take over another device's session by using its client id.
    reason = "client_id_mismatch";
  } else if (service && (cert.issuer_kind != IssuerKind::kService ||
                         (!options_.service_issuer_akis.empty() &&
                          options_.service_issuer_akis.find(cert.aki) ==
                              options_.service_issuer_akis.end()))) {
    // Only a leaf whose signature the platform root's key verifies is a service identity.
    reason = "service_issuer_mismatch";
  } else if (!service && (cert.issuer_kind != IssuerKind::kDevice || cert.ca_id.empty())) {
    // No registered CA's key verifies the signature: whatever the AKI or issuer DN claim.
    reason = "issuer_unverified";
  } else {
    reason = refusal_reason(cert, cert.cn);
  }

  if (reason) {
    d.outcome = AuthOutcome::kRejected;
    d.reason = *reason;
    auto body = presence_body("rejected", attempt.client_id, cert.cn, cert, attempt.address,
                              attempt.protocol_version, 0, epoch_, now_ms);
    body["reason"] = *reason;
    d.presence = Publication{presence_topic(cert.cn), dump(body), false};
    log(LogLevel::kWarning, "refused client '" + attempt.client_id.value_or("") + "' cn '" +
                                cert.cn + "' fingerprint " + cert.fingerprint + ": " + *reason);
    return d;
  }

  d.username = cert.cn;
  if (recheck) {
    d.outcome = AuthOutcome::kReauthAccepted;
    return d;
  }
  if (known != connections_.end()) release_slot(known->second);  // replaced below

  ConnectionInfo info;
  info.client_id = attempt.client_id.value_or("");
  info.username = cert.cn;
  info.cert = cert;
  info.address = attempt.address;
  info.protocol_version = attempt.protocol_version;
  info.conn_seq = next_conn_seq_++;
  info.connected_at_ms = now_ms;
  info.service = service;
  info.behaviour = slot;
  if (slot != nullptr) ++slot->live_connections;

  auto body = presence_body("connected", attempt.client_id, cert.cn, cert, attempt.address,
                            attempt.protocol_version, info.conn_seq, epoch_, now_ms);
  d.outcome = AuthOutcome::kAccepted;
  d.presence = Publication{presence_topic(cert.cn), dump(body), false};
  if (!service) last_fingerprint_[cert.cn] = cert.fingerprint;
  connections_.insert_or_assign(attempt.key, std::move(info));
  return d;
}

std::optional<Publication> Policy::on_disconnect(ConnectionKey key, std::int64_t now_ms) {
  auto it = connections_.find(key);
  if (it == connections_.end()) return std::nullopt;
  ConnectionInfo info = std::move(it->second);
  connections_.erase(it);
  if (info.behaviour != nullptr) ++info.behaviour->disconnects;
  release_slot(info);
  auto body = presence_body("disconnected", info.client_id, info.username, info.cert, info.address,
                            info.protocol_version, info.conn_seq, epoch_, now_ms);
  return Publication{presence_topic(info.username), dump(body), false};
}

bool Policy::gate_open(ConnectionKey key, std::string_view username) const {
  const std::string* fp = nullptr;
  if (const auto* c = find_connection(key); c != nullptr) {
    fp = &c->cert.fingerprint;
    if (!c->cert.ca_id.empty() && state_.auto_activate_cas.count(c->cert.ca_id) != 0 &&
        state_.registered_usernames.count(c->username) != 0) {
      return true;  // pre-authorized; the backend activates the certificate right after
    }
  } else if (auto it = last_fingerprint_.find(username); it != last_fingerprint_.end()) {
    fp = &it->second;
  }
  return fp != nullptr &&
         state_.activated_fingerprints.find(*fp) != state_.activated_fingerprints.end();
}

bool Policy::device_may_access(std::string_view cn, std::string_view topic, Access access) const {
  std::string_view rest;
  if (access == Access::kWrite) {
    if (match_device_prefix(topic, options_.telemetry_topic, cn, rest) && rest.empty()) return true;
    if (match_device_prefix(topic, options_.event_topic, cn, rest) && rest.empty()) return true;
    if (match_device_prefix(topic, options_.command_topic, cn, rest) &&
        (rest.empty() || rest == "/response")) {
      return true;
    }
    if (match_device_prefix(topic, options_.shadow_prefix, cn, rest)) {
      return rest == "/shadow/update" || rest == "/shadow/get" || rest == "/shadow/delete";
    }
    return false;
  }
  // Read, subscribe and unsubscribe share the two namespaces. For a filter the leading segments
  // are compared literally, so a wildcard there (e.g. "smartproduct/commands/+") never matches.
  if (match_device_prefix(topic, options_.command_topic, cn, rest)) return true;
  if (match_device_prefix(topic, options_.shadow_prefix, cn, rest)) {
    return rest == "/shadow" || rest.substr(0, 8) == "/shadow/";
  }
  return false;
}

AclResult Policy::check_acl(ConnectionKey key, std::string_view username, std::string_view topic,
                            Access access) {
  if (username.empty()) return AclResult::kDeny;
  // A live connection of ours carries what the checks below would compute from the username
  // (service user, valid CN) and its device's counters: one pointer-keyed lookup per message.
  const auto it = connections_.find(key);
  const ConnectionInfo* c =
      it != connections_.end() && it->second.username == username ? &it->second : nullptr;
  if (c != nullptr) {
    if (c->service) return AclResult::kDefer;
  } else {
    if (is_service_user(username)) return AclResult::kDefer;
    if (!is_valid_cn(username)) return AclResult::kDeny;
  }
  MessageCounters* b = c != nullptr && c->behaviour != nullptr ? &it->second.counters : nullptr;
  if ((options_.require_activation && !gate_open(key, username)) ||
      !device_may_access(username, topic, access)) {
    if (b != nullptr && access != Access::kRead) ++b->authorization_failures;
    return AclResult::kDeny;
  }
  if (access == Access::kRead) {
    if (b != nullptr) ++b->messages_received;
    return AclResult::kAllow;
  }
  if (access == Access::kWrite && is_quarantined(username) && !quarantine_allows(topic, username)) {
    quarantine_refusal(b, username, topic);
    return AclResult::kDeny;
  }
  return AclResult::kAllow;
}

// A quarantined device keeps its shadow (update/get/delete) and its command responses, so it can
// still report its state and acknowledge a remediation command.
bool Policy::quarantine_allows(std::string_view topic, std::string_view cn) const {
  std::string_view rest;
  if (match_device_prefix(topic, options_.shadow_prefix, cn, rest)) {
    return rest == "/shadow/update" || rest == "/shadow/get" || rest == "/shadow/delete";
  }
  return match_device_prefix(topic, options_.command_topic, cn, rest) && rest == "/response";
}

void Policy::quarantine_refusal(MessageCounters* b, std::string_view username,
                                std::string_view topic) {
  if (b != nullptr) ++b->quarantine_refusals;
  if (quarantine_logged_.find(username) != quarantine_logged_.end()) return;
  quarantine_logged_.emplace(username);
  log(LogLevel::kWarning, "quarantined device '" + std::string(username) +
                              "': refused publish to '" + std::string(topic) +
                              "' (further refusals this interval are only counted)");
}

// --- behaviour reports -----------------------------------------------------------------------

void DeviceBehaviour::reset() {
  static_cast<MessageCounters&>(*this) = MessageCounters{};
  connection_attempts = disconnects = 0;
  addresses.clear();
  if (!address_set.empty()) StringSet().swap(address_set);
}

DeviceBehaviour* Policy::behaviour_slot(std::string_view username) {
  if (options_.behaviour_interval_ms == 0) return nullptr;
  if (const auto it = behaviour_.find(username); it != behaviour_.end()) return &it->second;
  if (behaviour_.size() >= kMaxBehaviourEntries) {
    if (!behaviour_full_logged_) {
      behaviour_full_logged_ = true;
      log(LogLevel::kWarning, "behaviour counters: " + std::to_string(behaviour_.size()) +
                                  " devices in this interval, new devices are not counted");
    }
    return nullptr;
  }
  return &behaviour_.emplace(std::string(username), DeviceBehaviour{}).first->second;
}

void Policy::release_slot(ConnectionInfo& info) {
  if (info.behaviour != nullptr) {
    info.behaviour->take(info.counters);
    if (info.behaviour->live_connections > 0) --info.behaviour->live_connections;
  }
  info.behaviour = nullptr;
}

std::optional<DeviceBehaviour> Policy::behaviour(std::string_view username) const {
  const auto it = behaviour_.find(username);
  if (it == behaviour_.end()) return std::nullopt;
  DeviceBehaviour b = it->second;
  for (const auto& [key, c] : connections_) {
    if (c.behaviour != &it->second) continue;
    MessageCounters share = c.counters;
    b.take(share);
  }
  return b;
}

std::vector<Publication> Policy::behaviour_tick(std::int64_t now_ms) {
  std::vector<Publication> out;
  const auto interval = static_cast<std::int64_t>(options_.behaviour_interval_ms);
  // The quarantine refusal log throttle follows the report interval (10 s with reports off).
  const std::int64_t log_interval = interval != 0 ? interval : 10000;
  if (quarantine_log_from_ms_ == 0 || now_ms - quarantine_log_from_ms_ >= log_interval) {
    quarantine_logged_.clear();
    quarantine_log_from_ms_ = now_ms;
  }
  if (interval == 0) return out;
  if (report_from_ms_ == 0) {
    report_from_ms_ = now_ms;
    return out;
  }
  if (now_ms - report_from_ms_ < interval) return out;

  for (auto& [key, c] : connections_) {
    if (c.behaviour != nullptr) c.behaviour->take(c.counters);
  }
  std::vector<std::pair<std::string_view, const DeviceBehaviour*>> active;
  for (const auto& [id, b] : behaviour_) {
    if (b.active()) active.emplace_back(id, &b);
  }
  if (!active.empty()) {
    std::sort(active.begin(), active.end());
    ++report_seq_;
    // Written by hand: this runs on the broker's thread, and nlohmann per entry costs several
    // times as much for a large fleet.
    std::vector<std::string> entries;
    entries.reserve(active.size());
    for (const auto& [id, b] : active) {
      std::string e = "{\"id\":";
      append_json_string(e, id);
      const std::pair<const char*, std::uint64_t> numbers[] = {
          {",\"messagesSent\":", b->messages_sent},
          {",\"bytesSent\":", b->bytes_sent},
          {",\"maxMessageBytes\":", b->max_message_bytes},
          {",\"messagesReceived\":", b->messages_received},
          {",\"authorizationFailures\":", b->authorization_failures},
          {",\"quarantineRefusals\":", b->quarantine_refusals},
          {",\"connectionAttempts\":", b->connection_attempts},
          {",\"disconnects\":", b->disconnects}};
      for (const auto& [key, value] : numbers) {
        e += key;
        e += std::to_string(value);
      }
      e += ",\"addresses\":[";
      for (std::size_t i = 0; i < b->addresses.size(); ++i) {
        if (i > 0) e += ',';
        append_json_string(e, b->addresses[i]);
      }
      e += "],\"distinctAddresses\":";
      e += std::to_string(b->address_set.size());
      e += '}';
      entries.push_back(std::move(e));
    }
    // Parts: consecutive runs of entries whose payload stays below kMaxReportPartBytes. The
    // envelope (six numbers of at most 20 digits and the keys) is below 256 bytes; one entry is
    // below 4 KiB (a CN <= 128 bytes, 16 addresses).
    constexpr std::size_t kEnvelope = 256;
    std::vector<std::pair<std::size_t, std::size_t>> ranges;  // [begin, end)
    std::size_t begin = 0;
    std::size_t size = kEnvelope;
    for (std::size_t i = 0; i < entries.size(); ++i) {
      const std::size_t add = entries[i].size() + 1;
      if (i > begin && size + add >= kMaxReportPartBytes) {
        ranges.emplace_back(begin, i);
        begin = i;
        size = kEnvelope;
      }
      size += add;
    }
    ranges.emplace_back(begin, entries.size());
    for (std::size_t part = 0; part < ranges.size(); ++part) {
      std::string payload =
          "{\"epoch\":" + std::to_string(epoch_) + ",\"seq\":" + std::to_string(report_seq_) +
          ",\"fromMs\":" + std::to_string(report_from_ms_) + ",\"toMs\":" + std::to_string(now_ms) +
          ",\"part\":" + std::to_string(part) + ",\"parts\":" + std::to_string(ranges.size()) +
          ",\"devices\":[";
      for (std::size_t i = ranges[part].first; i < ranges[part].second; ++i) {
        if (i > ranges[part].first) payload += ',';
        payload += entries[i];
      }
      payload += "]}";
      out.push_back(Publication{std::string(broker::kBehaviourTopic), std::move(payload), false});
    }
  }
  // Reset; entries of devices without a live connection go (bounded memory).
  for (auto it = behaviour_.begin(); it != behaviour_.end();) {
    if (it->second.live_connections == 0) {
      it = behaviour_.erase(it);
    } else {
      it->second.reset();
      ++it;
    }
  }
  behaviour_full_logged_ = false;
  report_from_ms_ = now_ms;
  return out;
}

std::vector<std::string> Policy::kick_where(
    const std::function<bool(const ConnectionInfo&)>& pred) const {
  std::vector<std::string> ids;
  for (const auto& [key, info] : connections_) {
    if (pred(info) && !info.client_id.empty()) ids.push_back(info.client_id);
  }
  std::sort(ids.begin(), ids.end());
  return ids;
}

void Policy::replace_state(BrokerState state) { state_ = std::move(state); }

Publication Policy::broker_started(long pid) const {
  json j{{"event", "broker_started"}, {"epoch", epoch_}, {"pid", pid}};
  return Publication{std::string(kBrokerTopic), dump(j), true};
}

// --- control commands ----------------------------------------------------------------------
// One function per command, found by name in one table (the way mosquitto's own $CONTROL
// handlers are organised): a new command is a function and a table row, not another branch.

/// One command of a control message being handled.
struct Policy::ControlCommand {
  const json& args;                 // the command object
  json& response;                   // its entry in "responses"
  std::vector<std::string>& kicks;  // client ids to disconnect, for the whole message
  bool& state_changed;              // for the whole message
  bool& trust_changed;              // for the whole message

  void fail(std::string message) { response["error"] = std::move(message); }
  /// Adds the connections to kick and reports how many this command matched.
  void kick(std::vector<std::string> ids) {
    response["kicked"] = ids.size();
    for (auto& id : ids) kicks.push_back(std::move(id));
  }
};

namespace {

/// The optional fingerprint and username of revoke / unrevoke, at least one of them present.
struct RevokeTarget {
  std::optional<std::string> fingerprint;
  std::optional<std::string> username;
};

tl::expected<RevokeTarget, std::string> revoke_target(const json& cmd) {
  auto fp = opt_fingerprint(cmd);
  if (!fp) return tl::unexpected(fp.error());
  auto user = opt_string(cmd, "username");
  if (!user) return tl::unexpected(user.error());
  if (!*fp && !*user) return tl::unexpected(std::string("fingerprint or username required"));
  return RevokeTarget{std::move(*fp), std::move(*user)};
}

/// A CA named by its AKI (normalized hex) or, for CAs without one, by its issuer DN.
tl::expected<std::string, std::string> ca_key(const json& cmd) {
  auto aki = opt_string(cmd, "aki");
  if (!aki) return tl::unexpected(aki.error());
  if (!*aki) return tl::unexpected(std::string("aki required"));
  return is_hex_or_colon(**aki) ? normalize_hex(**aki) : **aki;
}

tl::expected<std::string, std::string> required_fingerprint(const json& cmd) {
  auto fp = opt_fingerprint(cmd);
  if (!fp) return tl::unexpected(fp.error());
  if (!*fp) return tl::unexpected(std::string("fingerprint required"));
  return **fp;
}

tl::expected<std::string, std::string> required_username(const json& cmd) {
  auto user = opt_string(cmd, "username");
  if (!user) return tl::unexpected(user.error());
  if (!*user || (*user)->empty()) return tl::unexpected(std::string("username required"));
  return **user;
}

}  // namespace

void Policy::control_revoke(ControlCommand& c) {
  auto target = revoke_target(c.args);
  if (!target) return c.fail(target.error());
  std::vector<std::string> kicks;
  const auto& fp = target->fingerprint;
  if (fp) {
    state_.revoked_fingerprints.insert(*fp);
    kicks = kick_where([&](const ConnectionInfo& i) { return i.cert.fingerprint == *fp; });
  }
  if (const auto& user = target->username) {
    state_.revoked_usernames.insert(*user);
    // Connections already kicked for their fingerprint are not counted twice.
    auto more = kick_where([&](const ConnectionInfo& i) {
      return i.username == *user && !(fp && i.cert.fingerprint == *fp);
    });
    kicks.insert(kicks.end(), std::make_move_iterator(more.begin()),
                 std::make_move_iterator(more.end()));
  }
  c.kick(std::move(kicks));
  c.state_changed = true;
}

void Policy::control_unrevoke(ControlCommand& c) {
  auto target = revoke_target(c.args);
  if (!target) return c.fail(target.error());
  if (target->fingerprint) state_.revoked_fingerprints.erase(*target->fingerprint);
  if (target->username) state_.revoked_usernames.erase(*target->username);
  c.state_changed = true;
}

void Policy::control_disable_ca(ControlCommand& c) {
  auto ca = ca_key(c.args);
  if (!ca) return c.fail(ca.error());
  state_.disabled_cas.insert(*ca);
  c.kick(kick_where([&](const ConnectionInfo& i) { return ca_disabled(i.cert); }));
  c.state_changed = true;
  c.trust_changed = true;
}

void Policy::control_enable_ca(ControlCommand& c) {
  auto ca = ca_key(c.args);
  if (!ca) return c.fail(ca.error());
  state_.disabled_cas.erase(*ca);
  c.state_changed = true;
  c.trust_changed = true;
}

void Policy::control_activate(ControlCommand& c) {
  auto fp = required_fingerprint(c.args);
  if (!fp) return c.fail(fp.error());
  state_.activated_fingerprints.insert(*fp);
  c.state_changed = true;
}

void Policy::control_deactivate(ControlCommand& c) {
  auto fp = required_fingerprint(c.args);
  if (!fp) return c.fail(fp.error());
  state_.activated_fingerprints.erase(*fp);
  // Service users are not gated by activation, so they keep their connection.
  c.kick(kick_where([&](const ConnectionInfo& i) {
    return i.cert.fingerprint == *fp && !is_service_user(i.username);
  }));
  c.state_changed = true;
}

void Policy::swap_state(BrokerState state, ControlCommand& c) {
  state_ = std::move(state);
  c.trust_changed = true;  // the daemon sends the whole state after every CA change
  c.kick(kick_where(
      [&](const ConnectionInfo& i) { return refusal_reason(i.cert, i.username).has_value(); }));
  c.state_changed = true;
}

void Policy::control_set_state(ControlCommand& c) {
  const json& src = c.args.contains("state") ? c.args.at("state") : c.args;
  auto st = state_from_json(src);
  if (!st) return c.fail(st.error());
  swap_state(std::move(*st), c);
}

void Policy::discard_staged(const std::string& why) {
  if (!staged_) return;
  log(LogLevel::kWarning, "state generation " + std::to_string(staged_->generation) +
                              " discarded after " + std::to_string(staged_->next) + " of " +
                              std::to_string(staged_->count) + " chunks: " + why);
  staged_.reset();
}

// A state too large for one MQTT packet comes as a generation of chunks. Chunks are staged aside
// (the live state keeps deciding meanwhile); the last one swaps the staged state in, only when
// every chunk arrived in order and the checksum of all entries matches. Anything else discards
// the generation: the daemon sees the error (or no answer) and sends a new one.
void Policy::control_state_chunk(ControlCommand& c) {
  const json& a = c.args;
  auto number = [&](const char* key) -> std::optional<std::uint64_t> {
    const auto it = a.find(key);
    if (it == a.end() || !it->is_number_unsigned()) return std::nullopt;
    return it->get<std::uint64_t>();
  };
  const auto generation = number("generation");
  const auto index = number("index");
  const auto count = number("count");
  if (!generation || !index || !count || *count == 0 || *count > broker::kMaxStateChunks ||
      *index >= *count) {
    discard_staged("malformed chunk");
    return c.fail("generation, index and count must be integers with index < count <= " +
                  std::to_string(broker::kMaxStateChunks));
  }
  c.response["generation"] = *generation;
  c.response["index"] = *index;
  if (*index == 0) {
    discard_staged("a new generation started");
    staged_.emplace();
    staged_->generation = *generation;
    staged_->count = *count;
  } else if (!staged_ || staged_->generation != *generation || staged_->count != *count ||
             staged_->next != *index) {
    const std::string why = !staged_ ? "no generation is being staged"
                                     : "expected chunk " + std::to_string(staged_->next) + " of " +
                                           std::to_string(staged_->count) + " of generation " +
                                           std::to_string(staged_->generation);
    discard_staged("out-of-order chunk");
    return c.fail("out-of-order chunk (" + why + "): generation discarded");
  }
  static const json kEmpty = json::object();
  const auto part = a.find("state");
  if (auto r = add_state(part == a.end() ? kEmpty : *part, staged_->state, &staged_->sum); !r) {
    discard_staged(r.error());
    return c.fail(r.error() + ": generation discarded");
  }
  if (++staged_->next < staged_->count) return;

  StagedState done = std::move(*staged_);
  staged_.reset();
  const auto checksum = a.find("checksum");
  const auto entries = number("entries");
  if (checksum == a.end() || !checksum->is_string() || !entries) {
    return c.fail("the last chunk must carry checksum and entries: generation discarded");
  }
  if (checksum->get_ref<const std::string&>() != done.sum.text() ||
      *entries != done.sum.entries()) {
    log(LogLevel::kWarning,
        "state generation " + std::to_string(done.generation) + " discarded: checksum mismatch");
    return c.fail("checksum mismatch (received " + std::to_string(done.sum.entries()) +
                  " entries, " + done.sum.text() + "): generation discarded");
  }
  log(LogLevel::kInfo, "state generation " + std::to_string(done.generation) + " applied (" +
                           std::to_string(done.count) + " chunks, " +
                           std::to_string(done.sum.entries()) + " entries)");
  swap_state(std::move(done.state), c);
  c.response["applied"] = true;
}

// Pre-authorization of a registered serial (see BrokerState). Unregistering does not kick: the
// backend revokes the device's certificates, which does.
void Policy::control_register_device(ControlCommand& c) {
  auto user = required_username(c.args);
  if (!user) return c.fail(user.error());
  state_.registered_usernames.insert(*user);
  c.state_changed = true;
}

void Policy::control_unregister_device(ControlCommand& c) {
  auto user = required_username(c.args);
  if (!user) return c.fail(user.error());
  state_.registered_usernames.erase(*user);
  c.state_changed = true;
}

// Quarantine (detection): the device keeps its connection and its shadow, but its other publishes
// are refused (see check_acl). No kick: a disconnect would only make it reconnect.
void Policy::control_quarantine(ControlCommand& c) {
  auto user = required_username(c.args);
  if (!user) return c.fail(user.error());
  if (is_service_user(*user)) return c.fail("service users are not quarantined");
  if (state_.quarantined_usernames.insert(*user).second) {
    log(LogLevel::kInfo, "device '" + *user + "' quarantined");
  }
  c.state_changed = true;
}

void Policy::control_release(ControlCommand& c) {
  auto user = required_username(c.args);
  if (!user) return c.fail(user.error());
  if (state_.quarantined_usernames.erase(*user) != 0) {
    log(LogLevel::kInfo, "device '" + *user + "' released from quarantine");
  }
  quarantine_logged_.erase(*user);
  c.state_changed = true;
}

// Disconnects every connection of one device (an admin's mitigation from an audit finding). It
// changes no right: a device whose certificate is still valid may connect again.
void Policy::control_kick_device(ControlCommand& c) {
  auto user = required_username(c.args);
  if (!user) return c.fail(user.error());
  if (is_service_user(*user)) return c.fail("service users are not kicked");
  c.kick(kick_where([&](const ConnectionInfo& i) { return i.username == *user; }));
}

void Policy::control_list_connected(ControlCommand& c) {
  std::vector<const ConnectionInfo*> list;
  list.reserve(connections_.size());
  for (const auto& [key, info] : connections_) list.push_back(&info);
  std::sort(list.begin(), list.end(),
            [](const auto* a, const auto* b) { return a->conn_seq < b->conn_seq; });
  json clients = json::array();
  for (const auto* i : list) {
    clients.push_back({{"clientId", i->client_id},
                       {"username", i->username},
                       {"certFingerprint", i->cert.fingerprint},
                       {"aki", i->cert.aki},
                       {"caId", i->cert.ca_id},
                       {"issuer", i->cert.issuer},
                       {"serial", i->cert.serial},
                       {"notBefore", i->cert.not_before},
                       {"notAfter", i->cert.not_after},
                       {"connSeq", i->conn_seq},
                       {"address", i->address},
                       {"protocolVersion", i->protocol_version},
                       {"connectedAtMs", i->connected_at_ms}});
  }
  c.response["clients"] = std::move(clients);
  c.response["epoch"] = epoch_;
}

Policy::ControlHandler Policy::find_control_command(std::string_view name) {
  static constexpr std::pair<std::string_view, ControlHandler> kCommands[] = {
      {"revoke", &Policy::control_revoke},
      {"unrevoke", &Policy::control_unrevoke},
      {"disableCa", &Policy::control_disable_ca},
      {"enableCa", &Policy::control_enable_ca},
      {"activate", &Policy::control_activate},
      {"deactivate", &Policy::control_deactivate},
      {"setState", &Policy::control_set_state},
      {"registerDevice", &Policy::control_register_device},
      {"unregisterDevice", &Policy::control_unregister_device},
      {"kickDevice", &Policy::control_kick_device},
      {"listConnected", &Policy::control_list_connected},
      {broker::kStateChunkCommand, &Policy::control_state_chunk},
      {"quarantine", &Policy::control_quarantine},
      {"release", &Policy::control_release},
  };
  for (const auto& [command, handler] : kCommands) {
    if (command == name) return handler;
  }
  return nullptr;
}

ControlOutcome Policy::handle_control(std::string_view requester_username,
                                      std::string_view payload) {
  ControlOutcome out;
  if (!is_service_user(requester_username)) {
    log(LogLevel::kWarning,
        "ignored control message from non-service user '" + std::string(requester_username) + "'");
    return out;
  }
  out.authorized = true;
  json responses = json::array();
  std::vector<std::string> kicks;

  auto doc = json::parse(payload.begin(), payload.end(), nullptr, false);
  if (doc.is_discarded()) {
    responses.push_back({{"command", nullptr}, {"error", "malformed JSON"}});
  } else if (!doc.is_object() || !doc.contains("commands") || !doc.at("commands").is_array()) {
    responses.push_back({{"command", nullptr}, {"error", "expected {\"commands\":[...]}"}});
  } else {
    for (const auto& cmd : doc.at("commands")) {
      json r = json::object();
      if (!cmd.is_object() || !cmd.contains("command") || !cmd.at("command").is_string()) {
        r["command"] = nullptr;
        if (cmd.is_object() && cmd.contains("id")) r["id"] = cmd.at("id");
        r["error"] = "command must be an object with a string \"command\"";
        responses.push_back(std::move(r));
        continue;
      }
      const auto& name = cmd.at("command").get_ref<const std::string&>();
      r["command"] = name;
      if (cmd.contains("id")) r["id"] = cmd.at("id");
      if (auto handler = find_control_command(name)) {
        ControlCommand c{cmd, r, kicks, out.state_changed, out.trust_changed};
        (this->*handler)(c);
      } else {
        r["error"] = "unknown command";
      }
      responses.push_back(std::move(r));
    }
  }

  // One kick per client id even when several commands matched it.
  std::sort(kicks.begin(), kicks.end());
  kicks.erase(std::unique(kicks.begin(), kicks.end()), kicks.end());
  out.kick_client_ids = std::move(kicks);
  out.response = dump(json{{"responses", std::move(responses)}});
  return out;
}

}  // namespace sp::broker_plugin
