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

  int max_failed_logins_per_account = 10;
  int max_failed_logins_per_address = 50;
  std::chrono::seconds failed_login_window{15 * 60};

  bool require_verified_email = true;  // login refused until the email is verified
};

}  // namespace sp::identity
