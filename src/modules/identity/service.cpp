#include "smartproduct/identity/service.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <vector>

#include "smartproduct/http/errors.hpp"

namespace sp::identity {
namespace {

constexpr std::size_t kMaxEmailBytes = 254;
constexpr std::size_t kMaxCodeBytes = 16;

tl::unexpected<Error> invalid_credentials() {
  // One answer for unknown email and wrong password, so login does not reveal accounts.
  return fail(errors::kInvalidCredentials, "Email or password is wrong.");
}

tl::unexpected<Error> invalid_refresh() {
  return fail(errors::kInvalidRefreshToken, "The session has expired; please log in again.");
}

tl::unexpected<Error> invalid_code() {
  return fail(errors::kInvalidCode, "The code is wrong or has expired.");
}

tl::unexpected<Error> too_many_attempts() {
  return fail(errors::kTooManyAttempts, "Too many attempts; please wait and try again.");
}

tl::unexpected<Error> busy() {
  return fail(errors::kPasswordHashUnavailable, "The server is busy, try again.",
              "the Argon2id queue is full");
}

// Counts code points and checks UTF-8 well-formedness (no overlongs, surrogates, > U+10FFFF).
std::optional<std::size_t> utf8_length(std::string_view s) {
  std::size_t count = 0;
  for (std::size_t i = 0; i < s.size(); ++count) {
    const auto c = static_cast<unsigned char>(s[i]);
    std::size_t n = 0;
    std::uint32_t cp = 0;
    if (c < 0x80) {
      n = 1;
      cp = c;
    } else if ((c & 0xE0) == 0xC0) {
      n = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      n = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      n = 4;
      cp = c & 0x07;
    } else {
      return std::nullopt;
    }
    if (i + n > s.size()) return std::nullopt;
    for (std::size_t k = 1; k < n; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3F);
    }
    static constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return std::nullopt;
    i += n;
  }
  return count;
}

template <class T>
tl::unexpected<Error> forward(const Result<T>& r) {
  return tl::unexpected<Error>(r.error());
}

}  // namespace

std::string_view role_name(Role role) { return role == Role::kAdmin ? "admin" : "user"; }

std::optional<Role> parse_role(std::string_view text) {
  if (text == "admin") return Role::kAdmin;
  if (text == "user") return Role::kUser;
  return std::nullopt;
}

UserView view_of(const User& user) {
  return UserView{user.id, user.email, user.role, user.enabled, user.email_verified};
}

std::string_view code_purpose_name(CodePurpose purpose) {
  return purpose == CodePurpose::kVerifyEmail ? "verify-email" : "reset-password";
}

std::optional<std::string> normalize_email(std::string_view email) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!email.empty() && is_space(email.front())) email.remove_prefix(1);
  while (!email.empty() && is_space(email.back())) email.remove_suffix(1);
  if (email.empty() || email.size() > kMaxEmailBytes) return std::nullopt;
  std::string out;
  out.reserve(email.size());
  for (const char ch : email) {
    const auto c = static_cast<unsigned char>(ch);
    if (c <= 0x20 || c == 0x7F) return std::nullopt;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : ch;
  }
  const auto at = out.find('@');
  if (at == std::string::npos || at == 0 || out.find('@', at + 1) != std::string::npos) {
    return std::nullopt;
  }
  const std::string_view domain = std::string_view(out).substr(at + 1);
  const auto dot = domain.find('.');
  if (domain.empty() || dot == std::string_view::npos || dot == 0 || domain.back() == '.') {
    return std::nullopt;
  }
  if (!utf8_length(out)) return std::nullopt;
  return out;
}

