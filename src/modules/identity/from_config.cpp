#include "smartproduct/identity/from_config.hpp"

namespace sp::identity {

IdentityConfig identity_config_from(const config::IdentitySettings& s) {
  IdentityConfig c;
  c.jwt.issuer = s.issuer;
  c.jwt.audience = s.audience;
  c.jwt.ttl = s.access_token_ttl;
  c.password_hash.opslimit = s.argon2_opslimit;
  c.password_hash.memlimit = static_cast<std::size_t>(s.argon2_memlimit_kib) * 1024;
  c.min_password_length = static_cast<std::size_t>(s.min_password_length);
  c.refresh_ttl = s.refresh_token_ttl;
  c.verification_code_ttl = s.verification_code_ttl;
  c.reset_code_ttl = s.reset_code_ttl;
  c.max_code_attempts = s.max_code_attempts;
  c.max_failed_logins_per_account = s.max_failed_logins_per_account;
  c.max_failed_logins_per_address = s.max_failed_logins_per_address;
  c.failed_login_window = s.failed_login_window;
  return c;
}

Algorithm signing_algorithm_from(const config::IdentitySettings& s) {
  return s.signing_algorithm == "EdDSA" ? Algorithm::kEdDsa : Algorithm::kEs256;
}

MailerConfig mailer_config_from(const config::IdentitySettings& s) {
  return MailerConfig{
      s.smtp_url,   s.smtp_from, s.smtp_username, s.smtp_password, s.smtp_require_tls,
      s.public_url, 20};
}

std::int64_t key_retire_after_s(const config::IdentitySettings& s) {
  return s.access_token_ttl.count() + JwtOptions{}.leeway.count() + 60;
}

}  // namespace sp::identity
