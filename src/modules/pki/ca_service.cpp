#include "smartproduct/pki/ca_service.hpp"

#include <algorithm>
#include <cctype>
#include <system_error>

#include "smartproduct/http/errors.hpp"

namespace sp::pki {
namespace {

namespace fs = std::filesystem;

bool name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
}

bool is_hex(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isxdigit(static_cast<unsigned char>(c)) != 0;
  });
}

tl::unexpected<Error> invalid_ca(std::string message) {
  return fail(errors::kInvalidCaCertificate, std::move(message));
}

tl::unexpected<Error> not_found(std::string_view id_or_name) {
  return fail(errors::kCaNotFound,
              "No certificate authority with id or name \"" + std::string(id_or_name) + "\".");
}

// The CN of the CA as a name: invalid characters become '-', runs of them collapse, and the
// result is cut to the name limit.
std::string sanitize_name(std::string_view cn) {
  std::string out;
  for (char c : cn) {
    if (name_char(c)) {
      out += c;
    } else if (!out.empty() && out.back() != '-') {
      out += '-';
    }
  }
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > kMaxCaNameLength) out.resize(kMaxCaNameLength);
  return out;
}

// Parses one certificate (exactly one in the text) for use as a registered CA.
Result<std::pair<std::string, CertInfo>> parse_single(std::string_view pem, const char* field,
                                                      const char* error_name) {
  auto certs = split_pem_certificates(pem);
  if (!certs || certs->empty()) {
    return fail(ErrorKind::kUnprocessable, error_name,
                std::string(field) + " is not a PEM-encoded X.509 certificate.");
  }
  if (certs->size() != 1) {
    return fail(ErrorKind::kUnprocessable, error_name,
                std::string(field) + " must contain exactly one certificate.");
  }
  auto info = parse_certificate(certs->front());
  if (!info) {
    return fail(ErrorKind::kUnprocessable, error_name,
                std::string(field) + " is not a valid X.509 certificate.");
  }
  return std::pair{std::move(certs->front()), std::move(*info)};
}

}  // namespace

bool valid_ca_name(std::string_view name) {
  return !name.empty() && name.size() <= kMaxCaNameLength &&
         std::all_of(name.begin(), name.end(), name_char);
}

CaService::CaService(store::CaRepository& repo, const Clock& clock, CaServiceConfig config,
                     EventBus& bus)
    : repo_(repo), clock_(clock), config_(std::move(config)), bus_(bus) {}

fs::path CaService::managed_cert_path(std::string_view name) const {
  return config_.managed_ca_dir / (std::string(name) + ".crt");
}

fs::path CaService::managed_key_path(std::string_view name) const {
  return config_.managed_ca_dir / (std::string(name) + ".key");
}

Result<std::string> CaService::registration_code() { return repo_.registration_code(); }

Result<CertificateAuthority> CaService::register_ca(const RegisterRequest& req) {
  if (req.ca_pem.size() > kMaxCaPemBytes || req.verification_pem.size() > kMaxCaPemBytes) {
    return fail(errors::kCertificateTooLarge,
                "A certificate must not exceed " + std::to_string(kMaxCaPemBytes) + " bytes.");
  }
  if (!req.name.empty() && !valid_ca_name(req.name)) {
    return fail(errors::kInvalidCaName, "name must be 1 to 64 characters from A-Z a-z 0-9 . _ -.");
  }
  auto ca = parse_single(req.ca_pem, "caCertificate", "InvalidCaCertificate");
  if (!ca) return tl::unexpected(ca.error());
  const auto& [ca_pem, info] = *ca;
  if (!info.is_ca) {
    return invalid_ca("caCertificate is not a CA certificate (basicConstraints CA:TRUE missing).");
  }
  if (!is_hex(info.subject_key_id) || info.subject_key_id.size() > 128) {
    return invalid_ca(
        "caCertificate has no subject key identifier; device certificates could not be matched "
        "to it.");
  }
  const std::int64_t now_s = clock_.now_ms() / 1000;
  if (now_s < info.not_before) return invalid_ca("caCertificate is not valid yet.");
  if (now_s > info.not_after) return invalid_ca("caCertificate has expired.");

  // Proof of possession: the verification certificate names this instance's code and was signed
  // by the CA's key.
  auto verification = parse_single(req.verification_pem, "verificationCertificate",
                                   "InvalidVerificationCertificate");
  if (!verification) return tl::unexpected(verification.error());
  auto code = repo_.registration_code();
  if (!code) return tl::unexpected(code.error());
  if (verification->second.common_name != *code) {
    return fail(errors::kRegistrationCodeMismatch,
                "The verification certificate's common name must be the registration code "
                "(GET /api/admin/cas/registration-code).");
  }
  if (!verify_signed_by(verification->first, ca_pem)) {
    return fail(errors::kVerificationSignatureInvalid,
                "The verification certificate is not signed by the CA certificate's key.");
  }

  CertificateAuthority row;
  row.id = info.subject_key_id;
  row.subject = info.subject;
  row.issuer = info.issuer;
  row.serial = info.serial_hex;
  row.fingerprint = info.sha256_fingerprint;
  row.not_before_s = info.not_before;
  row.not_after_s = info.not_after;
  row.certificate_pem = ca_pem;
  row.status = req.set_active ? CaStatus::kActive : CaStatus::kInactive;
  row.auto_registration = req.auto_registration;
  row.managed = false;
  if (!req.name.empty()) {
    row.name = req.name;
  } else {
    // The CN if it makes a free name, else the start of the id.
    std::vector<std::string> candidates{sanitize_name(info.common_name),
                                        row.id.substr(0, std::min<std::size_t>(16, row.id.size()))};
    for (auto& c : candidates) {
      if (c.empty()) continue;
      auto taken = repo_.find_by_name(c);
      if (!taken) return tl::unexpected(taken.error());
      if (!*taken) {
        row.name = std::move(c);
        break;
      }
    }
    if (row.name.empty()) row.name = row.id.substr(0, std::min<std::size_t>(64, row.id.size()));
  }
  return store_new(std::move(row));
}

