// The request authenticator: token extraction, JWT validation, and the per-request user check
// that makes disabled and deleted accounts lose access at once.

#include <gtest/gtest.h>

#include "../fake_user_repository.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/identity/routes.hpp"

namespace sp::identity {
namespace {

TEST(TokenFromAuthorization, AcceptsBearerAndBareTokens) {
  EXPECT_EQ(token_from_authorization("Bearer abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(token_from_authorization("bearer   abc"), "abc");
  EXPECT_EQ(token_from_authorization("abc.def.ghi"), "abc.def.ghi");
  EXPECT_EQ(token_from_authorization("  abc  "), "abc");
  EXPECT_FALSE(token_from_authorization(""));
  EXPECT_FALSE(token_from_authorization("Basic dXNlcjpwYXNz"));
  EXPECT_FALSE(token_from_authorization("Bearer "));
  EXPECT_FALSE(token_from_authorization("Bearer a b"));
}

TEST(RefreshCookie, FindsTheCookieAmongOthers) {
  EXPECT_EQ(refresh_cookie("a=1; sp_refresh=tok; b=2"), std::optional<std::string>("tok"));
  EXPECT_EQ(refresh_cookie("sp_refresh=\"tok\""), std::optional<std::string>("tok"));
  EXPECT_FALSE(refresh_cookie("sp_refreshx=1; x_sp_refresh=2"));
  EXPECT_FALSE(refresh_cookie("sp_refresh="));
  EXPECT_FALSE(refresh_cookie(""));
}

class AuthenticatorTest : public ::testing::Test {
 protected:
  AuthenticatorTest()
      : service_(make_config(), repo_, ring_, CodeHasher(std::string(32, 'p')),
                 [this] { return now_; }) {
    auto key = SigningKey::generate(Algorithm::kEdDsa);
    EXPECT_TRUE(key);
    EXPECT_TRUE(ring_.set_signing_key(*key));
  }

  static IdentityConfig make_config() {
    IdentityConfig c;
    // Cheap hashing: these tests are about tokens, not Argon2 cost.
    c.password_hash.opslimit = 1;
    c.password_hash.memlimit = 8 * 1024;
    return c;
  }

  std::string sign_in(Role role = Role::kUser) {
    auto up = service_.sign_up("Ann@Example.com", "correct horse battery");
    EXPECT_TRUE(up);
    auto& u = repo_.users_[up->user.id];
    u.email_verified = true;
    u.role = role;
    user_id_ = up->user.id;
    auto t = service_.login("ann@example.com", "correct horse battery", "127.0.0.1");
    EXPECT_TRUE(t) << (t ? "" : t.error().name);
    return t ? t->access_token : std::string();
  }

  static http::Request request_with(std::string authorization) {
    http::Request r;
    r.method = "GET";
    r.path = "/api/x";
    if (!authorization.empty()) r.headers.emplace_back("authorization", std::move(authorization));
    return r;
  }

  std::int64_t now_ = 1700000000;
  test::FakeUserRepository repo_;
  KeyRing ring_;
  IdentityService service_;
  std::string user_id_;
};

TEST_F(AuthenticatorTest, ValidTokenGivesThePrincipalFromTheUserRow) {
  const auto token = sign_in();
  Authenticator auth(service_, repo_);
  auto p = auth.authenticate(request_with("Bearer " + token));
  ASSERT_TRUE(p) << p.error().name;
  EXPECT_EQ(p->user_id, user_id_);
  EXPECT_EQ(p->email, "ann@example.com");
  EXPECT_FALSE(p->is_admin());
  // The bare token (the seed console's form) works too.
  EXPECT_TRUE(auth.authenticate(request_with(token)));
  // A role change applies at once, whatever the token says.
  repo_.users_[user_id_].role = Role::kAdmin;
  p = auth.authenticate(request_with("Bearer " + token));
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->is_admin());
}

TEST_F(AuthenticatorTest, PasswordChangeRefusesEarlierTokensEvenWhenCached) {
  const auto token = sign_in();
  Authenticator auth(service_, repo_);
  ASSERT_TRUE(auth.authenticate(request_with("Bearer " + token)));  // now in the token cache
  ASSERT_TRUE(service_.change_password(user_id_, "correct horse battery", "a new long password"));
  auto old = auth.authenticate(request_with("Bearer " + token));
  ASSERT_FALSE(old);
  EXPECT_EQ(old.error().kind, ErrorKind::kUnauthenticated);
  EXPECT_EQ(old.error().name, "InvalidToken");
  // A token issued after the change (same second) works.
  auto fresh = service_.login("ann@example.com", "a new long password", "127.0.0.1");
  ASSERT_TRUE(fresh);
  EXPECT_TRUE(auth.authenticate(request_with("Bearer " + fresh->access_token)));
}

TEST_F(AuthenticatorTest, MissingGarbageDisabledAndDeletedAreUnauthenticated) {
  const auto token = sign_in();
  Authenticator auth(service_, repo_);
  for (const std::string& header :
       {std::string(), std::string("Bearer"), std::string("Basic abc"), std::string("Bearer x.y.z"),
        "Bearer " + token.substr(0, token.size() - 3)}) {
    auto p = auth.authenticate(request_with(header));
    ASSERT_FALSE(p) << header;
    EXPECT_EQ(p.error().kind, ErrorKind::kUnauthenticated) << header;
  }
  repo_.users_[user_id_].enabled = false;
  auto disabled = auth.authenticate(request_with("Bearer " + token));
  ASSERT_FALSE(disabled);
  EXPECT_EQ(disabled.error().kind, ErrorKind::kUnauthenticated);
  repo_.users_.erase(user_id_);
  auto deleted = auth.authenticate(request_with("Bearer " + token));
  ASSERT_FALSE(deleted);
  EXPECT_EQ(deleted.error().kind, ErrorKind::kUnauthenticated);
}

TEST_F(AuthenticatorTest, ProtectWrappersAnswer401And403) {
  const auto token = sign_in();
  Authenticator auth(service_, repo_);
  int calls = 0;
  auto handler = [&](http::Request& req, const Principal& p) {
    ++calls;
    EXPECT_EQ(principal_of(req), &p);
    return http::Response::json(200, {{"ok", true}});
  };
  auto open = auth.protect(handler);
  auto admin_only = auth.protect_admin(handler);

  auto none = request_with("");
  auto r = open(none);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(r.body.find("\"code\":401"), std::string::npos);
  bool has_www = false;
  for (const auto& [k, v] : r.headers) has_www = has_www || k == "www-authenticate";
  EXPECT_TRUE(has_www);

  auto good = request_with("Bearer " + token);
  EXPECT_EQ(open(good).status, 200);
  auto good2 = request_with("Bearer " + token);
  EXPECT_EQ(admin_only(good2).status, 403);
  EXPECT_EQ(calls, 1);
}

}  // namespace
}  // namespace sp::identity
