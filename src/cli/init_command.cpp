#include "init_command.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <toml++/toml.h>
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <sstream>

#include "embedded_files.hpp"
#include "smartproduct/pki/pki.hpp"
#include "text_template.hpp"

namespace sp::cli {
namespace {

namespace fs = std::filesystem;

constexpr const char* kRootCn = "smartproduct platform root CA";
constexpr const char* kBackendCn = "svc-backend";
constexpr const char* kPluginFile = "mosquitto_smartproduct.so";
constexpr const char* kMosquittoUser = "mosquitto";

class Init {
 public:
  Init(const InitOptions& opt, InitReport& rep) : opt_(opt), rep_(rep), l_(rep.layout) {}

  Result<void> run();

 private:
  std::string rel(const fs::path& p) const {
    auto r = p.lexically_relative(l_.dir);
    return r.empty() || *r.begin() == ".." ? p.string() : r.string();
  }
  /// How smartproduct.toml names an instance path: relative to the config file's directory when
  /// the instance is one directory (movable as a whole), absolute with --data-dir.
  std::string toml_path(const fs::path& p) const {
    return toml_string(l_.config_dir.empty() ? rel(p) : p.string());
  }

  Result<void> make_dir(const fs::path& p, fs::perms perms);
  Result<void> collect_server_names();
  Result<pki::CertAndKey> ensure_pair(
      const fs::path& cert_path, const fs::path& key_path,
      const std::function<Result<pki::CertAndKey>(const std::string& key_pem)>& issue,
      const std::string* issuer_cert_pem, const std::string& chain_suffix,
      const std::function<std::string(const pki::CertInfo&)>& extra_check);
  Result<void> sync_file(const fs::path& path, const std::string& content, unsigned mode);
  Result<void> write_config(const fs::path& path, const std::string& content, unsigned mode);
  Result<void> install_plugin();
  Result<std::string> render_mosquitto_conf(bool privileged, const std::string& root_cert_pem);
  Result<std::string> render_toml();
  Result<void> privileged_setup();
  Result<void> give_to_service_user();

  const InitOptions& opt_;
  InitReport& rep_;
  const InstanceLayout& l_;
  std::vector<std::string> dns_names_;
  std::vector<std::string> ip_addresses_;
};

Result<void> io_error(const std::string& what, const fs::path& p, const std::error_code& ec) {
  return fail(ErrorKind::kUnavailable, "FileWriteFailed",
              what + " " + p.string() + ": " + ec.message());
}

Result<void> Init::make_dir(const fs::path& p, fs::perms perms) {
  std::error_code ec;
  if (fs::is_directory(p, ec)) return {};
  if (!fs::create_directories(p, ec) || ec) return io_error("cannot create", p, ec);
  fs::permissions(p, perms, ec);
  if (ec) return io_error("cannot set permissions of", p, ec);
  if (p != l_.dir) rep_.created.push_back(rel(p) + "/");
  return {};
}

Result<void> Init::collect_server_names() {
  dns_names_ = {"localhost"};
  ip_addresses_ = {"127.0.0.1", "::1"};
  std::string host = opt_.hostname;
  const bool explicit_host = !host.empty();
  if (!explicit_host) {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) == 0) host = buf;
  }
  if (host.empty()) return {};
  unsigned char addr[16];
  if (::inet_pton(AF_INET, host.c_str(), addr) == 1 ||
      ::inet_pton(AF_INET6, host.c_str(), addr) == 1) {
    if (std::find(ip_addresses_.begin(), ip_addresses_.end(), host) == ip_addresses_.end()) {
      ip_addresses_.push_back(host);
    }
    return {};
  }
  if (std::find(dns_names_.begin(), dns_names_.end(), host) != dns_names_.end()) return {};
  if (!pki::is_valid_dns_name(host)) {
    if (explicit_host) {
      return fail(ErrorKind::kUnprocessable, "HostnameInvalid", "invalid --hostname: " + host);
    }
    rep_.warnings.push_back("host name '" + host +
                            "' is not a valid DNS name; server certificates cover only localhost");
    return {};
  }
  dns_names_.push_back(host);
  return {};
}

