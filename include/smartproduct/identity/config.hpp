#pragma once
// Typed configuration of the identity module (the [identity] section of smartproduct.toml).

#include <chrono>
#include <cstddef>

#include "smartproduct/identity/jwt.hpp"
#include "smartproduct/identity/password.hpp"

namespace sp::identity {

struct IdentityConfig {
  JwtOptions jwt;
  PasswordHashParams password_hash;
  std::size_t min_password_length = 10;  // in Unicode code points

  std::chrono::seconds refresh_ttl{30 * 24 * 3600};
  std::chrono::seconds verification_code_ttl{24 * 3600};
  std::chrono::seconds reset_code_ttl{15 * 60};
  int max_code_attempts = 5;  // wrong guesses before a code is burnt

  int max_failed_logins_per_account = 10;         // per account AND address (key: IPv6 /64)
  int max_failed_logins_per_account_total = 100;  // per account, from addresses not known to it
  int max_failed_logins_per_address = 50;
  std::chrono::seconds known_address_ttl{90 * 24 * 3600};  // a successful sign-in's address
  std::chrono::seconds failed_login_window{15 * 60};

  // One-time code abuse limits, each counted atomically in a fixed window of code_limit_window.
  // Submissions of a code count per account (across codes and purposes, so asking for a new code
  // does not buy new guesses) and per address; issuing a code (resend, forgot) counts the same way.
  int max_code_failures_per_account = 10;
  int max_code_failures_per_address = 50;
  int max_codes_per_account = 5;
  int max_codes_per_address = 20;
  std::chrono::seconds code_limit_window{3600};

  // Argon2id work (hash, verify) runs at most argon2_concurrency at a time; at most argon2_queue
  // more wait, each at most argon2_max_wait; others get 503 PasswordHashUnavailable.
  int argon2_concurrency = 2;
  int argon2_queue = 16;
  std::chrono::milliseconds argon2_max_wait{5000};

  bool require_verified_email = true;  // login refused until the email is verified
};

}  // namespace sp::identity