// The broker plugin finds a leaf's CA among candidates named by SKI and subject and then checks
// the signature; the daemon and the console name CAs by SKI. A second CA with the root's or another
// CA's SKI or subject would make both ambiguous, so it is refused.
Result<void> CaService::check_identifiers(const CertificateAuthority& ca) {
  if (!config_.root_ca_file.empty()) {
    auto text = read_file(config_.root_ca_file.string());
    if (!text) {
      return fail(errors::kPkiFailure, "Cannot read the platform root certificate.",
                  config_.root_ca_file.string() + ": " + text.error().message);
    }
    auto roots = split_pem_certificates(*text);
    if (!roots) return tl::unexpected(roots.error());
    for (const auto& pem : *roots) {
      auto root = parse_certificate(pem);
      if (!root) return tl::unexpected(root.error());
      if (normalize_ca_id(root->subject_key_id) == ca.id || root->subject == ca.subject) {
        return fail(errors::kCaAlreadyRegistered,
                    "The CA's subject key identifier or subject is the platform root's.");
      }
    }
  }
  auto all = repo_.list(true);
  if (!all) return tl::unexpected(all.error());
  for (const auto& other : *all) {
    if (other.id == ca.id) {
      if (other.status != CaStatus::kDeregistered) {
        return fail(errors::kCaAlreadyRegistered,
                    "This CA is already registered as \"" + other.name + "\" (id " + ca.id + ").");
      }
      // Registering a deregistered CA again is fine; another certificate taking over its id
      // (and with it the records of its devices) is not.
      if (other.fingerprint != ca.fingerprint) {
        return fail(errors::kCaAlreadyRegistered,
                    "A deregistered CA (\"" + other.name +
                        "\") had this subject key identifier; only that same certificate may be "
                        "registered again.");
      }
    } else if (other.status != CaStatus::kDeregistered && other.subject == ca.subject) {
      return fail(
          errors::kCaAlreadyRegistered,
          "The registered CA \"" + other.name + "\" has the same subject (" + ca.subject + ").");
    }
  }
  return {};
}

Result<CertificateAuthority> CaService::store_new(CertificateAuthority row) {
  if (auto r = check_identifiers(row); !r) return tl::unexpected(r.error());
  const std::int64_t now = clock_.now_ms();
  row.created_at_ms = now;
  row.updated_at_ms = now;
  if (auto r = repo_.insert(row); !r) return tl::unexpected(r.error());
  // Only ACTIVE CAs are in the capath: TLS itself refuses the devices of an INACTIVE one.
  if (row.status != CaStatus::kActive) {
    bus_.publish(CaDisabled{row.id});
    return row;
  }
  if (auto r = install(row); !r) {
    // Without its capath file the CA cannot work: do not leave it looking registered.
    row.status = CaStatus::kDeregistered;
    row.updated_at_ms = clock_.now_ms();
    (void)repo_.update(row);
    return tl::unexpected(r.error());
  }
  bus_.publish(CaEnabled{row.id});
  return row;
}