Result<pki::CertAndKey> Init::ensure_pair(
    const fs::path& cert_path, const fs::path& key_path,
    const std::function<Result<pki::CertAndKey>(const std::string& key_pem)>& issue,
    const std::string* issuer_cert_pem, const std::string& chain_suffix,
    const std::function<std::string(const pki::CertInfo&)>& extra_check) {
  std::error_code ec;
  const bool key_exists = fs::exists(fs::symlink_status(key_path, ec));
  const bool cert_exists = fs::exists(fs::symlink_status(cert_path, ec));

  auto write_cert = [&](const pki::CertAndKey& ck) -> Result<void> {
    return pki::write_cert_file(cert_path.string(), ck.cert_pem + chain_suffix);
  };

  if (opt_.force || (!key_exists && !cert_exists)) {
    auto ck = issue("");
    if (!ck) return tl::unexpected(ck.error());
    if (auto r = pki::write_key_file(key_path.string(), ck->key_pem, opt_.force); !r) {
      return tl::unexpected(r.error());
    }
    if (auto r = write_cert(*ck); !r) return tl::unexpected(r.error());
    auto& list = key_exists ? rep_.updated : rep_.created;
    list.push_back(rel(key_path) + (key_exists ? " (--force)" : ""));
    list.push_back(rel(cert_path) + (key_exists ? " (--force)" : ""));
    return ck;
  }
  if (!key_exists) {
    return fail(ErrorKind::kConflict, "KeyMissing",
                cert_path.string() + " exists but its key " + key_path.string() +
                    " is missing; restore the key or re-run with --force");
  }
  auto key = pki::read_file(key_path.string());
  if (!key) return tl::unexpected(key.error());

  std::string reason = "certificate missing";
  if (cert_exists) {
    auto text = pki::read_file(cert_path.string());
    if (!text) return tl::unexpected(text.error());
    auto certs = pki::split_pem_certificates(*text);
    if (!certs) {
      return fail(ErrorKind::kUnprocessable, "CertificateInvalid",
                  cert_path.string() + " holds no certificate; remove it or re-run with --force");
    }
    const std::string& leaf = certs->front();
    if (!pki::check_key_matches(leaf, *key)) {
      return fail(ErrorKind::kConflict, "KeyMismatch",
                  key_path.string() + " does not belong to " + cert_path.string() +
                      "; re-run with --force to regenerate both");
    }
    auto info = pki::parse_certificate(leaf);
    if (!info) return tl::unexpected(info.error());
    reason.clear();
    if (!pki::verify_signed_by(leaf, issuer_cert_pem ? *issuer_cert_pem : leaf)) {
      reason = "issuer changed";
    } else if (info->not_after <= static_cast<std::int64_t>(std::time(nullptr))) {
      reason = "expired";
    } else if (extra_check) {
      reason = extra_check(*info);
    }
    if (reason.empty()) {
      std::string expected = leaf + chain_suffix;
      if (*text != expected) {
        // Same certificate, stale chain part (e.g. after a root re-issue with the same key).
        if (auto r = pki::write_cert_file(cert_path.string(), expected); !r) {
          return tl::unexpected(r.error());
        }
        rep_.updated.push_back(rel(cert_path) + " (chain refreshed)");
      } else {
        rep_.kept.push_back(rel(key_path));
        rep_.kept.push_back(rel(cert_path));
      }
      return pki::CertAndKey{leaf, *key};
    }
  }
  auto ck = issue(*key);
  if (!ck) return tl::unexpected(ck.error());
  if (auto r = write_cert(*ck); !r) return tl::unexpected(r.error());
  rep_.kept.push_back(rel(key_path));
  (cert_exists ? rep_.updated : rep_.created)
      .push_back(rel(cert_path) + (cert_exists ? " (re-issued: " + reason + ")" : ""));
  return ck;
}

Result<void> Init::sync_file(const fs::path& path, const std::string& content, unsigned mode) {
  auto existing = pki::read_file(path.string());
  if (existing && *existing == content) {
    rep_.kept.push_back(rel(path));
    return {};
  }
  if (auto r = pki::write_file_atomic(path.string(), content, mode, pki::Overwrite::kAllow); !r) {
    return r;
  }
  (existing ? rep_.updated : rep_.created).push_back(rel(path));
  return {};
}

