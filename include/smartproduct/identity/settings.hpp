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
  int max_failed_logins_per_account = 10;         // per account and address
  int max_failed_logins_per_account_total = 100;  // per account, from addresses not known to it
  int max_failed_logins_per_address = 50;
  std::chrono::seconds known_address_ttl{90 * 24 * 3600};
  std::chrono::seconds failed_login_window{15 * 60};
  std::chrono::seconds token_leeway{5};  // tolerated clock skew on access-token exp/nbf/iat
  int max_code_failures_per_account = 10;
  int max_code_failures_per_address = 50;
  int max_codes_per_account = 5;
  int max_codes_per_address = 20;
  std::chrono::seconds code_limit_window{3600};
  // Unauthenticated routes (/api/auth/*, JWKS): token buckets per address (IPv6 /64) and global.
  double public_rate_per_address_per_min = 60;
  int public_burst_per_address = 30;
  double public_rate_global_per_min = 3000;
  int public_burst_global = 100;
  // Argon2id work: at most argon2_concurrency at once, argon2_queue waiting (503 beyond).
  int argon2_concurrency = 2;
  int argon2_queue = 16;
  std::chrono::milliseconds argon2_max_wait{5000};
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
