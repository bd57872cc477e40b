#include "smartproduct/identity/service.hpp"

#include <gtest/gtest.h>

#include "fake_user_repository.hpp"

namespace sp::identity {
namespace {

constexpr std::int64_t kStart = 1'700'000'000;
constexpr const char* kPassword = "correct horse battery";

class IdentityServiceTest : public ::testing::Test {
 protected:
  IdentityServiceTest() {
    auto key = SigningKey::generate(Algorithm::kEdDsa, "k1");
    EXPECT_TRUE(ring_.set_signing_key(*key).has_value());
    config_.password_hash = PasswordHashParams{1, 8192};  // fast for tests
    config_.max_code_attempts = 3;
    config_.max_failed_logins_per_account = 3;
    config_.max_failed_logins_per_address = 5;
    config_.failed_login_window = std::chrono::seconds(600);
    rebuild();
  }

  void rebuild() {
    service_ = std::make_unique<IdentityService>(
        config_, repo_, ring_, CodeHasher(std::string(32, 'p')), [this] { return now_; },
        [this] { return "u" + std::to_string(++next_id_); });
  }

  // Signs up and verifies; returns the user id.
  std::string verified_user(const std::string& email, const std::string& password = kPassword) {
    auto s = service_->sign_up(email, password);
    EXPECT_TRUE(s.has_value()) << (s ? "" : s.error().name);
    auto v = service_->verify_email(email, s->verification_code);
    EXPECT_TRUE(v.has_value());
    return s->user.id;
  }

  static void expect_error(const Error& e, ErrorKind kind, std::string_view name) {
    EXPECT_EQ(e.kind, kind) << e.name;
    EXPECT_EQ(e.name, name);
  }