std::string address_key(std::string_view remote_address) {
  const std::string text(remote_address);
  unsigned char v6[16];
  if (text.find(':') == std::string::npos || inet_pton(AF_INET6, text.c_str(), v6) != 1) {
    return text;
  }
  static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(kMapped, kMapped + 12, v6)) {
    return std::to_string(v6[12]) + "." + std::to_string(v6[13]) + "." + std::to_string(v6[14]) +
           "." + std::to_string(v6[15]);
  }
  char out[40];
  std::snprintf(out, sizeof out, "%02x%02x:%02x%02x:%02x%02x:%02x%02x::/64", v6[0], v6[1], v6[2],
                v6[3], v6[4], v6[5], v6[6], v6[7]);
  return out;
}

Result<void> check_password_policy(std::string_view password, std::string_view normalized_email,
                                   std::size_t min_length) {
  const auto bad = [](std::string message) {
    return fail(errors::kInvalidPassword, std::move(message));
  };
  if (password.size() > kMaxPasswordBytes) return bad("The password is too long.");
  const auto length = utf8_length(password);
  if (!length) return bad("The password is not valid UTF-8 text.");
  if (*length < min_length) {
    return bad("The password must have at least " + std::to_string(min_length) + " characters.");
  }
  if (const auto as_email = normalize_email(password); as_email && *as_email == normalized_email) {
    return bad("The password must not be the email address.");
  }
  return {};
}

IdentityService::IdentityService(IdentityConfig config, store::UserRepository& repo,
                                 const KeyRing& ring, CodeHasher code_hasher, EpochClock clock,
                                 IdGenerator new_id)
    : config_(std::move(config)),
      repo_(repo),
      ring_(ring),
      jwt_(ring, config_.jwt, clock),
      tokens_(std::make_unique<VerifiedTokenCache>()),
      hasher_(config_.password_hash),
      gate_(std::make_unique<WorkGate>(config_.argon2_concurrency, config_.argon2_queue,
                                       config_.argon2_max_wait)),
      code_hasher_(std::move(code_hasher)),
      clock_(clock ? std::move(clock) : system_epoch_clock()),
      new_id_(new_id ? std::move(new_id) : [] { return generate_random_id(16); }) {}

Result<std::string> IdentityService::gated_hash(std::string_view password) const {
  auto permit = gate_->enter();
  if (!permit) return busy();
  return hasher_.hash(password);
}

std::int64_t IdentityService::busy_retry_after() const { return gate_->retry_after_s(); }

void IdentityService::audit(std::string actor, std::string action, std::string target,
                            std::string detail) {
  // Best effort: failing a login or a reset because the audit insert failed would turn a storage
  // hiccup into an outage; the store reports its own errors.
  (void)repo_.append_audit(AuditEntry{clock_(), std::move(actor), std::move(action),
                                      std::move(target), std::move(detail)});
}

Result<std::string> IdentityService::new_code(const User& user, CodePurpose purpose) {
  const std::string code = generate_numeric_code(6);
  const auto ttl =
      purpose == CodePurpose::kVerifyEmail ? config_.verification_code_ttl : config_.reset_code_ttl;
  OneTimeCode record{user.id, purpose, code_hasher_.hash(code_purpose_name(purpose), user.id, code),
                     clock_() + ttl.count(), 0};
  if (auto r = repo_.put_code(record); !r) return forward(r);
  return code;
}

Result<void> IdentityService::count_pair(std::string_view kind, const std::string& email,
                                         std::string_view remote_address, int per_account,
                                         int per_address) {
  const std::int64_t now = clock_();
  const std::int64_t window = config_.code_limit_window.count();
  // The address first: an address over its limit must not also use up the account's allowance
  // (which would let one address lock a victim's account out of its codes).
  const std::string prefix = std::string(kind);
  auto by_address =
      repo_.bump_counter(prefix + "address:" + address_key(remote_address), now, window);
  if (!by_address) return forward(by_address);
  if (by_address->count > per_address) return too_many_attempts();
  auto by_account = repo_.bump_counter(prefix + "account:" + email, now, window);
  if (!by_account) return forward(by_account);
  if (by_account->count > per_account) {
    if (by_account->count == per_account + 1) audit("", "code.limit_reached", email, prefix);
    return too_many_attempts();
  }
  return {};
}