Result<void> Init::write_config(const fs::path& path, const std::string& content, unsigned mode) {
  auto existing = pki::read_file(path.string());
  if (existing && !opt_.force) {
    rep_.kept.push_back(rel(path));
    if (*existing != content) {
      rep_.warnings.push_back(rel(path) +
                              " was kept but differs from what init generates now "
                              "(re-run with --force to regenerate everything)");
    }
    return {};
  }
  if (auto r = pki::write_file_atomic(path.string(), content, mode, pki::Overwrite::kAllow); !r) {
    return r;
  }
  (existing ? rep_.updated : rep_.created).push_back(rel(path) + (existing ? " (--force)" : ""));
  return {};
}

Result<void> Init::install_plugin() {
  fs::path source;
  if (!opt_.plugin.empty()) {
    source = opt_.plugin;
    std::error_code ec;
    if (!fs::is_regular_file(source, ec)) {
      return fail(ErrorKind::kNotFound, "PluginNotFound", "plugin not found: " + opt_.plugin);
    }
  } else {
    fs::path dir = opt_.exe_dir;
    std::error_code ec;
    if (dir.empty()) dir = fs::read_symlink("/proc/self/exe", ec).parent_path();
    // Next to the program (build/bin), else where the package puts it (/usr/lib/smartproduct).
    for (const fs::path& candidate :
         {dir / kPluginFile, dir.parent_path() / "lib" / "smartproduct" / kPluginFile}) {
      if (!dir.empty() && fs::is_regular_file(candidate, ec)) {
        source = candidate;
        break;
      }
    }
  }
  std::error_code ec;
  if (source.empty()) {
    if (fs::is_regular_file(l_.plugin(), ec)) {
      rep_.kept.push_back(rel(l_.plugin()));
      rep_.plugin_enabled = true;
      return {};
    }
    rep_.warnings.push_back(
        "broker plugin mosquitto_smartproduct.so not found next to smartproductctl: the plugin "
        "lines in broker/mosquitto.conf are commented out and the broker will refuse every "
        "client; build it and re-run init with --plugin PATH --force");
    return {};
  }
  // The .so can exceed read_file's PEM limit: read it as a stream.
  std::ifstream in(source, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in.good() && !in.eof()) {
    return fail(ErrorKind::kUnavailable, "PluginReadFailed", "cannot read " + source.string());
  }
  std::ifstream old_in(l_.plugin(), std::ios::binary);
  const bool existed = old_in.good();
  if (existed) {
    std::string old((std::istreambuf_iterator<char>(old_in)), std::istreambuf_iterator<char>());
    if (old == bytes) {
      rep_.kept.push_back(rel(l_.plugin()));
      rep_.plugin_enabled = true;
      return {};
    }
  }
  // A new file renamed over the old name: a running broker keeps its mapping of the old inode.
  // Overwriting a loaded .so in place crashed mosquitto (DESIGN.md §5).
  if (auto r = pki::write_file_atomic(l_.plugin().string(), bytes, 0755, pki::Overwrite::kAllow);
      !r) {
    return r;
  }
  (existed ? rep_.updated : rep_.created).push_back(rel(l_.plugin()));
  rep_.plugin_enabled = true;
  return {};
}

Result<std::string> Init::render_mosquitto_conf(bool privileged, const std::string& root_cert_pem) {
  auto root_info = pki::parse_certificate(root_cert_pem);
  if (!root_info) return tl::unexpected(root_info.error());
  auto slash = [](const fs::path& p) { return p.string() + "/"; };
  std::map<std::string, std::string> values{
      {"USER_LINE",
       privileged ? "user mosquitto" : "# (no `user` line: not started as root, nothing to drop)"},
      {"PERSISTENCE_DIR", slash(l_.persistence())},
      {"MQTT_PORT", std::to_string(opt_.mqtt_port)},
      {"CAFILE", l_.broker_cafile().string()},
      {"CAPATH", slash(l_.device_cas())},
      {"CERTFILE", l_.broker_cert().string()},
      {"KEYFILE", l_.broker_key().string()},
      {"PLUGIN_COMMENT", rep_.plugin_enabled ? "" : "#"},
      {"PLUGIN_PATH", l_.plugin().string()},
      {"STATE_FILE", l_.broker_state().string()},
      {"SPOOL_DIR", (l_.broker() / "spool").string()},
      {"ACL_FILE", l_.services_acl().string()},
      {"REQUIRE_ACTIVATION", opt_.jitr ? "true" : "false"},
  };
  return render_template(embedded_file("mosquitto.conf.in"), values);
}