  test::FakeUserRepository repo_;
  KeyRing ring_;
  IdentityConfig config_;
  std::int64_t now_ = kStart;
  int next_id_ = 0;
  std::unique_ptr<IdentityService> service_;
};

TEST(EmailNormalization, TrimsLowercasesAndValidates) {
  EXPECT_EQ(normalize_email("  Alice@Example.COM "), "alice@example.com");
  EXPECT_FALSE(normalize_email("").has_value());
  EXPECT_FALSE(normalize_email("alice").has_value());
  EXPECT_FALSE(normalize_email("@example.com").has_value());
  EXPECT_FALSE(normalize_email("a@b@example.com").has_value());
  EXPECT_FALSE(normalize_email("a@localhost").has_value());
  EXPECT_FALSE(normalize_email("a b@example.com").has_value());
  EXPECT_FALSE(normalize_email("a@example.com.").has_value());
  EXPECT_FALSE(normalize_email(std::string(250, 'a') + "@example.com").has_value());
  EXPECT_FALSE(normalize_email("a\xff@example.com").has_value());
}

TEST(PasswordPolicy, LengthAndEmail) {
  EXPECT_TRUE(check_password_policy("0123456789", "a@example.com", 10).has_value());
  auto short_pw = check_password_policy("012345678", "a@example.com", 10);
  ASSERT_FALSE(short_pw.has_value());
  EXPECT_EQ(short_pw.error().kind, ErrorKind::kUnprocessable);
  EXPECT_EQ(short_pw.error().name, "InvalidPassword");
  // Code points, not bytes: nine 2-byte characters are still too short.
  EXPECT_FALSE(check_password_policy("ééééééééé", "a@example.com", 10).has_value());
  EXPECT_TRUE(check_password_policy("éééééééééé", "a@example.com", 10).has_value());
  EXPECT_FALSE(check_password_policy("Long@Example.com", "long@example.com", 10).has_value());
  EXPECT_FALSE(
      check_password_policy("\xff\xfe\xfd\xfc\xfb\xfa\xf9\xf8\xf7\xf6\xf5", "a@example.com", 10)
          .has_value());
  EXPECT_FALSE(check_password_policy(std::string(kMaxPasswordBytes + 1, 'x'), "a@example.com", 10)
                   .has_value());
}

TEST_F(IdentityServiceTest, SignUpCreatesUnverifiedUserWithCode) {
  auto r = service_->sign_up(" Alice@Example.com", kPassword);
  ASSERT_TRUE(r.has_value()) << r.error().name;
  EXPECT_EQ(r->user.email, "alice@example.com");
  EXPECT_EQ(r->user.role, Role::kUser);
  EXPECT_FALSE(r->user.email_verified);
  EXPECT_EQ(r->verification_code.size(), 6u);
  const User& stored = repo_.users_.at(r->user.id);
  EXPECT_EQ(stored.password_hash.rfind("$argon2id$", 0), 0u);
  EXPECT_EQ(stored.password_hash.find(kPassword), std::string::npos);
  // Only the code's hash is stored.
  const auto& code = repo_.codes_.begin()->second;
  EXPECT_NE(code.code_hash, r->verification_code);
  EXPECT_EQ(code.expires_at, kStart + config_.verification_code_ttl.count());
  EXPECT_TRUE(repo_.has_audit("user.sign_up"));
}

TEST_F(IdentityServiceTest, SignUpRefusesDuplicatesAndBadInput) {
  auto bob = service_->sign_up("bob@example.com", kPassword);
  ASSERT_TRUE(bob.has_value());
  // An existing email is not an error (the route answers as for a new one): nothing is created,
  // the id belongs to no account, no code is issued.
  auto dup = service_->sign_up("BOB@example.com", "another password");
  ASSERT_TRUE(dup.has_value());
  EXPECT_TRUE(dup->already_existed);
  EXPECT_FALSE(bob->already_existed);
  EXPECT_NE(dup->user.id, bob->user.id);
  EXPECT_EQ(dup->user.email, "bob@example.com");
  EXPECT_TRUE(dup->verification_code.empty());
  EXPECT_TRUE(repo_.has_audit("user.sign_up_existing"));
  EXPECT_FALSE(repo_.users_.count(dup->user.id));
  auto bad_email = service_->sign_up("bob", kPassword);
  ASSERT_FALSE(bad_email.has_value());
  expect_error(bad_email.error(), ErrorKind::kUnprocessable, "InvalidEmail");
  auto short_pw = service_->sign_up("carol@example.com", "short");
  ASSERT_FALSE(short_pw.has_value());
  expect_error(short_pw.error(), ErrorKind::kUnprocessable, "InvalidPassword");
  auto email_pw = service_->sign_up("carol@example.com", "Carol@Example.com");
  ASSERT_FALSE(email_pw.has_value());
  expect_error(email_pw.error(), ErrorKind::kUnprocessable, "InvalidPassword");
  EXPECT_EQ(repo_.users_.size(), 1u);
}

TEST_F(IdentityServiceTest, VerifyEmailIsSingleUseAndAttemptLimited) {
  auto s = service_->sign_up("dave@example.com", kPassword);
  ASSERT_TRUE(s.has_value());
  const std::string wrong = s->verification_code == "000000" ? "111111" : "000000";
  auto w1 = service_->verify_email("dave@example.com", wrong);
  ASSERT_FALSE(w1.has_value());
  expect_error(w1.error(), ErrorKind::kUnprocessable, "InvalidCode");
  auto ok = service_->verify_email("DAVE@example.com", s->verification_code);
  ASSERT_TRUE(ok.has_value());
  EXPECT_TRUE(ok->email_verified);
  EXPECT_TRUE(repo_.codes_.empty());  // consumed
}

TEST_F(IdentityServiceTest, VerifyEmailCodeBurntAfterMaxAttempts) {
  auto s = service_->sign_up("erin@example.com", kPassword);
  ASSERT_TRUE(s.has_value());
  const std::string wrong = s->verification_code == "000000" ? "111111" : "000000";
  EXPECT_EQ(service_->verify_email("erin@example.com", wrong).error().name, "InvalidCode");
  EXPECT_EQ(service_->verify_email("erin@example.com", wrong).error().name, "InvalidCode");
  auto third = service_->verify_email("erin@example.com", wrong);
  expect_error(third.error(), ErrorKind::kRateLimited, "TooManyAttempts");
  // The right code no longer works: it was burnt, and says so until a new code replaces it.
  auto late = service_->verify_email("erin@example.com", s->verification_code);
  ASSERT_FALSE(late.has_value());
  expect_error(late.error(), ErrorKind::kRateLimited, "TooManyAttempts");
  // A fresh code can be requested and works.
  auto again = service_->resend_verification("erin@example.com");
  ASSERT_TRUE(again.has_value() && again->has_value());
  EXPECT_TRUE(service_->verify_email("erin@example.com", **again).has_value());
  auto none = service_->resend_verification("erin@example.com");  // already verified
  ASSERT_TRUE(none.has_value());
  EXPECT_FALSE(none->has_value());
}

TEST_F(IdentityServiceTest, VerifyEmailCodeExpires) {
  auto s = service_->sign_up("fay@example.com", kPassword);
  ASSERT_TRUE(s.has_value());
  now_ += config_.verification_code_ttl.count();
  auto r = service_->verify_email("fay@example.com", s->verification_code);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().name, "InvalidCode");
}

TEST_F(IdentityServiceTest, LoginIssuesValidTokens) {
  const std::string id = verified_user("gus@example.com");
  auto t = service_->login("Gus@Example.com", kPassword, "10.0.0.1");
  ASSERT_TRUE(t.has_value()) << t.error().name;
  EXPECT_EQ(t->user.id, id);
  EXPECT_EQ(t->refresh_token.size(), 43u);
  EXPECT_EQ(t->refresh_expires_at, kStart + config_.refresh_ttl.count());
  auto claims = service_->authenticate(t->access_token);
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->subject, id);
  EXPECT_EQ(claims->email, "gus@example.com");
  EXPECT_EQ(claims->role, "user");
  // Only the refresh token's hash is stored.
  ASSERT_EQ(repo_.tokens_.size(), 1u);
  EXPECT_EQ(repo_.tokens_.begin()->first, hash_token(t->refresh_token));
}