Result<void> IdentityService::count_code_submission(const std::string& email,
                                                    std::string_view remote_address) {
  return count_pair("code-try:", email, remote_address, config_.max_code_failures_per_account,
                    config_.max_code_failures_per_address);
}

Result<void> IdentityService::count_code_issue(const std::string& email,
                                               std::string_view remote_address) {
  return count_pair("code-issue:", email, remote_address, config_.max_codes_per_account,
                    config_.max_codes_per_address);
}

std::int64_t IdentityService::code_retry_after(std::string_view email,
                                               std::string_view remote_address,
                                               bool issuing) const {
  const std::int64_t now = clock_();
  const std::int64_t window = config_.code_limit_window.count();
  const std::string prefix = issuing ? "code-issue:" : "code-try:";
  std::vector<std::pair<std::string, int>> keys = {
      {prefix + "address:" + address_key(remote_address),
       issuing ? config_.max_codes_per_address : config_.max_code_failures_per_address}};
  if (auto normalized = normalize_email(email)) {
    keys.emplace_back(
        prefix + "account:" + *normalized,
        issuing ? config_.max_codes_per_account : config_.max_code_failures_per_account);
  }
  std::int64_t wait = 1;
  for (const auto& [key, limit] : keys) {
    auto f = repo_.login_failures(key);
    if (f && f->count > limit && now - f->window_start < window) {
      wait = std::max(wait, f->window_start + window - now);
    }
  }
  return wait;
}

Result<void> IdentityService::consume_code(const User& user, CodePurpose purpose,
                                           std::string_view code) {
  // The submission is counted on the code before it is checked, in one atomic step that also
  // returns the code: concurrent guesses each get their own count, so at most max_code_attempts
  // of them are ever compared with the code.
  auto counted = repo_.add_code_attempt(user.id, purpose);
  if (!counted) return forward(counted);
  if (!*counted) return invalid_code();
  const OneTimeCode& c = **counted;
  if (c.expires_at <= clock_()) {
    (void)repo_.delete_code(user.id, purpose);
    return invalid_code();
  }
  // A burnt code stays until it expires or a new one replaces it, and keeps answering
  // TooManyAttempts, so the right code cannot be found by carrying on.
  if (c.attempts > config_.max_code_attempts) return too_many_attempts();
  if (code.size() > kMaxCodeBytes ||
      !code_hasher_.verify(code_purpose_name(purpose), user.id, code, c.code_hash)) {
    // The attempt that reaches the limit burns the code, so the last guess cannot be retried.
    if (c.attempts >= config_.max_code_attempts) {
      audit(user.id, "code.burnt", user.id, std::string(code_purpose_name(purpose)));
      return too_many_attempts();
    }
    return invalid_code();
  }
  // Single use, and every other outstanding code dies with it. Of two concurrent right answers
  // only the one that deleted the codes goes on.
  auto deleted = repo_.delete_user_codes(user.id);
  if (!deleted) return forward(deleted);
  if (*deleted == 0) return invalid_code();
  (void)repo_.clear_login_failures("code-try:account:" + user.email);
  return {};
}

Result<SignUpOutcome> IdentityService::sign_up(std::string_view email, std::string_view password,
                                               bool issue_code) {
  const auto normalized = normalize_email(email);
  if (!normalized) {
    return fail(errors::kInvalidEmail, "The email address is not valid.");
  }
  if (auto r = check_password_policy(password, *normalized, config_.min_password_length); !r) {
    return forward(r);
  }
  auto existing = repo_.find_user_by_email(*normalized);
  if (!existing) return forward(existing);
  // The hash is computed either way, so an existing email costs the same time as a new one.
  auto hash = gated_hash(password);
  if (!hash) return forward(hash);
  const std::int64_t now = clock_();
  User user{new_id_(), *normalized, std::move(*hash), Role::kUser, true, false, now, now};
  if (*existing) {
    audit("", "user.sign_up_existing", (*existing)->id);
    user.password_hash.clear();
    return SignUpOutcome{{view_of(user), {}}, true};
  }
  if (auto r = repo_.insert_user(user); !r) {
    // Lost a race with a concurrent sign-up of the same email: answer as for an existing one.
    if (auto again = repo_.find_user_by_email(*normalized); again && *again) {
      return SignUpOutcome{{view_of(user), {}}, true};
    }
    return forward(r);
  }
  std::string code;
  if (issue_code) {
    auto issued = new_code(user, CodePurpose::kVerifyEmail);
    if (!issued) return forward(issued);
    code = std::move(*issued);
  }
  audit(user.id, "user.sign_up", user.id);
  return SignUpOutcome{{view_of(user), std::move(code)}, false};
}