Result<std::string> Init::render_toml() {
  std::string toml(embedded_file("smartproduct.toml"));
  // Paths stay relative (the daemon resolves them against the config file's directory, so the
  // instance can be moved as a whole), unless the data lives apart from the config (--data-dir).
  const std::vector<std::tuple<const char*, const char*, std::string>> settings{
      {"http", "port", std::to_string(opt_.http_port)},
      {"http", "cert", toml_path(l_.https_cert())},
      {"http", "key", toml_path(l_.https_key())},
      {"broker", "port", std::to_string(opt_.mqtt_port)},
      {"broker", "ca_file", toml_path(l_.root_ca_cert())},
      {"broker", "cert", toml_path(l_.backend_cert())},
      {"broker", "key", toml_path(l_.backend_key())},
      {"broker", "mosquitto_conf", toml_path(l_.mosquitto_conf())},
      {"storage", "data_dir", toml_path(l_.data())},
      {"jitr", "enabled", opt_.jitr ? "true" : "false"},
      {"jitr", "ca_dir", toml_path(l_.device_cas())},
      {"jitr", "managed_ca_dir", toml_path(l_.pki() / "cas")},
  };
  for (const auto& [section, key, value] : settings) {
    if (!set_toml_value(toml, section, key, value)) {
      rep_.warnings.push_back(std::string("smartproduct.toml template has no ") + section + "." +
                              key + "; left as is");
    }
  }
  try {
    (void)toml::parse(toml);
  } catch (const toml::parse_error& e) {
    return fail(
        ErrorKind::kInternal, "TemplateInvalid",
        std::string("generated smartproduct.toml does not parse: ") + std::string(e.description()));
  }
  return toml;
}

Result<void> chown_one(const fs::path& p, uid_t uid, gid_t gid) {
  if (::lchown(p.c_str(), uid, gid) != 0) {
    return fail(ErrorKind::kUnavailable, "ChownFailed",
                "cannot chown " + p.string() + ": " + std::strerror(errno));
  }
  return {};
}

// `root` and everything below it (links themselves, never their targets).
Result<void> chown_tree(const fs::path& root, uid_t uid, gid_t gid) {
  if (auto r = chown_one(root, uid, gid); !r) return r;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(root, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (auto r = chown_one(it->path(), uid, gid); !r) return r;
  }
  if (ec) return io_error("cannot walk", root, ec);
  return {};
}

Result<void> give_broker_files_to_mosquitto(const InstanceLayout& layout,
                                            std::vector<std::string>& warnings) {
  const passwd* pw = ::getpwnam(kMosquittoUser);
  if (pw == nullptr) return {};
  if (auto r = chown_tree(layout.broker(), pw->pw_uid, pw->pw_gid); !r) return r;
  // mosquitto, after dropping to its user, must traverse DIR to reach DIR/broker.
  for (const fs::path& p : {layout.dir, layout.broker()}) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0 &&
        ::chmod(p.c_str(), (st.st_mode & 07777) | S_IXOTH) != 0) {
      return fail(ErrorKind::kUnavailable, "ChmodFailed",
                  "cannot chmod o+x " + p.string() + ": " + std::strerror(errno));
    }
  }
  for (fs::path p = layout.dir.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (::stat(p.c_str(), &st) == 0 && (st.st_mode & S_IXOTH) == 0) {
      warnings.push_back(p.string() +
                         " is not traversable by others: mosquitto (user mosquitto) cannot "
                         "reach the broker files; use another --dir or chmod o+x " +
                         p.string());
    }
    if (p == p.root_path()) break;
  }
  return {};
}