TEST_F(IdentityServiceTest, LoginFailuresLookTheSame) {
  verified_user("hal@example.com");
  auto wrong = service_->login("hal@example.com", "wrong password!", "10.0.0.2");
  auto unknown = service_->login("nobody@example.com", kPassword, "10.0.0.3");
  ASSERT_FALSE(wrong.has_value());
  ASSERT_FALSE(unknown.has_value());
  expect_error(wrong.error(), ErrorKind::kUnauthenticated, "InvalidCredentials");
  expect_error(unknown.error(), ErrorKind::kUnauthenticated, "InvalidCredentials");
  EXPECT_EQ(wrong.error().message, unknown.error().message);
}

TEST_F(IdentityServiceTest, UnverifiedAndDisabledAccounts) {
  ASSERT_TRUE(service_->sign_up("ivy@example.com", kPassword).has_value());
  auto unverified = service_->login("ivy@example.com", kPassword, "a");
  ASSERT_FALSE(unverified.has_value());
  expect_error(unverified.error(), ErrorKind::kForbidden, "EmailNotVerified");

  const std::string id = verified_user("jon@example.com");
  auto tokens = service_->login("jon@example.com", kPassword, "a");
  ASSERT_TRUE(tokens.has_value());
  repo_.users_.at(id).enabled = false;
  auto disabled = service_->login("jon@example.com", kPassword, "a");
  ASSERT_FALSE(disabled.has_value());
  // 401 like a disabled account's token (one status per name): the client drops the session.
  expect_error(disabled.error(), ErrorKind::kUnauthenticated, "AccountDisabled");
  auto r = service_->refresh(tokens->refresh_token);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().name, "InvalidRefreshToken");
}

TEST_F(IdentityServiceTest, FailuresLockTheAccountOnlyFromTheGuessingAddress) {
  verified_user("kim@example.com");
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(service_->login("kim@example.com", "wrong password", "9.9.9.9").error().name,
              "InvalidCredentials");
  }
  // The guessing address is refused, even with the right password...
  auto blocked = service_->login("kim@example.com", kPassword, "9.9.9.9");
  ASSERT_FALSE(blocked.has_value());
  expect_error(blocked.error(), ErrorKind::kRateLimited, "TooManyAttempts");
  EXPECT_EQ(service_->login_retry_after("kim@example.com", "9.9.9.9"), 600);
  // ...but the owner elsewhere is not locked out.
  EXPECT_TRUE(service_->login("kim@example.com", kPassword, "1.1.1.1").has_value());
  now_ += 600;
  EXPECT_TRUE(service_->login("kim@example.com", kPassword, "9.9.9.9").has_value());
  EXPECT_EQ(repo_.failures_.count("login-pair:kim@example.com|9.9.9.9"), 0u);  // cleared
}