Result<UserView> IdentityService::verify_email(std::string_view email, std::string_view code,
                                               std::string_view remote_address) {
  const auto normalized = normalize_email(email);
  if (!normalized) return invalid_code();
  // Counted before the account is looked up, so the limits answer the same for unknown emails.
  if (auto r = count_code_submission(*normalized, remote_address); !r) return forward(r);
  auto user = repo_.find_user_by_email(*normalized);
  if (!user) return forward(user);
  if (!*user) return invalid_code();
  User u = **user;
  if (u.email_verified) return view_of(u);
  if (auto r = consume_code(u, CodePurpose::kVerifyEmail, code); !r) return forward(r);
  u.email_verified = true;
  u.updated_at = clock_();
  if (auto r = repo_.update_user(u); !r) return forward(r);
  audit(u.id, "user.email_verified", u.id);
  return view_of(u);
}

Result<std::optional<std::string>> IdentityService::request_code(std::string_view email,
                                                                 std::string_view remote_address) {
  // Not an address (empty, a NUL, 60 KB): refused as sign-up refuses it. The format says nothing
  // about whether an account exists, so this answer reveals nothing either.
  auto normalized = normalize_email(email);
  if (!normalized) return fail(errors::kInvalidEmail, "The email address is not valid.");
  if (auto r = count_code_issue(*normalized, remote_address); !r) return forward(r);
  return normalized;
}

Result<std::optional<std::string>> IdentityService::issue_code(CodePurpose purpose,
                                                               std::string_view email) {
  auto user = repo_.find_user_by_email(email);
  if (!user) return forward(user);
  if (!*user || !(*user)->enabled) return std::optional<std::string>{};
  if (purpose == CodePurpose::kVerifyEmail && (*user)->email_verified) {
    return std::optional<std::string>{};
  }
  auto code = new_code(**user, purpose);
  if (!code) return forward(code);
  if (purpose == CodePurpose::kResetPassword) audit("", "user.reset_requested", (*user)->id);
  return std::optional<std::string>(std::move(*code));
}

Result<bool> IdentityService::sign_up_notice_allowed(std::string_view email) {
  auto user = repo_.find_user_by_email(email);
  if (!user) return forward(user);
  if (!*user) return false;
  auto n = repo_.bump_counter("code-issue:account:" + std::string(email), clock_(),
                              config_.code_limit_window.count());
  if (!n) return forward(n);
  return n->count <= config_.max_codes_per_account;
}

Result<std::optional<std::string>> IdentityService::resend_verification(
    std::string_view email, std::string_view remote_address) {
  auto normalized = request_code(email, remote_address);
  if (!normalized || !*normalized) return normalized;
  return issue_code(CodePurpose::kVerifyEmail, **normalized);
}

std::string IdentityService::known_address_key(std::string_view email, std::string_view address) {
  return "login-ok:" + std::string(email) + "|" + std::string(address);
}

bool IdentityService::known_address(const std::string& email, const std::string& address,
                                    std::int64_t now) const {
  auto f = repo_.login_failures(known_address_key(email, address));
  return f && f->count > 0 && now - f->window_start < config_.known_address_ttl.count();
}