// The packaged service: the daemon runs as a system user and starts mosquitto itself (managed
// mode), so mosquitto runs as that user too and needs no `user` line; the user owns the whole data
// directory, and reads smartproduct.toml (root-owned, group-readable: it may hold secrets).
Result<void> Init::give_to_service_user() {
  const passwd* pw = ::getpwnam(opt_.service_user.c_str());
  if (pw == nullptr) {
    return fail(ErrorKind::kNotFound, "UserNotFound", "no such user: " + opt_.service_user);
  }
  if (auto r = chown_tree(l_.dir, pw->pw_uid, pw->pw_gid); !r) return r;
  // The instance directory: the service user only (the unit's StateDirectoryMode=0750).
  if (::chmod(l_.dir.c_str(), 0750) != 0) {
    return fail(ErrorKind::kUnavailable, "ChmodFailed",
                "cannot chmod " + l_.dir.string() + ": " + std::strerror(errno));
  }
  if (auto r = chown_one(l_.config(), 0, pw->pw_gid); !r) return r;
  if (::chmod(l_.config().c_str(), 0640) != 0) {
    return fail(ErrorKind::kUnavailable, "ChmodFailed",
                "cannot chmod " + l_.config().string() + ": " + std::strerror(errno));
  }
  return {};
}

Result<void> Init::privileged_setup() {
  if (::getpwnam(kMosquittoUser) == nullptr) return {};
  if (auto r = give_broker_files_to_mosquitto(l_, rep_.warnings); !r) return r;
  rep_.privileged_setup = true;
  return {};
}