TEST_F(IdentityServiceTest, IPv6AddressesCountPerSlash64) {
  verified_user("ola@example.com");
  for (int i = 0; i < 3; ++i) {
    const std::string addr = "2001:db8:1:2::" + std::to_string(i + 1);
    EXPECT_EQ(service_->login("ola@example.com", "wrong password", addr).error().name,
              "InvalidCredentials");
  }
  EXPECT_EQ(service_->login("ola@example.com", kPassword, "2001:db8:1:2:ffff::9").error().name,
            "TooManyAttempts");
  EXPECT_TRUE(service_->login("ola@example.com", kPassword, "2001:db8:1:3::1").has_value());
}

TEST_F(IdentityServiceTest, DistributedGuessingLocksOnlyUnknownAddresses) {
  config_.max_failed_logins_per_account_total = 4;
  rebuild();
  verified_user("pam@example.com");
  ASSERT_TRUE(service_->login("pam@example.com", kPassword, "10.1.1.1").has_value());  // home
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(service_->login("pam@example.com", "wrong password", "66.0.0." + std::to_string(i))
                  .error()
                  .name,
              "InvalidCredentials");
  }
  // The account's total is used up: an address it never signed in from is refused...
  expect_error(service_->login("pam@example.com", kPassword, "66.0.0.99").error(),
               ErrorKind::kRateLimited, "TooManyAttempts");
  // ...the owner at home is not.
  EXPECT_TRUE(service_->login("pam@example.com", kPassword, "10.1.1.1").has_value());
  // A known address stops being known after known_address_ttl.
  now_ += config_.known_address_ttl.count();
  EXPECT_EQ(service_->login("pam@example.com", "wrong password", "66.0.0.5").error().name,
            "InvalidCredentials");
}

TEST_F(IdentityServiceTest, ASuccessClearsTheAccountsCounters) {
  config_.max_failed_logins_per_address = 100;
  rebuild();
  verified_user("quy@example.com");
  // Two wrong, one right, two wrong, right: the pair limit (3) is never reached because the
  // success started the account's counters again.
  for (int round = 0; round < 2; ++round) {
    for (int i = 0; i < 2; ++i) {
      EXPECT_EQ(service_->login("quy@example.com", "wrong password", "8.8.8.8").error().name,
                "InvalidCredentials");
    }
    EXPECT_TRUE(service_->login("quy@example.com", kPassword, "8.8.8.8").has_value()) << round;
  }
  EXPECT_EQ(repo_.failures_.count("login-pair:quy@example.com|8.8.8.8"), 0u);
  EXPECT_EQ(repo_.failures_.at("address:8.8.8.8").count, 4);  // the address counts failures
}

TEST_F(IdentityServiceTest, PerAddressThrottle) {
  verified_user("lea@example.com");
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(service_->login("x" + std::to_string(i) + "@example.com", kPassword, "6.6.6.6")
                  .error()
                  .name,
              "InvalidCredentials");
  }
  auto blocked = service_->login("lea@example.com", kPassword, "6.6.6.6");
  ASSERT_FALSE(blocked.has_value());
  expect_error(blocked.error(), ErrorKind::kRateLimited, "TooManyAttempts");
  EXPECT_TRUE(service_->login("lea@example.com", kPassword, "7.7.7.7").has_value());
}

TEST_F(IdentityServiceTest, RefreshRotatesAndReuseRevokesFamily) {
  verified_user("max@example.com");
  auto first = service_->login("max@example.com", kPassword, "a");
  ASSERT_TRUE(first.has_value());
  now_ += 60;
  auto second = service_->refresh(first->refresh_token);
  ASSERT_TRUE(second.has_value()) << second.error().name;
  EXPECT_NE(second->refresh_token, first->refresh_token);
  EXPECT_TRUE(service_->authenticate(second->access_token).has_value());
  auto third = service_->refresh(second->refresh_token);
  ASSERT_TRUE(third.has_value());

  // The first token is replayed: refused, and the live token of the family dies with it.
  auto replay = service_->refresh(first->refresh_token);
  ASSERT_FALSE(replay.has_value());
  expect_error(replay.error(), ErrorKind::kUnauthenticated, "InvalidRefreshToken");
  EXPECT_TRUE(repo_.has_audit("auth.refresh_reuse"));
  EXPECT_FALSE(service_->refresh(third->refresh_token).has_value());

  // Another session (another family) is unaffected.
  auto other = service_->login("max@example.com", kPassword, "b");
  ASSERT_TRUE(other.has_value());
  EXPECT_TRUE(service_->refresh(other->refresh_token).has_value());
}