Result<void> CaService::install(const CertificateAuthority& ca) {
  std::error_code ec;
  fs::create_directories(config_.ca_dir, ec);
  if (ec) {
    return fail(errors::kCaFileWriteFailed, "Cannot install the CA certificate.",
                "create " + config_.ca_dir.string() + ": " + ec.message());
  }
  const auto file = config_.ca_dir / (ca.id + ".pem");
  if (auto r = write_cert_file(file.string(), ca.certificate_pem); !r) {
    return fail(errors::kCaFileWriteFailed, "Cannot install the CA certificate.",
                file.string() + ": " + r.error().message);
  }
  if (auto r = rehash_directory(config_.ca_dir.string()); !r) {
    return fail(errors::kCaFileWriteFailed, "Cannot install the CA certificate.",
                "rehash " + config_.ca_dir.string() + ": " + r.error().message);
  }
  return {};
}

Result<void> CaService::uninstall(const std::string& id) {
  std::error_code ec;
  const bool removed = fs::remove(config_.ca_dir / (id + ".pem"), ec);
  if (ec) {
    return fail(errors::kCaFileWriteFailed, "Cannot remove the CA certificate.", ec.message());
  }
  if (!removed) return {};  // an INACTIVE CA is not in the capath
  if (auto r = rehash_directory(config_.ca_dir.string()); !r) {
    return fail(errors::kCaFileWriteFailed, "Cannot remove the CA certificate.", r.error().message);
  }
  return {};
}

void CaService::notify(const CertificateAuthority& ca) {
  if (ca.status == CaStatus::kActive) {
    bus_.publish(CaEnabled{ca.id});
  } else {
    bus_.publish(CaDisabled{ca.id});
  }
}

Result<std::vector<CertificateAuthority>> CaService::list(bool include_deregistered) {
  return repo_.list(include_deregistered);
}

Result<CertificateAuthority> CaService::resolve(std::string_view id_or_name) {
  if (id_or_name.empty() || id_or_name.size() > 256) return not_found(id_or_name);
  const std::string id = normalize_ca_id(id_or_name);
  if (is_hex(id)) {
    auto by_id = repo_.find(id);
    if (!by_id) return tl::unexpected(by_id.error());
    if (*by_id) return std::move(**by_id);
  }
  if (valid_ca_name(id_or_name)) {
    auto by_name = repo_.find_by_name(id_or_name);
    if (!by_name) return tl::unexpected(by_name.error());
    if (*by_name) return std::move(**by_name);
  }
  return not_found(id_or_name);
}

Result<CertificateAuthority> CaService::describe(std::string_view id_or_name) {
  return resolve(id_or_name);
}

Result<CertificateAuthority> CaService::update(std::string_view id_or_name,
                                               std::optional<CaStatus> status,
                                               std::optional<bool> auto_registration) {
  if (status && *status == CaStatus::kDeregistered) {
    return fail(errors::kInvalidCaStatus,
                "status must be ACTIVE or INACTIVE (deregister with DELETE).");
  }
  auto ca = resolve(id_or_name);
  if (!ca) return ca;
  if (ca->status == CaStatus::kDeregistered) {
    return fail(errors::kCaDeregistered,
                "The CA \"" + ca->name + "\" is deregistered; register it again to use it.");
  }
  const CaStatus before = ca->status;
  const bool auto_before = ca->auto_registration;
  if (status) ca->status = *status;
  if (auto_registration) ca->auto_registration = *auto_registration;
  ca->updated_at_ms = clock_.now_ms();
  // Into the capath before the CA counts as ACTIVE; out of it as soon as it does not.
  const bool activating = before != CaStatus::kActive && ca->status == CaStatus::kActive;
  const bool deactivating = before == CaStatus::kActive && ca->status != CaStatus::kActive;
  if (activating) {
    if (auto r = install(*ca); !r) return tl::unexpected(r.error());
  }
  auto updated = repo_.update(*ca);
  if (!updated) return tl::unexpected(updated.error());
  if (!*updated) return not_found(id_or_name);
  if (deactivating) {
    if (auto r = uninstall(ca->id); !r) return tl::unexpected(r.error());
    bus_.publish(CaUntrusted{ca->id});
  }
  // Auto-registration matters to the broker too (the plugin pre-authorizes registered devices of
  // auto-registering CAs).
  if (ca->status != before || ca->auto_registration != auto_before) notify(*ca);
  return ca;
}