Result<void> Init::run() {
  if (!l_.config_dir.empty()) {
    std::error_code ec;
    if (!fs::is_directory(l_.config_dir, ec) &&
        (!fs::create_directories(l_.config_dir, ec) || ec)) {
      return io_error("cannot create", l_.config_dir, ec);
    }
  }
  if (auto r =
          make_dir(l_.dir, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                               fs::perms::others_read | fs::perms::others_exec);
      !r) {
    return r;
  }
  const auto dir_perms = fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                         fs::perms::others_read | fs::perms::others_exec;
  // pki/ holds the platform's private keys: owner only.
  for (auto [p, perms] : {std::pair{l_.pki(), fs::perms::owner_all},
                          {l_.broker(), dir_perms},
                          {l_.device_cas(), dir_perms},
                          {l_.persistence(), dir_perms},
                          // The ingest spool: written by the broker, read and pruned by the daemon.
                          {l_.broker() / "spool", fs::perms::owner_all | fs::perms::group_all},
                          {l_.data(), fs::perms::owner_all},
                          {l_.log(), dir_perms}}) {
    if (auto r = make_dir(p, perms); !r) return r;
  }
  if (auto r = collect_server_names(); !r) return r;

  auto root = ensure_pair(l_.root_ca_cert(), l_.root_ca_key(),
                          [](const std::string& key) {
                            pki::CertRequest req;
                            req.profile = pki::Profile::kRootCa;
                            req.common_name = kRootCn;
                            req.organization = "smartproduct";
                            req.days = kCaValidityDays;
                            req.key_pem = key;
                            return pki::issue_certificate(req, nullptr);
                          },
                          nullptr, "", {});
  if (!root) return tl::unexpected(root.error());
  const pki::Issuer root_issuer{root->cert_pem, root->key_pem};

  auto issue_with = [&root_issuer](pki::Profile profile, std::string cn,
                                   std::vector<std::string> dns, std::vector<std::string> ips,
                                   int days) {
    return [=, &root_issuer](const std::string& key) {
      pki::CertRequest req;
      req.profile = profile;
      req.common_name = cn;
      if (profile == pki::Profile::kIntermediateCa) req.organization = "smartproduct";
      req.dns_names = dns;
      req.ip_addresses = ips;
      req.days = days;
      req.key_pem = key;
      return pki::issue_certificate(req, &root_issuer);
    };
  };
  auto sans_check = [this](const pki::CertInfo& info) -> std::string {
    for (const auto& d : dns_names_) {
      if (std::find(info.dns_names.begin(), info.dns_names.end(), d) == info.dns_names.end()) {
        return "missing DNS name " + d;
      }
    }
    for (const auto& ip : ip_addresses_) {
      if (std::find(info.ip_addresses.begin(), info.ip_addresses.end(), ip) ==
          info.ip_addresses.end()) {
        return "missing IP address " + ip;
      }
    }
    return {};
  };

  auto https = ensure_pair(l_.https_cert(), l_.https_key(),
                           issue_with(pki::Profile::kServer, "smartproduct https", dns_names_,
                                      ip_addresses_, kLeafValidityDays),
                           &root->cert_pem, root->cert_pem, sans_check);
  if (!https) return tl::unexpected(https.error());
  auto backend =
      ensure_pair(l_.backend_cert(), l_.backend_key(),
                  issue_with(pki::Profile::kClient, kBackendCn, {}, {}, kLeafValidityDays),
                  &root->cert_pem, root->cert_pem, [](const pki::CertInfo& info) {
                    return info.common_name == kBackendCn ? std::string() : std::string("wrong CN");
                  });
  if (!backend) return tl::unexpected(backend.error());

  // Broker side.
  auto broker = ensure_pair(l_.broker_cert(), l_.broker_key(),
                            issue_with(pki::Profile::kServer, "smartproduct broker", dns_names_,
                                       ip_addresses_, kLeafValidityDays),
                            &root->cert_pem, root->cert_pem, sans_check);
  if (!broker) return tl::unexpected(broker.error());
  if (auto r = sync_file(l_.broker_cafile(), root->cert_pem, 0644); !r) return r;
  // Device CAs are registered (`smartproductctl ca create|register`), not made by init.
  if (std::error_code ec; fs::exists(l_.device_cas() / "dev-device-ca.crt", ec)) {
    rep_.warnings.push_back(
        "broker/device-cas/dev-device-ca.crt (the former development device CA) is still trusted "
        "by the broker but unknown to the platform; remove it and create a CA with "
        "`smartproductctl ca create --name NAME --dir " +
        l_.dir.string() + "`");
  }
  if (auto r = pki::rehash_directory(l_.device_cas().string()); !r) {
    return tl::unexpected(r.error());
  }
  // The state file holds revocations: never reset it, not even with --force.
  if (auto existing = pki::read_file(l_.broker_state().string()); existing) {
    rep_.kept.push_back(rel(l_.broker_state()));
  } else if (auto r = pki::write_file_atomic(l_.broker_state().string(), "{}\n", 0644,
                                             pki::Overwrite::kNever);
             !r) {
    return r;
  } else {
    rep_.created.push_back(rel(l_.broker_state()));
  }
  if (auto r = write_config(l_.services_acl(), std::string(embedded_file("services.acl.in")), 0644);
      !r) {
    return r;
  }
  if (auto r = install_plugin(); !r) return r;

  if (!opt_.service_user.empty() && ::geteuid() != 0) {
    return fail(ErrorKind::kForbidden, "NotRoot", "--user needs root (it changes owners)");
  }
  const bool privileged =
      opt_.service_user.empty() && ::geteuid() == 0 && ::getpwnam(kMosquittoUser) != nullptr;
  auto conf = render_mosquitto_conf(privileged, root->cert_pem);
  if (!conf) return tl::unexpected(conf.error());
  if (auto r = write_config(l_.mosquitto_conf(), *conf, 0644); !r) return r;
  if (!rep_.plugin_enabled) {
    // An old config may load a plugin that is no longer there, or a new one may be available.
  } else if (auto existing = pki::read_file(l_.mosquitto_conf().string());
             existing && existing->find("\n#plugin ") != std::string::npos) {
    rep_.warnings.push_back(
        "broker/mosquitto.conf has the plugin commented out although the plugin is installed; "
        "re-run with --force to regenerate it");
  }

  auto toml = render_toml();
  if (!toml) return tl::unexpected(toml.error());
  if (auto r = write_config(l_.config(), *toml, 0644); !r) return r;

  if (!opt_.service_user.empty()) return give_to_service_user();
  if (privileged) return privileged_setup();
  return {};
}

}  // namespace