TEST_F(IdentityServiceTest, RefreshRefusesExpiredAndUnknown) {
  verified_user("ned@example.com");
  auto t = service_->login("ned@example.com", kPassword, "a");
  ASSERT_TRUE(t.has_value());
  EXPECT_FALSE(service_->refresh("not-a-token").has_value());
  EXPECT_FALSE(service_->refresh("").has_value());
  now_ += config_.refresh_ttl.count();
  auto r = service_->refresh(t->refresh_token);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().name, "InvalidRefreshToken");
}

TEST_F(IdentityServiceTest, LogoutRevokesFamilyAndIsIdempotent) {
  verified_user("oda@example.com");
  auto t = service_->login("oda@example.com", kPassword, "a");
  ASSERT_TRUE(t.has_value());
  EXPECT_TRUE(service_->logout(t->refresh_token).has_value());
  EXPECT_FALSE(service_->refresh(t->refresh_token).has_value());
  EXPECT_TRUE(service_->logout(t->refresh_token).has_value());
  EXPECT_TRUE(service_->logout("unknown").has_value());
}

TEST_F(IdentityServiceTest, ChangePassword) {
  const std::string id = verified_user("pam@example.com");
  auto t = service_->login("pam@example.com", kPassword, "a");
  ASSERT_TRUE(t.has_value());
  auto wrong = service_->change_password(id, "not the password", "another long password");
  ASSERT_FALSE(wrong.has_value());
  expect_error(wrong.error(), ErrorKind::kUnauthenticated, "InvalidCredentials");
  auto weak = service_->change_password(id, kPassword, "short");
  ASSERT_FALSE(weak.has_value());
  expect_error(weak.error(), ErrorKind::kUnprocessable, "InvalidPassword");
  ASSERT_TRUE(service_->change_password(id, kPassword, "another long password").has_value());
  EXPECT_FALSE(service_->refresh(t->refresh_token).has_value());  // sessions revoked
  EXPECT_FALSE(service_->login("pam@example.com", kPassword, "a").has_value());
  EXPECT_TRUE(service_->login("pam@example.com", "another long password", "a").has_value());
}

TEST_F(IdentityServiceTest, ForgotAndResetPassword) {
  const std::string id = verified_user("quin@example.com");
  auto session = service_->login("quin@example.com", kPassword, "a");
  ASSERT_TRUE(session.has_value());
  auto unknown = service_->forgot_password("nobody@example.com");
  ASSERT_TRUE(unknown.has_value());
  EXPECT_FALSE(unknown->has_value());
  auto code = service_->forgot_password("QUIN@example.com");
  ASSERT_TRUE(code.has_value() && code->has_value());

  // A weak password does not consume an attempt; a wrong code does.
  auto weak = service_->reset_password("quin@example.com", **code, "short");
  ASSERT_FALSE(weak.has_value());
  EXPECT_EQ(weak.error().name, "InvalidPassword");
  const std::string wrong = **code == "000000" ? "111111" : "000000";
  auto bad = service_->reset_password("quin@example.com", wrong, "brand new password");
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().name, "InvalidCode");

  ASSERT_TRUE(service_->reset_password("quin@example.com", **code, "brand new password"));
  EXPECT_FALSE(service_->refresh(session->refresh_token).has_value());
  EXPECT_TRUE(service_->login("quin@example.com", "brand new password", "a").has_value());
  // Single use.
  auto again = service_->reset_password("quin@example.com", **code, "yet another password");
  ASSERT_FALSE(again.has_value());
  EXPECT_EQ(again.error().name, "InvalidCode");
  EXPECT_TRUE(repo_.has_audit("user.password_reset"));
  (void)id;
}

