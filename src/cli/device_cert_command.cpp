#include "device_cert_command.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <iostream>
#include <memory>

#include "ca_command.hpp"
#include "instance_layout.hpp"

namespace sp::cli {

namespace fs = std::filesystem;

bool is_valid_device_serial(std::string_view serial) {
  // The serial becomes a file name, a CN and part of MQTT topics: no '/', '.', '+', '#'.
  return !serial.empty() && serial.size() <= 128 &&
         std::all_of(serial.begin(), serial.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == ':' || c == '_' || c == '-';
         });
}

namespace {

// The CA to issue from: --ca, or the only managed CA.
Result<std::string> pick_ca(CaContext& ctx, const std::string& requested) {
  if (!requested.empty()) return requested;
  auto names = ctx.managed_names();
  if (!names) return tl::unexpected(names.error());
  if (names->size() == 1) return names->front();
  if (names->empty()) {
    return fail(ErrorKind::kNotFound, "ManagedCaMissing",
                "the instance has no managed CA; create one with `smartproductctl ca create --name "
                "NAME --config " +
                    ctx.config().file.string() + "`");
  }
  std::string list;
  for (const auto& n : *names) list += (list.empty() ? "" : ", ") + n;
  return fail(ErrorKind::kUnprocessable, "ManagedCaMissing",
              "several managed CAs (" + list + "): choose one with --ca NAME");
}

}  // namespace

Result<DeviceCertResult> issue_device_cert(const DeviceCertOptions& options) {
  if (!is_valid_device_serial(options.serial)) {
    return fail(ErrorKind::kUnprocessable, "SerialInvalid",
                "invalid serial number (allowed: 1..128 of A-Z a-z 0-9 : _ -)");
  }
  if (options.out_dir.empty()) {
    return fail(ErrorKind::kBadRequest, "OutDirMissing", "--out is required");
  }
  auto layout = make_layout(options.instance_dir);
  if (!layout) return tl::unexpected(layout.error());
  const fs::path config = options.config.empty() ? layout->config() : options.config;
  std::error_code ec;
  if (!fs::is_regular_file(config, ec)) {
    return fail(ErrorKind::kNotFound, "InstanceNotFound",
                "no instance configuration " + config.string() +
                    " (run `smartproductctl init --dir DIR` first, or pass --dir / --config)");
  }
  DeviceCertResult result;
  result.cert_path = options.out_dir / (options.serial + ".crt");
  if (options.csr.empty()) {
    result.key_path = options.out_dir / (options.serial + ".key");
    if (!options.force && fs::exists(fs::symlink_status(result.key_path, ec))) {
      return fail(
          ErrorKind::kConflict, "KeyExists",
          "refusing to overwrite existing key " + result.key_path.string() + " (use --force)");
    }
  }
  std::string csr_pem;
  if (!options.csr.empty()) {
    auto csr = pki::read_file(options.csr.string());
    if (!csr) return tl::unexpected(csr.error());
    csr_pem = std::move(*csr);
  }

  auto ctx = CaContext::open(config);
  if (!ctx) return tl::unexpected(ctx.error());
  auto ca_name = pick_ca(**ctx, options.ca);
  if (!ca_name) return tl::unexpected(ca_name.error());
  auto issuer = (*ctx)->service().managed_issuer(*ca_name);
  if (!issuer) return tl::unexpected(issuer.error());
  ctx->reset();  // nothing more to read: release the database before the slow part
  result.ca_name = *ca_name;

  std::string cert_pem;
  std::string key_pem;
  if (!csr_pem.empty()) {
    auto signed_pem = pki::sign_csr(*issuer, csr_pem, options.days);
    if (!signed_pem) return tl::unexpected(signed_pem.error());
    cert_pem = std::move(*signed_pem);
  } else {
    auto ck = pki::issue_client_cert(*issuer, options.serial, options.days);
    if (!ck) return tl::unexpected(ck.error());
    cert_pem = std::move(ck->cert_pem);
    key_pem = std::move(ck->key_pem);
  }
  auto info = pki::parse_certificate(cert_pem);
  if (!info) return tl::unexpected(info.error());
  if (info->common_name != options.serial) {
    return fail(ErrorKind::kUnprocessable, "CsrCommonNameMismatch",
                "the CSR's common name \"" + info->common_name + "\" is not the serial \"" +
                    options.serial + "\"");
  }
  result.info = std::move(*info);
  fs::create_directories(options.out_dir, ec);
  if (ec) {
    return fail(ErrorKind::kUnavailable, "FileWriteFailed",
                "cannot create " + options.out_dir.string() + ": " + ec.message());
  }
  if (!key_pem.empty()) {
    if (auto r = pki::write_key_file(result.key_path.string(), key_pem, options.force); !r) {
      return tl::unexpected(r.error());
    }
  }
  // Devices present their certificate followed by the CA certificate, so the broker can build the
  // chain even before the CA is in its capath.
  if (auto r = pki::write_cert_file(result.cert_path.string(), cert_pem + issuer->cert_pem); !r) {
    return tl::unexpected(r.error());
  }
  return result;
}

void add_device_cert_command(CLI::App& app) {
  auto* group = app.add_subcommand("device-cert", "Device certificates");
  group->require_subcommand(1);
  auto opts = std::make_shared<DeviceCertOptions>();
  auto* issue = group->add_subcommand(
      "issue", "Issue a device certificate from a managed CA (smartproductctl ca create)");
  issue->add_option("--serial", opts->serial, "Device serial number (becomes the CN)")->required();
  issue->add_option("--out", opts->out_dir, "Output directory for SERIAL.crt and SERIAL.key")
      ->required();
  auto where = add_instance_options(issue);
  issue->add_option("--days", opts->days, "Validity in days")
      ->default_val(kDeviceCertDefaultDays)
      ->check(CLI::Range(pki::kMinValidityDays, pki::kMaxValidityDays));
  issue->add_flag("--force", opts->force, "Replace an existing SERIAL.key");
  issue->add_option("--ca", opts->ca, "Managed CA name (default: the only managed CA)");
  issue->add_option("--csr", opts->csr,
                    "Sign this CSR (PEM; its CN must be --serial) instead of generating a key");
  issue->callback([opts, where] {
    opts->instance_dir = where->instance_dir();
    opts->config = where->config_file().string();
    auto r = issue_device_cert(*opts);
    if (!r) {
      std::cerr << "smartproductctl device-cert issue: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
    std::cout << "issued " << r->info.common_name << " by CA " << r->ca_name << " (sha256 "
              << r->info.sha256_fingerprint << ")\n  certificate chain  " << r->cert_path.string()
              << "\n";
    if (!r->key_path.empty()) std::cout << "  private key        " << r->key_path.string() << "\n";
  });
}

}  // namespace sp::cli