Result<CertificateAuthority> CaService::deregister(std::string_view id_or_name) {
  auto ca = resolve(id_or_name);
  if (!ca) return ca;
  if (ca->status == CaStatus::kDeregistered) {
    return fail(errors::kCaDeregistered, "The CA \"" + ca->name + "\" is already deregistered.");
  }
  const bool was_active = ca->status == CaStatus::kActive;
  ca->status = CaStatus::kDeregistered;
  ca->updated_at_ms = clock_.now_ms();
  auto updated = repo_.update(*ca);
  if (!updated) return tl::unexpected(updated.error());
  if (!*updated) return not_found(id_or_name);
  // Out of the capath first: the plugin re-reads it when CaDisabled makes the daemon send the
  // state. mosquitto keeps a removed capath CA it has used until restart (CaUntrusted).
  auto removed = uninstall(ca->id);
  bus_.publish(CaDisabled{ca->id});
  if (was_active) bus_.publish(CaUntrusted{ca->id});
  if (!removed) return tl::unexpected(removed.error());
  if (ca->managed) {
    // Keep the key (certificates issued with it stay verifiable) but free the name.
    std::error_code ec;
    const std::string suffix = "." + ca->id;
    for (const auto& [from, ext] :
         {std::pair{managed_key_path(ca->name), ".key"}, {managed_cert_path(ca->name), ".crt"}}) {
      if (fs::exists(from, ec)) {
        fs::rename(from, config_.managed_ca_dir / (ca->name + suffix + ext), ec);
      }
    }
  }
  return ca;
}

Result<std::int64_t> CaService::device_count(std::string_view id) {
  return repo_.device_count(normalize_ca_id(id));
}

Result<CertificateAuthority> CaService::create_managed(std::string_view name, int days) {
  if (!valid_ca_name(name)) {
    return fail(errors::kInvalidCaName, "name must be 1 to 64 characters from A-Z a-z 0-9 . _ -.");
  }
  auto taken = repo_.find_by_name(name);
  if (!taken) return tl::unexpected(taken.error());
  if (*taken) {
    return fail(errors::kCaNameTaken,
                "Another registered CA is named \"" + std::string(name) + "\".");
  }
  const auto key_path = managed_key_path(name);
  const auto cert_path = managed_cert_path(name);
  std::error_code ec;
  if (fs::exists(key_path, ec) || fs::exists(cert_path, ec)) {
    return fail(errors::kManagedCaExists,
                key_path.string() +
                    " already exists but no registered CA has this name; move it "
                    "away or choose another name.");
  }
  fs::create_directories(config_.managed_ca_dir, ec);
  if (!ec) {
    fs::permissions(config_.managed_ca_dir, fs::perms::owner_all, ec);
  }
  if (ec) {
    return fail(errors::kCaFileWriteFailed,
                "cannot create " + config_.managed_ca_dir.string() + ": " + ec.message());
  }
  // pathlen:0: the platform holds this key to issue device certificates, never sub-CAs.
  auto ck = create_device_ca(std::string(name), days);
  if (!ck) return tl::unexpected(ck.error());
  auto info = parse_certificate(ck->cert_pem);
  if (!info) return tl::unexpected(info.error());
  if (auto r = write_key_file(key_path.string(), ck->key_pem, false); !r) {
    return tl::unexpected(r.error());
  }
  if (auto r = write_cert_file(cert_path.string(), ck->cert_pem); !r) {
    fs::remove(key_path, ec);
    return tl::unexpected(r.error());
  }
  CertificateAuthority row;
  row.id = info->subject_key_id;
  row.name = std::string(name);
  row.subject = info->subject;
  row.issuer = info->issuer;
  row.serial = info->serial_hex;
  row.fingerprint = info->sha256_fingerprint;
  row.not_before_s = info->not_before;
  row.not_after_s = info->not_after;
  row.certificate_pem = ck->cert_pem;
  row.status = CaStatus::kActive;
  row.auto_registration = true;
  row.managed = true;
  auto stored = store_new(std::move(row));
  if (!stored) {
    fs::remove(key_path, ec);
    fs::remove(cert_path, ec);
  }
  return stored;
}

Result<Issuer> CaService::managed_issuer(std::string_view name) {
  auto ca = resolve(name);
  if (!ca) return tl::unexpected(ca.error());
  if (!ca->managed || ca->status == CaStatus::kDeregistered) {
    return fail(errors::kCaNotManaged,
                "The platform does not hold the key of CA \"" + ca->name +
                    "\" (only CAs made with `smartproductctl ca create` can issue here).");
  }
  auto cert = read_file(managed_cert_path(ca->name).string());
  if (!cert) return tl::unexpected(cert.error());
  auto key = read_file(managed_key_path(ca->name).string());
  if (!key) return tl::unexpected(key.error());
  auto info = parse_certificate(*cert);
  if (!info || info->sha256_fingerprint != ca->fingerprint) {
    return fail(errors::kManagedCaMismatch, managed_cert_path(ca->name).string() +
                                                " is not the registered certificate of \"" +
                                                ca->name + "\".");
  }
  if (auto r = check_key_matches(*cert, *key); !r) return tl::unexpected(r.error());
  return Issuer{std::move(*cert), std::move(*key)};
}

}  // namespace sp::pki