TEST_F(IdentityServiceTest, CodeSubmissionsAreLimitedPerAccountAcrossCodes) {
  // Issue 10 finding 2: forgot + guesses, forever. A new code must not buy new guesses.
  config_.max_code_failures_per_account = 5;
  config_.max_codes_per_account = 100;
  config_.reset_code_ttl = std::chrono::seconds(2 * 3600);  // outlives the limit's window
  rebuild();
  verified_user("sam@example.com");
  int checked = 0;
  int refused = 0;
  std::string last_code;
  for (int cycle = 0; cycle < 10; ++cycle) {
    auto code = service_->forgot_password("sam@example.com", "198.51.100.7");
    ASSERT_TRUE(code.has_value() && code->has_value());
    last_code = **code;
    const std::string wrong = last_code == "000000" ? "111111" : "000000";
    for (int i = 0; i < 2; ++i) {
      auto r =
          service_->reset_password("sam@example.com", wrong, "attacker password", "198.51.100.7");
      ASSERT_FALSE(r.has_value());
      if (r.error().name == "InvalidCode") ++checked;
      if (r.error().name == "TooManyAttempts") ++refused;
    }
  }
  EXPECT_EQ(checked, 5);
  EXPECT_EQ(refused, 15);
  EXPECT_TRUE(repo_.has_audit("code.limit_reached"));
  // Even the right code is refused until the window ends; then it works, and from another
  // address the account limit still applies.
  auto right =
      service_->reset_password("sam@example.com", last_code, "a new password!", "203.0.113.9");
  expect_error(right.error(), ErrorKind::kRateLimited, "TooManyAttempts");
  EXPECT_GT(service_->code_retry_after("sam@example.com", "203.0.113.9", false), 3000);
  now_ += config_.code_limit_window.count();
  EXPECT_TRUE(
      service_->reset_password("sam@example.com", last_code, "a new password!", "203.0.113.9"));
}

TEST_F(IdentityServiceTest, CodeSubmissionsAreLimitedPerAddress) {
  config_.max_code_failures_per_address = 4;
  rebuild();
  for (const char* email : {"a1@example.com", "a2@example.com", "a3@example.com"}) {
    verified_user(email);
    ASSERT_TRUE(service_->forgot_password(email, "2001:db8:1:2::10").has_value());
  }
  // The same /64 counts as one address; unknown accounts count too.
  std::vector<std::string> names;
  for (const char* email : {"a1@example.com", "a2@example.com", "nobody@example.com",
                            "a3@example.com", "a3@example.com"}) {
    names.push_back(
        service_->reset_password(email, "123", "a new password!", "2001:db8:1:2:ffff::1")
            .error()
            .name);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"InvalidCode", "InvalidCode", "InvalidCode",
                                             "InvalidCode", "TooManyAttempts"}));
  // Another /64 is another address.
  EXPECT_EQ(service_->reset_password("a3@example.com", "123", "a new password!", "2001:db8:1:3::1")
                .error()
                .name,
            "InvalidCode");
}

TEST_F(IdentityServiceTest, CodeIssuanceIsLimitedPerAccountAndAddress) {
  config_.max_codes_per_account = 2;
  config_.max_codes_per_address = 3;
  rebuild();
  verified_user("ida@example.com");
  EXPECT_TRUE(service_->forgot_password("ida@example.com", "192.0.2.1").has_value());
  EXPECT_TRUE(service_->forgot_password("ida@example.com", "192.0.2.2").has_value());
  auto third = service_->forgot_password("ida@example.com", "192.0.2.3");
  expect_error(third.error(), ErrorKind::kRateLimited, "TooManyAttempts");
  // Unknown emails and resend answer the same way (no account enumeration through 429s).
  EXPECT_TRUE(service_->resend_verification("ghost@example.com", "192.0.2.1").has_value());
  EXPECT_TRUE(service_->resend_verification("ghost@example.com", "192.0.2.1").has_value());
  auto ghost = service_->resend_verification("ghost@example.com", "192.0.2.2");
  expect_error(ghost.error(), ErrorKind::kRateLimited, "TooManyAttempts");
  // 192.0.2.1 asked three times: a fourth code from it is refused whatever the email.
  auto addr = service_->forgot_password("other@example.com", "192.0.2.1");
  expect_error(addr.error(), ErrorKind::kRateLimited, "TooManyAttempts");
  EXPECT_GT(service_->code_retry_after("other@example.com", "192.0.2.1", true), 3000);
  now_ += config_.code_limit_window.count();
  EXPECT_TRUE(service_->forgot_password("ida@example.com", "192.0.2.3").has_value());
}

