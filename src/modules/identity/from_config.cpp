#include "smartproduct/identity/from_config.hpp"

#include "smartproduct/core/config.hpp"

namespace sp::identity {

IdentitySettings read_identity_settings(config::Section& s, const std::filesystem::path& data_dir) {
  IdentitySettings id;
  id.issuer = s.string("issuer", id.issuer);
  id.audience = s.string("audience", id.audience);
  id.signing_algorithm = s.one_of("signing_algorithm", id.signing_algorithm, {"ES256", "EdDSA"});
  id.access_token_ttl =
      std::chrono::seconds(s.integer("access_token_ttl_s", id.access_token_ttl.count(), 60, 86400));
  id.refresh_token_ttl = std::chrono::seconds(
      s.integer("refresh_token_ttl_s", id.refresh_token_ttl.count(), 300, 400 * 86400));
  // libsodium's Argon2id bounds: opslimit >= 1, memlimit >= 8 KiB; the upper bounds keep a
  // typo from making every sign-in allocate the whole machine.
  id.argon2_opslimit = static_cast<uint64_t>(
      s.integer("argon2_opslimit", static_cast<int64_t>(id.argon2_opslimit), 1, 64));
  id.argon2_memlimit_kib = static_cast<uint64_t>(s.integer(
      "argon2_memlimit_kib", static_cast<int64_t>(id.argon2_memlimit_kib), 8, 4 * 1024 * 1024));
  id.min_password_length =
      static_cast<int>(s.integer("min_password_length", id.min_password_length, 8, 128));
  id.verification_code_ttl = std::chrono::seconds(
      s.integer("verification_code_ttl_s", id.verification_code_ttl.count(), 60, 30 * 86400));
  id.reset_code_ttl =
      std::chrono::seconds(s.integer("reset_code_ttl_s", id.reset_code_ttl.count(), 60, 86400));
  id.max_code_attempts =
      static_cast<int>(s.integer("max_code_attempts", id.max_code_attempts, 1, 100));
  id.max_failed_logins_per_account = static_cast<int>(
      s.integer("max_failed_logins_per_account", id.max_failed_logins_per_account, 1, 100000));
  id.max_failed_logins_per_account_total = static_cast<int>(s.integer(
      "max_failed_logins_per_account_total", id.max_failed_logins_per_account_total, 1, 1000000));
  id.known_address_ttl = std::chrono::seconds(
      s.integer("known_address_ttl_s", id.known_address_ttl.count(), 0, 400 * 86400));
  id.max_failed_logins_per_address = static_cast<int>(
      s.integer("max_failed_logins_per_address", id.max_failed_logins_per_address, 1, 1000000));
  id.failed_login_window = std::chrono::seconds(
      s.integer("failed_login_window_s", id.failed_login_window.count(), 1, 86400));
  // The same server issues and verifies tokens: the leeway only absorbs clock steps, not skew
  // between machines, so it stays small.
  id.token_leeway =
      std::chrono::seconds(s.integer("token_leeway_s", id.token_leeway.count(), 0, 60));
  id.max_code_failures_per_account = static_cast<int>(
      s.integer("max_code_failures_per_account", id.max_code_failures_per_account, 1, 100000));
  id.max_code_failures_per_address = static_cast<int>(
      s.integer("max_code_failures_per_address", id.max_code_failures_per_address, 1, 1000000));
  id.max_codes_per_account =
      static_cast<int>(s.integer("max_codes_per_account", id.max_codes_per_account, 1, 100000));
  id.max_codes_per_address =
      static_cast<int>(s.integer("max_codes_per_address", id.max_codes_per_address, 1, 1000000));
  id.code_limit_window = std::chrono::seconds(
      s.integer("code_limit_window_s", id.code_limit_window.count(), 1, 7 * 86400));
  id.public_rate_per_address_per_min = static_cast<double>(
      s.integer("public_rate_per_address_per_min",
                static_cast<std::int64_t>(id.public_rate_per_address_per_min), 1, 1000000));
  id.public_burst_per_address = static_cast<int>(
      s.integer("public_burst_per_address", id.public_burst_per_address, 1, 1000000));
  id.public_rate_global_per_min = static_cast<double>(
      s.integer("public_rate_global_per_min",
                static_cast<std::int64_t>(id.public_rate_global_per_min), 1, 100000000));
  id.public_burst_global =
      static_cast<int>(s.integer("public_burst_global", id.public_burst_global, 1, 1000000));
  id.argon2_concurrency =
      static_cast<int>(s.integer("argon2_concurrency", id.argon2_concurrency, 1, 256));
  id.argon2_queue = static_cast<int>(s.integer("argon2_queue", id.argon2_queue, 0, 100000));
  id.argon2_max_wait = std::chrono::milliseconds(
      s.integer("argon2_max_wait_ms", id.argon2_max_wait.count(), 0, 60000));
  id.keys_dir = s.path("keys_dir", "");
  id.smtp_url = s.string("smtp_url", "");
  id.smtp_from = s.string("smtp_from", id.smtp_from);
  id.smtp_username = s.string("smtp_username", "");
  id.smtp_password = s.string("smtp_password", "");
  id.smtp_require_tls = s.boolean("smtp_require_tls", id.smtp_require_tls);
  id.public_url = s.string("public_url", "");
  if (id.issuer.empty()) s.error("issuer", "must not be empty");
  if (id.audience.empty()) s.error("audience", "must not be empty");
  if (!id.smtp_url.empty() && id.smtp_url.rfind("smtp://", 0) != 0 &&
      id.smtp_url.rfind("smtps://", 0) != 0) {
    s.error("smtp_url", "must start with smtp:// or smtps:// (or be empty)");
  }
  for (const auto& [key, value] :
       {std::pair{"smtp_from", &id.smtp_from}, std::pair{"smtp_url", &id.smtp_url}}) {
    if (value->find_first_of("\r\n") != std::string::npos) {
      s.error(key, "must be a single line");
    }
  }
  if (id.keys_dir.empty()) id.keys_dir = data_dir / "keys";
  s.finish();
  return id;
}

IdentityConfig identity_config_from(const IdentitySettings& s) {
  IdentityConfig c;
  c.jwt.issuer = s.issuer;
  c.jwt.audience = s.audience;
  c.jwt.ttl = s.access_token_ttl;
  c.jwt.leeway = s.token_leeway;
  c.password_hash.opslimit = s.argon2_opslimit;
  c.password_hash.memlimit = static_cast<std::size_t>(s.argon2_memlimit_kib) * 1024;
  c.min_password_length = static_cast<std::size_t>(s.min_password_length);
  c.refresh_ttl = s.refresh_token_ttl;
  c.verification_code_ttl = s.verification_code_ttl;
  c.reset_code_ttl = s.reset_code_ttl;
  c.max_code_attempts = s.max_code_attempts;
  c.max_failed_logins_per_account = s.max_failed_logins_per_account;
  c.max_failed_logins_per_account_total = s.max_failed_logins_per_account_total;
  c.known_address_ttl = s.known_address_ttl;
  c.max_failed_logins_per_address = s.max_failed_logins_per_address;
  c.argon2_concurrency = s.argon2_concurrency;
  c.argon2_queue = s.argon2_queue;
  c.argon2_max_wait = s.argon2_max_wait;
  c.failed_login_window = s.failed_login_window;
  c.max_code_failures_per_account = s.max_code_failures_per_account;
  c.max_code_failures_per_address = s.max_code_failures_per_address;
  c.max_codes_per_account = s.max_codes_per_account;
  c.max_codes_per_address = s.max_codes_per_address;
  c.code_limit_window = s.code_limit_window;
  return c;
}

Algorithm signing_algorithm_from(const IdentitySettings& s) {
  return s.signing_algorithm == "EdDSA" ? Algorithm::kEdDsa : Algorithm::kEs256;
}

MailerConfig mailer_config_from(const IdentitySettings& s) {
  return MailerConfig{
      s.smtp_url,   s.smtp_from, s.smtp_username, s.smtp_password, s.smtp_require_tls,
      s.public_url, 20};
}

std::int64_t key_retire_after_s(const IdentitySettings& s) {
  return s.access_token_ttl.count() + s.token_leeway.count() + 60;
}

}  // namespace sp::identity