Result<InitReport> run_init(const InitOptions& options) {
  if (options.http_port < 1 || options.http_port > 65535 || options.mqtt_port < 1 ||
      options.mqtt_port > 65535) {
    return fail(ErrorKind::kUnprocessable, "PortInvalid", "ports must be between 1 and 65535");
  }
  if (options.http_port == options.mqtt_port) {
    return fail(ErrorKind::kUnprocessable, "PortInvalid", "HTTP and MQTT ports must differ");
  }
  auto layout = make_layout(options.data_dir.empty() ? options.dir : options.data_dir);
  if (!layout) return tl::unexpected(layout.error());
  if (!options.data_dir.empty()) {
    auto config_layout = make_layout(options.dir);
    if (!config_layout) return tl::unexpected(config_layout.error());
    if (config_layout->dir != layout->dir) layout->config_dir = config_layout->dir;
  }
  InitReport report;
  report.layout = *layout;
  Init init(options, report);
  if (auto r = init.run(); !r) return tl::unexpected(r.error());
  return report;
}

void print_init_report(const InitReport& report, std::ostream& out) {
  out << "smartproduct instance in " << report.layout.dir.string() << "\n";
  for (const auto& c : report.created) out << "  created  " << c << "\n";
  for (const auto& u : report.updated) out << "  updated  " << u << "\n";
  for (const auto& k : report.kept) out << "  kept     " << k << "\n";
  for (const auto& w : report.warnings) out << "warning: " << w << "\n";
  if (report.privileged_setup) {
    out << "broker files are owned by user mosquitto (the broker drops privileges to it)\n";
  }
  out << "Broker:  /usr/sbin/mosquitto -c " << report.layout.mosquitto_conf().string()
      << "   (or let the daemon manage it)\n";
  out << "Device CA: smartproductctl ca create --name NAME --dir " << report.layout.dir.string()
      << "   (or register your own: smartproductctl ca register)\n";
  out << "Next:    smartproductd --config " << report.layout.config().string() << "\n";
}

void add_init_command(CLI::App& app) {
  auto opts = std::make_shared<InitOptions>();
  auto* cmd = app.add_subcommand("init", "Create a development instance (PKI, broker, config)");
  cmd->add_option("--dir", opts->dir, "Instance directory (created if needed; required)");
  cmd->add_option("--data-dir", opts->data_dir,
                  "Keep PKI, broker files, data and logs here and only smartproduct.toml in --dir; "
                  "the config then names them by absolute paths (e.g. --dir /etc/smartproduct "
                  "--data-dir /var/lib/smartproduct)");
  cmd->add_option("--user", opts->service_user,
                  "System user the daemon and its managed broker run as (root only): owns the "
                  "data directory; smartproduct.toml becomes root:<group> 0640");
  cmd->add_option("--http-port", opts->http_port, "HTTPS port of the daemon")
      ->default_val(8443)
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--mqtt-port", opts->mqtt_port, "MQTT/TLS port of the broker")
      ->default_val(8883)
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--hostname", opts->hostname,
                  "Extra DNS name/IP for the server certificates (default: this host's name)");
  cmd->add_option("--plugin", opts->plugin,
                  "Broker plugin to install (default: mosquitto_smartproduct.so next to this "
                  "program)");
  cmd->add_flag("--force", opts->force,
                "Regenerate keys, certificates and configs (broker/state.json is kept)");
  cmd->add_option_function<std::string>(
         "--jitr", [opts](const std::string& v) { opts->jitr = v == "on"; },
         "Just-in-time registration: on (default) = a device certificate needs activation (its "
         "serial registered by a user) before it has topic rights; off = any certificate from a "
         "registered, active CA may publish as its CN")
      ->check(CLI::IsMember({"on", "off"}))
      ->default_str("on");
  cmd->callback([opts] {
    if (opts->dir.empty()) opts->dir = root_instance_options().dir;
    if (opts->dir.empty()) {
      std::cerr << "smartproductctl init: error: --dir DIR is required (the instance to create)\n";
      throw CLI::RuntimeError(2);
    }
    auto report = run_init(*opts);
    if (!report) {
      std::cerr << "smartproductctl init: error: " << report.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
    print_init_report(*report, std::cout);
  });
}

Result<void> grant_broker_access(const InstanceLayout& layout, std::vector<std::string>& warnings) {
  return give_broker_files_to_mosquitto(layout, warnings);
}

}  // namespace sp::cli
