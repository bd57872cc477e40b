#pragma once
// The [identity] section of smartproduct.toml as written in the file (the identity module's
// IdentityConfig is derived from it by from_config.hpp). Read by the daemon's identity module and
// by smartproductctl (user add, keys rotate), so both apply the same limits.

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <string>

namespace sp::config {
class Section;
}

namespace sp::identity {

/// The [identity] section: accounts, tokens, password hashing, code delivery.
struct IdentitySettings {
  std::string issuer = "smartproduct";
  std::string audience = "smartproduct-api";
  std::string signing_algorithm = "ES256";  // ES256 | EdDSA (new keys only)
  std::chrono::seconds access_token_ttl{900};
  std::chrono::seconds refresh_token_ttl{30 * 24 * 3600};
  uint64_t argon2_opslimit = 2;          // libsodium OPSLIMIT_INTERACTIVE
  uint64_t argon2_memlimit_kib = 65536;  // 64 MiB, MEMLIMIT_INTERACTIVE
  int min_password_length = 10;
  std::chrono::seconds verification_code_ttl{24 * 3600};
  std::chrono::seconds reset_code_ttl{15 * 60};
  int max_code_attempts = 5;
  int max_failed_logins_per_account = 10;
  int max_failed_logins_per_address = 50;
  std::chrono::seconds failed_login_window{15 * 60};
  std::filesystem::path keys_dir;  // empty: <data_dir>/keys
  std::string smtp_url;            // empty: codes are written to the daemon log (development)
  std::string smtp_from = "smartproduct <no-reply@localhost>";
  std::string smtp_username;
  std::string smtp_password;
  bool smtp_require_tls = true;  // STARTTLS required for smtp:// URLs
  std::string public_url;        // e.g. https://iot.example.com (used in email texts); may be empty
};

/// Reads and validates [identity]; an empty keys_dir becomes <data_dir>/keys. Finishes the section.
IdentitySettings read_identity_settings(config::Section& section,
                                        const std::filesystem::path& data_dir);

}  // namespace sp::identity