TEST_F(IdentityServiceTest, SuccessfulCodeDeletesEveryOutstandingCode) {
  auto s = service_->sign_up("val@example.com", kPassword);
  ASSERT_TRUE(s.has_value());
  auto reset = service_->forgot_password("val@example.com");
  ASSERT_TRUE(reset.has_value() && reset->has_value());
  EXPECT_EQ(repo_.codes_.size(), 2u);
  ASSERT_TRUE(service_->reset_password("val@example.com", **reset, "brand new password"));
  EXPECT_TRUE(repo_.codes_.empty());
}

TEST_F(IdentityServiceTest, PasswordChangeAndResetMoveTheTokenGeneration) {
  const std::string id = verified_user("gen@example.com");
  auto before = service_->login("gen@example.com", kPassword, "a");
  ASSERT_TRUE(before.has_value());
  auto claims = service_->authenticate(before->access_token);
  ASSERT_TRUE(claims.has_value());
  EXPECT_EQ(claims->generation, 0);
  ASSERT_TRUE(service_->change_password(id, kPassword, "another long password"));
  EXPECT_EQ(repo_.users_[id].token_generation, 1);
  auto after = service_->login("gen@example.com", "another long password", "a");
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(service_->authenticate(after->access_token)->generation, 1);
  auto code = service_->forgot_password("gen@example.com");
  ASSERT_TRUE(code.has_value() && code->has_value());
  ASSERT_TRUE(service_->reset_password("gen@example.com", **code, "a third long password"));
  EXPECT_EQ(repo_.users_[id].token_generation, 2);
}