std::vector<IdentityService::LoginCounter> IdentityService::login_counters(
    std::string_view email, std::string_view remote_address, std::int64_t now) const {
  const std::string addr = identity::address_key(remote_address);
  std::vector<LoginCounter> out = {
      {"address:" + addr, config_.max_failed_logins_per_address, true}};
  if (auto normalized = normalize_email(email)) {
    out.push_back(
        {"login-pair:" + *normalized + "|" + addr, config_.max_failed_logins_per_account, false});
    // The owner signing in from an address that signed in before is not held back by failures
    // elsewhere: only unknown addresses count against (and are refused by) the account's total.
    if (!known_address(*normalized, addr, now)) {
      out.push_back({"account:" + *normalized, config_.max_failed_logins_per_account_total, false});
    }
  }
  return out;
}

std::int64_t IdentityService::login_retry_after(std::string_view email,
                                                std::string_view remote_address) const {
  const std::int64_t now = clock_();
  const std::int64_t window = config_.failed_login_window.count();
  std::int64_t wait = 1;
  for (const auto& c : login_counters(email, remote_address, now)) {
    auto f = repo_.login_failures(c.key);
    const int refused_from = c.failures_only ? c.limit : c.limit + 1;
    if (f && f->count >= refused_from && now - f->window_start < window) {
      wait = std::max(wait, f->window_start + window - now);
    }
  }
  return wait;
}

Result<AuthTokens> IdentityService::login(std::string_view email, std::string_view password,
                                          std::string_view remote_address) {
  // A busy server refuses before anything is counted: a 503 costs the user no attempt.
  auto permit = gate_->enter();
  if (!permit) return busy();
  const std::int64_t now = clock_();
  const std::int64_t window = config_.failed_login_window.count();
  // Address-bound limits (OWASP): failures count per address, per account AND address, and per
  // account from addresses that never signed in to it. Every attempt is counted BEFORE the
  // password is checked, each counter in one atomic upsert that returns it (UPDATE ... RETURNING):
  // concurrent guesses each get their own number, so at most `limit` of them are ever checked.
  const auto counters = login_counters(email, remote_address, now);
  std::vector<std::string> counted;
  for (const auto& c : counters) {
    if (c.failures_only) {
      // The address counts failures only (an office behind one NAT signs in all day), so it is
      // read here and bumped atomically after a failure; concurrent guesses can pass the check
      // together, at most as many as the Argon2id gate lets in (concurrency + queue).
      auto f = repo_.login_failures(c.key);
      if (!f) return forward(f);
      if (now - f->window_start < window && f->count >= c.limit) return too_many_attempts();
      continue;
    }
    auto n = repo_.bump_counter(c.key, now, window);
    if (!n) return forward(n);
    counted.push_back(c.key);
    if (n->count > c.limit) {
      if (n->count == c.limit + 1) audit("", "auth.login_throttled", c.key);
      return too_many_attempts();
    }
  }
  const auto failed = [&]() -> Result<void> {
    for (const auto& c : counters) {
      if (!c.failures_only) continue;
      if (auto n = repo_.bump_counter(c.key, now, window); !n) return forward(n);
    }
    return {};
  };
  const auto normalized = normalize_email(email);
  if (!normalized) {
    hasher_.dummy_verify(password);
    if (auto r = failed(); !r) return forward(r);
    return invalid_credentials();
  }
  auto found = repo_.find_user_by_email(*normalized);
  if (!found) return forward(found);
  bool ok = false;
  if (*found) {
    ok = hasher_.verify((*found)->password_hash, password);
  } else {
    hasher_.dummy_verify(password);  // same cost whether or not the account exists
  }
  if (!ok) {
    if (auto r = failed(); !r) return forward(r);
    if (*found) audit("", "auth.login_failed", (*found)->id);
    return invalid_credentials();
  }
  // The password is right: the account's counters start again. The address's is left to expire:
  // clearing it would let one valid account reset the limit between guesses at other accounts.
  const std::string addr = identity::address_key(remote_address);
  for (const auto& key : counted) (void)repo_.clear_login_failures(key);
  User user = **found;
  // Disabled/unverified are revealed only to someone who knows the password.
  if (!user.enabled) {
    return fail(errors::kAccountDisabled, "This account is disabled.");
  }
  if (config_.require_verified_email && !user.email_verified) {
    return fail(errors::kEmailNotVerified, "Please verify your email first.");
  }
  (void)repo_.set_login_failures(known_address_key(user.email, addr), LoginFailures{1, now});
  if (hasher_.needs_rehash(user.password_hash)) {
    if (auto rehashed = hasher_.hash(password)) {
      user.password_hash = std::move(*rehashed);
      user.updated_at = now;
      (void)repo_.update_user(user);  // an upgrade; the login stands even if it fails
    }
  }
  audit(user.id, "auth.login", user.id);
  return issue_tokens(user, generate_random_id(16));
}

