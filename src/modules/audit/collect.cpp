// Collects an audit run's snapshot: rows from the store, the broker's mosquitto.conf, acl_file and
// plugin state file, the platform's certificates and private key files. What cannot be read is
// noted in the snapshot (and the run), never taken for "no problem".

#include <fmt/format.h>
#include <openssl/pem.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include "smartproduct/audit/checks.hpp"
#include "smartproduct/audit/service.hpp"
#include "smartproduct/core/openssl_ptr.hpp"

namespace sp::audit {
namespace fs = std::filesystem;

namespace {

std::optional<std::string> read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

fs::path resolve(const fs::path& base_dir, const std::string& value) {
  fs::path p(value);
  return p.is_absolute() ? p : base_dir / p;
}

std::optional<std::int64_t> not_after_of(X509* cert) {
  const ASN1_TIME* t = X509_get0_notAfter(cert);
  struct tm tm {};
  if (!t || ASN1_TIME_to_tm(t, &tm) != 1) return std::nullopt;
  return static_cast<std::int64_t>(timegm(&tm));
}

KeyInfo key_of(X509* cert) {
  KeyInfo k;
  EVP_PKEY* key = X509_get0_pubkey(cert);
  if (!key) return k;
  switch (EVP_PKEY_get_base_id(key)) {
    case EVP_PKEY_RSA:
    case EVP_PKEY_RSA_PSS:
      k.type = "RSA";
      break;
    case EVP_PKEY_EC: {
      k.type = "EC";
      char name[80] = {0};
      std::size_t len = 0;
      if (EVP_PKEY_get_utf8_string_param(key, "group", name, sizeof(name), &len) == 1) {
        k.curve.assign(name, len);
      }
      break;
    }
    case EVP_PKEY_ED25519:
      k.type = "ED25519";
      break;
    case EVP_PKEY_ED448:
      k.type = "ED448";
      break;
    case EVP_PKEY_DSA:
      k.type = "DSA";
      break;
    default:
      k.type = "OTHER";
  }
  k.bits = EVP_PKEY_get_bits(key);
  return k;
}

using X509Owner = std::unique_ptr<X509, ossl::Deleter<X509_free>>;

X509Owner read_cert(std::string_view pem) {
  ossl::BioPtr bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio) return nullptr;
  return X509Owner{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)};
}

}  // namespace

KeyInfo certificate_key(std::string_view pem) {
  auto cert = read_cert(pem);
  return cert ? key_of(cert.get()) : KeyInfo{};
}

StoreSnapshotSource::StoreSnapshotSource(store::AuditRepository& repo, SnapshotPaths paths,
                                         const AuditSettings& settings)
    : repo_(repo), paths_(std::move(paths)), settings_(settings) {}

Result<Snapshot> StoreSnapshotSource::collect(std::int64_t now_ms) {
  Snapshot s;
  s.now_ms = now_ms;
  s.expiry_warning_days = settings_.expiry_warning_days;
  s.admin_inactive_days = settings_.admin_inactive_days;
  s.daemon_log_level = paths_.daemon_log_level;

  auto certs = repo_.device_certificates();
  if (!certs) return tl::unexpected(certs.error());
  s.device_certs = std::move(*certs);
  std::vector<std::string> ca_pems;
  auto cas = repo_.certificate_authorities(ca_pems);
  if (!cas) return tl::unexpected(cas.error());
  s.cas = std::move(*cas);
  auto admins = repo_.admin_accounts();
  if (!admins) return tl::unexpected(admins.error());
  s.admins = std::move(*admins);
  auto connections = repo_.connections_since(now_ms - s.window_ms);
  if (!connections) return tl::unexpected(connections.error());
  s.connections = std::move(*connections);

  // The broker's config and the files it names.
  fs::path capath = paths_.ca_dir;
  if (auto text = read_text(paths_.mosquitto_conf)) {
    s.broker = parse_broker_config(*text);
    s.broker.path = paths_.mosquitto_conf.string();
    const fs::path dir = paths_.mosquitto_conf.parent_path();
    if (!s.broker.capath.empty()) capath = resolve(dir, s.broker.capath);
    if (!s.broker.acl_file.empty()) {
      const auto acl = resolve(dir, s.broker.acl_file);
      s.broker.acl_file = acl.string();
      if (auto a = read_text(acl)) {
        s.broker.acl = parse_acl(*a);
        s.broker.acl_read = true;
      } else {
        s.notes.push_back("cannot read the broker's acl_file " + acl.string());
      }
    }
    if (!s.broker.state_file.empty()) {
      const auto state = resolve(dir, s.broker.state_file);
      auto st = read_text(state);
      auto j = st ? nlohmann::json::parse(*st, nullptr, false) : nlohmann::json();
      if (st && j.is_object()) {
        s.plugin.read = true;
        for (const char* key : {"revokedFingerprints", "disabledCas"}) {
          auto it = j.find(key);
          if (it == j.end() || !it->is_array()) continue;
          for (const auto& v : *it) {
            if (!v.is_string()) continue;
            (std::string_view(key) == "disabledCas" ? s.plugin.disabled_cas
                                                    : s.plugin.revoked_fingerprints)
                .insert(v.get<std::string>());
          }
        }
      } else if (!st) {
        // A broker that never changed its state has no file yet: nothing is revoked there.
        std::error_code ec;
        if (!fs::exists(state, ec) && fs::is_directory(state.parent_path(), ec)) {
          s.plugin.read = true;
        } else {
          s.notes.push_back("cannot read the broker plugin's state file " + state.string());
        }
      } else {
        s.notes.push_back("the broker plugin's state file " + state.string() + " is not JSON");
      }
    }
  } else {
    s.notes.push_back("cannot read the broker config " + paths_.mosquitto_conf.string() +
                      " (an external broker: its config is not audited)");
  }

  std::error_code ec;
  for (std::size_t i = 0; i < s.cas.size(); ++i) {
    s.cas[i].key = certificate_key(ca_pems[i]);
    s.cas[i].in_trust_dir = !capath.empty() && fs::exists(capath / (s.cas[i].id + ".pem"), ec);
  }

  for (const auto& path : paths_.platform_certs) {
    if (path.empty()) continue;
    auto text = read_text(path);
    if (!text) {
      s.notes.push_back("cannot read " + path.string());
      continue;
    }
    auto cert = read_cert(*text);
    if (!cert) {
      s.notes.push_back(path.string() + " holds no PEM certificate");
      continue;
    }
    PlatformCert pc;
    pc.path = path.string();
    pc.not_after_s = not_after_of(cert.get()).value_or(0);
    pc.is_ca = X509_check_ca(cert.get()) != 0;
    pc.key = key_of(cert.get());
    s.platform_certs.push_back(std::move(pc));
  }

  std::set<std::string> seen;
  for (const auto& dir : paths_.key_dirs) {
    if (dir.empty() || !fs::is_directory(dir, ec)) continue;
    for (const auto& entry : fs::directory_iterator(dir, ec)) {
      if (entry.path().extension() != ".key" || !entry.is_regular_file(ec)) continue;
      const std::string p = entry.path().string();
      if (!seen.insert(p).second) continue;
      struct stat st {};
      if (::stat(p.c_str(), &st) != 0) continue;
      s.key_files.push_back(KeyFile{p, static_cast<unsigned>(st.st_mode & 07777)});
    }
  }
  return s;
}

}  // namespace sp::audit
