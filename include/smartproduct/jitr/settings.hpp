#pragma once
// The [jitr] section of smartproduct.toml: registered device CAs and just-in-time registration.
// Read by the daemon's jitr module and by smartproductctl (ca ...).

#include <filesystem>

namespace sp::config {
class Section;
}

namespace sp::jitr {

/// [jitr]: registered device CAs and just-in-time registration of device certificates.
struct JitrSettings {
  /// true: a device certificate has topic rights only once activated (first connection of a
  /// registered device); the broker plugin must run with require_activation true.
  bool enabled = true;
  /// The broker's capath: registered device CAs are written here (hashed links maintained).
  std::filesystem::path ca_dir = "broker/device-cas";
  /// Where `smartproductctl ca create` keeps the keys of CAs the platform manages.
  std::filesystem::path managed_ca_dir = "pki/cas";
  /// Security events of one certificate and kind are recorded at most once per this interval.
  int security_event_interval_s = 600;
};

/// Reads and validates [jitr] (relative paths against the config file). Finishes the section.
JitrSettings read_jitr_settings(config::Section& section);

}  // namespace sp::jitr