Result<AuthTokens> IdentityService::issue_tokens(const User& user, const std::string& family_id) {
  auto access = jwt_.issue(
      TokenSubject{user.id, user.email, std::string(role_name(user.role)), user.token_generation});
  if (!access) return forward(access);
  const std::int64_t now = clock_();
  const std::string refresh = generate_refresh_token();
  RefreshTokenRecord record{
      hash_token(refresh), family_id, user.id, now, now + config_.refresh_ttl.count(),
      std::nullopt,        false};
  if (auto r = repo_.insert_refresh_token(record); !r) return forward(r);
  return AuthTokens{std::move(access->token), access->expires_at, refresh, record.expires_at,
                    view_of(user)};
}

Result<AuthTokens> IdentityService::refresh(std::string_view refresh_token) {
  if (refresh_token.empty() || refresh_token.size() > 128) return invalid_refresh();
  const std::string hash = hash_token(refresh_token);
  auto found = repo_.find_refresh_token(hash);
  if (!found) return forward(found);
  if (!*found) return invalid_refresh();
  const RefreshTokenRecord rec = **found;
  if (rec.revoked) return invalid_refresh();
  const std::int64_t now = clock_();
  if (rec.used_at) {
    // A rotated token came back: either the client or a thief holds a copy. We cannot tell which,
    // so the whole family dies and the user logs in again.
    (void)repo_.revoke_refresh_family(rec.family_id);
    audit(rec.user_id, "auth.refresh_reuse", rec.family_id);
    return invalid_refresh();
  }
  if (rec.expires_at <= now) return invalid_refresh();
  auto marked = repo_.mark_refresh_token_used(hash, now);
  if (!marked) return forward(marked);
  if (!*marked) {  // lost a race against another use of the same token: treat as reuse
    (void)repo_.revoke_refresh_family(rec.family_id);
    audit(rec.user_id, "auth.refresh_reuse", rec.family_id);
    return invalid_refresh();
  }
  auto user = repo_.find_user_by_id(rec.user_id);
  if (!user) return forward(user);
  if (!*user || !(*user)->enabled) {
    (void)repo_.revoke_refresh_family(rec.family_id);
    return invalid_refresh();
  }
  return issue_tokens(**user, rec.family_id);
}

Result<void> IdentityService::logout(std::string_view refresh_token) {
  if (refresh_token.empty() || refresh_token.size() > 128) return {};
  auto found = repo_.find_refresh_token(hash_token(refresh_token));
  if (!found) return forward(found);
  if (!*found) return {};
  if (auto r = repo_.revoke_refresh_family((*found)->family_id); !r) return r;
  audit((*found)->user_id, "auth.logout", (*found)->family_id);
  return {};
}

