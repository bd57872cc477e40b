#include "device_cert_command.hpp"

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cctype>
#include <iostream>
#include <memory>

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

Result<DeviceCertResult> issue_device_cert(const DeviceCertOptions& options) {
  if (!is_valid_device_serial(options.serial)) {
    return fail(ErrorKind::kUnprocessable, "SerialInvalid",
                "invalid serial number (allowed: 1..128 of A-Z a-z 0-9 : _ -)");
  }
  auto layout = make_layout(options.instance_dir);
  if (!layout) return tl::unexpected(layout.error());
  auto ca_cert = pki::read_file(layout->dev_device_ca_cert().string());
  auto ca_key = pki::read_file(layout->dev_device_ca_key().string());
  if (!ca_cert || !ca_key) {
    return fail(ErrorKind::kNotFound, "DeviceCaNotFound",
                "no development device CA in " + layout->pki().string() +
                    " (run `smartproductctl init --dir " + layout->dir.string() +
                    "` first, or pass --dir)");
  }
  if (options.out_dir.empty()) {
    return fail(ErrorKind::kBadRequest, "OutDirMissing", "--out is required");
  }
  std::error_code ec;
  fs::create_directories(options.out_dir, ec);
  if (ec) {
    return fail(ErrorKind::kUnavailable, "FileWriteFailed",
                "cannot create " + options.out_dir.string() + ": " + ec.message());
  }
  DeviceCertResult result;
  result.cert_path = options.out_dir / (options.serial + ".crt");
  result.key_path = options.out_dir / (options.serial + ".key");
  if (!options.force && fs::exists(fs::symlink_status(result.key_path, ec))) {
    return fail(
        ErrorKind::kConflict, "KeyExists",
        "refusing to overwrite existing key " + result.key_path.string() + " (use --force)");
  }
  auto ck = pki::issue_client_cert({*ca_cert, *ca_key}, options.serial, options.days);
  if (!ck) return tl::unexpected(ck.error());
  auto info = pki::parse_certificate(ck->cert_pem);
  if (!info) return tl::unexpected(info.error());
  result.info = std::move(*info);
  if (auto r = pki::write_key_file(result.key_path.string(), ck->key_pem, options.force); !r) {
    return tl::unexpected(r.error());
  }
  // Devices present their certificate followed by the device CA, so the broker can build the
  // chain up to the root even when the CA is not in its capath.
  auto chain = pki::split_pem_certificates(*ca_cert);
  if (!chain) return tl::unexpected(chain.error());
  if (auto r = pki::write_cert_file(result.cert_path.string(), ck->cert_pem + chain->front()); !r) {
    return tl::unexpected(r.error());
  }
  return result;
}

void add_device_cert_command(CLI::App& app) {
  auto* group = app.add_subcommand("device-cert", "Device certificates");
  group->require_subcommand(1);
  auto opts = std::make_shared<DeviceCertOptions>();
  auto dir = std::make_shared<std::string>();
  auto config = std::make_shared<std::string>();
  auto* issue = group->add_subcommand(
      "issue", "Issue a device certificate from the instance's development device CA");
  issue->add_option("--serial", opts->serial, "Device serial number (becomes the CN)")->required();
  issue->add_option("--out", opts->out_dir, "Output directory for SERIAL.crt and SERIAL.key")
      ->required();
  issue->add_option("--dir", *dir,
                    "Instance directory (default: dir of --config, $SP_INSTANCE_DIR, or .)");
  issue->add_option("--config", *config, "The instance's smartproduct.toml (alternative to --dir)");
  issue->add_option("--days", opts->days, "Validity in days")
      ->default_val(kDeviceCertDefaultDays)
      ->check(CLI::Range(pki::kMinValidityDays, pki::kMaxValidityDays));
  issue->add_flag("--force", opts->force, "Replace an existing SERIAL.key");
  issue->callback([opts, dir, config] {
    opts->instance_dir = resolve_instance_dir(*dir, *config);
    auto r = issue_device_cert(*opts);
    if (!r) {
      std::cerr << "smartproductctl device-cert issue: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
    std::cout << "issued " << r->info.common_name << " (sha256 " << r->info.sha256_fingerprint
              << ")\n  certificate chain  " << r->cert_path.string() << "\n  private key        "
              << r->key_path.string() << "\n";
  });
}

}  // namespace sp::cli