TEST(AddressKey, IPv4AsIsIPv6ByItsSlash64) {
  EXPECT_EQ(address_key("198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(address_key("::ffff:198.51.100.7"), "198.51.100.7");
  EXPECT_EQ(address_key("2001:db8:1:2::10"), "2001:0db8:0001:0002::/64");
  EXPECT_EQ(address_key("2001:DB8:1:2:ffff:ffff:ffff:ffff"), "2001:0db8:0001:0002::/64");
  EXPECT_NE(address_key("2001:db8:1:3::10"), address_key("2001:db8:1:2::10"));
  EXPECT_EQ(address_key("not an address"), "not an address");
  EXPECT_EQ(address_key(""), "");
}

TEST_F(IdentityServiceTest, ResetCodeExpiresAndVerificationCodeIsNotAResetCode) {
  auto s = service_->sign_up("ruth@example.com", kPassword);
  ASSERT_TRUE(s.has_value());
  // The email-verification code cannot reset the password (purpose-bound).
  auto cross = service_->reset_password("ruth@example.com", s->verification_code, "new long pass");
  ASSERT_FALSE(cross.has_value());
  EXPECT_EQ(cross.error().name, "InvalidCode");
  auto code = service_->forgot_password("ruth@example.com");
  ASSERT_TRUE(code.has_value() && code->has_value());
  now_ += config_.reset_code_ttl.count();
  auto late = service_->reset_password("ruth@example.com", **code, "new long pass");
  ASSERT_FALSE(late.has_value());
  EXPECT_EQ(late.error().name, "InvalidCode");
}

TEST_F(IdentityServiceTest, LoginUpgradesOutdatedHash) {
  const std::string id = verified_user("sam@example.com");
  const std::string old_hash = repo_.users_.at(id).password_hash;
  config_.password_hash = PasswordHashParams{2, 16384};
  rebuild();
  ASSERT_TRUE(service_->login("sam@example.com", kPassword, "a").has_value());
  const std::string new_hash = repo_.users_.at(id).password_hash;
  EXPECT_NE(new_hash, old_hash);
  EXPECT_EQ(new_hash.rfind("$argon2id$v=19$m=16,t=2,p=1$", 0), 0u);
  EXPECT_TRUE(service_->login("sam@example.com", kPassword, "a").has_value());
}

// ---- the verified-token cache behind authenticate() ----

namespace token_cache {

class TokenCacheTest : public IdentityServiceTest {
 protected:
  std::string token_for(const std::string& email) {
    verified_user(email);
    auto t = service_->login(email, kPassword, "10.0.0.9");
    EXPECT_TRUE(t.has_value());
    return t->access_token;
  }
};

TEST_F(TokenCacheTest, ExpiredTokenRefusedAtTheSameSecondWithOrWithoutCache) {
  const std::string token = token_for("exp@example.com");
  const std::int64_t refuse_from = kStart + config_.jwt.ttl.count() + config_.jwt.leeway.count();
  ASSERT_TRUE(service_->authenticate(token).has_value());  // verified and cached
  now_ = refuse_from - 1;
  EXPECT_TRUE(service_->authenticate(token).has_value());
  now_ = refuse_from;
  auto refused = service_->authenticate(token);
  ASSERT_FALSE(refused.has_value());
  expect_error(refused.error(), ErrorKind::kUnauthenticated, "TokenExpired");
}

TEST_F(TokenCacheTest, RetiredKeyRefusesCachedTokens) {
  const std::string token = token_for("retire@example.com");
  ASSERT_TRUE(service_->authenticate(token).has_value());
  // Rotate: a new signing key, then retire the old one.
  auto next = SigningKey::generate(Algorithm::kEdDsa, "k2");
  ASSERT_TRUE(ring_.set_signing_key(*next).has_value());
  ASSERT_TRUE(ring_.remove_verification_key("k1"));
  auto refused = service_->authenticate(token);
  ASSERT_FALSE(refused.has_value());
  expect_error(refused.error(), ErrorKind::kUnauthenticated, "InvalidToken");
}

TEST_F(TokenCacheTest, KidReusedByAnotherKeyRefusesCachedTokens) {
  const std::string token = token_for("kid@example.com");
  ASSERT_TRUE(service_->authenticate(token).has_value());
  auto other = SigningKey::generate(Algorithm::kEdDsa, "k9");
  ASSERT_TRUE(ring_.set_signing_key(*other).has_value());
  ASSERT_TRUE(ring_.remove_verification_key("k1"));
  // A different key under the old kid: the cached entry must not vouch for the token.
  auto impostor = SigningKey::generate(Algorithm::kEdDsa, "k1");
  ASSERT_TRUE(ring_.add_verification_key(impostor->verification_key()).has_value());
  EXPECT_FALSE(service_->authenticate(token).has_value());
}

TEST_F(TokenCacheTest, TamperedTokenIsNotTakenForTheCachedOne) {
  const std::string token = token_for("tamper@example.com");
  ASSERT_TRUE(service_->authenticate(token).has_value());
  std::string tampered = token;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(service_->authenticate(tampered).has_value());
  EXPECT_TRUE(service_->authenticate(token).has_value());
}

TEST(VerifiedTokenCache, HitsUntilRefuseFromAndStaysBounded) {
  auto key = SigningKey::generate(Algorithm::kEdDsa, "k1");
  ASSERT_TRUE(key.has_value());
  auto entry = [&](std::int64_t refuse_from) {
    TokenClaims claims;
    claims.subject = "u1";
    return VerifiedTokenCache::Entry{claims, key->verification_key(), refuse_from};
  };
  VerifiedTokenCache cache(3);
  cache.insert("token-a", entry(100), 10);
  ASSERT_NE(cache.find("token-a", 99), nullptr);
  EXPECT_EQ(cache.find("token-a", 99)->claims.subject, "u1");
  EXPECT_EQ(cache.find("token-b", 10), nullptr);   // another token is another key
  EXPECT_EQ(cache.find("token-a ", 10), nullptr);  // even one byte longer
  EXPECT_EQ(cache.find("token-a", 100), nullptr);  // refused from refuse_from on...
  EXPECT_EQ(cache.size(), 0u);                     // ...and dropped
  cache.insert("already-expired", entry(10), 10);
  EXPECT_EQ(cache.size(), 0u);

  for (int i = 0; i < 10; ++i) cache.insert("t" + std::to_string(i), entry(1000), 10);
  EXPECT_LE(cache.size(), 3u);
  EXPECT_NE(cache.find("t9", 10), nullptr);  // the newest is kept
}

}  // namespace token_cache

}  // namespace
}  // namespace sp::identity