Result<void> IdentityService::change_password(std::string_view user_id,
                                              std::string_view current_password,
                                              std::string_view new_password) {
  auto found = repo_.find_user_by_id(user_id);
  if (!found) return forward(found);
  if (!*found) return invalid_credentials();
  User user = **found;
  auto permit = gate_->enter();  // one slot for both Argon2id operations
  if (!permit) return busy();
  if (!hasher_.verify(user.password_hash, current_password)) return invalid_credentials();
  if (auto r = check_password_policy(new_password, user.email, config_.min_password_length); !r) {
    return r;
  }
  auto hash = hasher_.hash(new_password);
  if (!hash) return forward(hash);
  user.password_hash = std::move(*hash);
  user.updated_at = clock_();
  if (auto r = repo_.update_user(user); !r) return r;
  if (auto r = repo_.advance_token_generation(user.id); !r) return forward(r);
  if (auto r = repo_.revoke_user_refresh_tokens(user.id); !r) return r;
  audit(user.id, "user.password_changed", user.id);
  return {};
}

Result<std::optional<std::string>> IdentityService::forgot_password(
    std::string_view email, std::string_view remote_address) {
  auto normalized = request_code(email, remote_address);
  if (!normalized || !*normalized) return normalized;
  return issue_code(CodePurpose::kResetPassword, **normalized);
}

Result<void> IdentityService::reset_password(std::string_view email, std::string_view code,
                                             std::string_view new_password,
                                             std::string_view remote_address) {
  const auto normalized = normalize_email(email);
  if (!normalized) return invalid_code();
  auto found = repo_.find_user_by_email(*normalized);
  if (!found) return forward(found);
  // Policy first, so a weak new password does not cost the user a code attempt (stored emails
  // are normalized, so this answers the same whether or not the account exists).
  if (auto r = check_password_policy(new_password, *normalized, config_.min_password_length); !r) {
    return r;
  }
  if (auto r = count_code_submission(*normalized, remote_address); !r) return r;
  if (!*found || !(*found)->enabled) return invalid_code();
  User user = **found;
  // The slot is taken before the code is consumed: a busy server must not burn a right code and
  // then fail to set the password.
  auto permit = gate_->enter();
  if (!permit) return busy();
  if (auto r = consume_code(user, CodePurpose::kResetPassword, code); !r) return r;
  auto hash = hasher_.hash(new_password);
  if (!hash) return forward(hash);
  user.password_hash = std::move(*hash);
  user.email_verified = true;
  user.updated_at = clock_();
  if (auto r = repo_.update_user(user); !r) return r;
  if (auto r = repo_.advance_token_generation(user.id); !r) return forward(r);
  if (auto r = repo_.revoke_user_refresh_tokens(user.id); !r) return r;
  (void)repo_.clear_login_failures("account:" + user.email);
  audit(user.id, "user.password_reset", user.id);
  return {};
}

Result<TokenClaims> IdentityService::authenticate(std::string_view access_token) const {
  // An oversized token is refused by validate() before any hashing.
  if (access_token.size() > config_.jwt.max_token_bytes) return jwt_.validate(access_token);
  const std::int64_t now = clock_();
  if (auto hit = tokens_->find(access_token, now)) {
    // Key rotation and retirement still apply: trust the entry only while the ring holds the
    // very key that verified it.
    if (auto key = ring_.find(hit->claims.key_id); key && key->same_key_as(hit->key)) {
      return hit->claims;
    }
    tokens_->erase(access_token);
  }
  auto claims = jwt_.validate(access_token);
  if (!claims) return claims;
  // The ring refuses a kid already taken by another key, so the key found under the verifying kid
  // right after validate() is the one that verified the token (unless that kid is retired and
  // re-added with another key in between: not something key rotation does, kids are thumbprints).
  if (auto key = ring_.find(claims->key_id)) {
    const std::int64_t leeway = config_.jwt.leeway.count();
    // validate() refuses from exp + leeway on (saturating); the cache refuses from the same second.
    const std::int64_t refuse_from =
        leeway > 0 && claims->expires_at > std::numeric_limits<std::int64_t>::max() - leeway
            ? std::numeric_limits<std::int64_t>::max()
            : claims->expires_at + leeway;
    tokens_->insert(access_token, VerifiedTokenCache::Entry{*claims, *key, refuse_from}, now);
  }
  return claims;
}

}  // namespace sp::identity
