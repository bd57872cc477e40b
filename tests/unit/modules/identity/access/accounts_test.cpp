// Account administration: profile validation, admin patches and deletes, self-protection, audit.

#include <gtest/gtest.h>

#include "fake_account_repository.hpp"
#include "smartproduct/identity/accounts.hpp"

namespace sp::identity {
namespace {

TEST(CheckPhone, AcceptsE164Only) {
  EXPECT_EQ(check_phone("+15551234567").value(), "+15551234567");
  EXPECT_EQ(check_phone("").value(), "");
  EXPECT_EQ(check_phone("  +4930123456 ").value(), "+4930123456");
  for (const char* bad : {"15551234567", "+0551234567", "+1555", "+1555123456789012", "+1 555 1234",
                          "+1555abc4567"}) {
    auto r = check_phone(bad);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::kUnprocessable);
    EXPECT_EQ(r.error().name, "InvalidPhone");
  }
}

TEST(CheckName, TrimsAndRefusesEmptyOrControl) {
  EXPECT_EQ(check_name("  Ada Lovelace ", true).value(), "Ada Lovelace");
  EXPECT_FALSE(check_name("   ", true));
  EXPECT_EQ(check_name("", false).value(), "");
  EXPECT_FALSE(check_name("a\nb", true));
  EXPECT_FALSE(check_name(std::string(kMaxNameBytes + 1, 'x'), true));
}

class AccountServiceTest : public ::testing::Test {
 protected:
  AccountServiceTest() : accounts_(users_), service_(users_, accounts_, [] { return 5000; }) {
    add("admin", "root@example.com", Role::kAdmin);
    add("u1", "u1@example.com", Role::kUser);
  }
  void add(std::string id, std::string email, Role role) {
    users_.users_[id] = User{id, email, "h", role, true, true, 1, 1};
  }
  test::FakeUserRepository users_;
  test::FakeAccountRepository accounts_;
  AccountService service_;
};

TEST_F(AccountServiceTest, DisableRevokesSessionsAndIsAudited) {
  users_.tokens_["t"] = RefreshTokenRecord{"t", "f", "u1", 1, 99999, std::nullopt, false};
  auto r = service_.patch("admin", "u1", AccountPatch{false, std::nullopt});
  ASSERT_TRUE(r) << r.error().name;
  EXPECT_FALSE(r->user.enabled);
  EXPECT_FALSE(users_.users_["u1"].enabled);
  EXPECT_TRUE(users_.tokens_["t"].revoked);
  ASSERT_EQ(users_.audit_.size(), 1u);
  EXPECT_EQ(users_.audit_[0].actor, "admin");
  EXPECT_EQ(users_.audit_[0].action, "admin.user_updated");
  EXPECT_EQ(users_.audit_[0].target, "u1");
  EXPECT_NE(users_.audit_[0].detail.find("\"enabled\":false"), std::string::npos);
}

TEST_F(AccountServiceTest, RoleChangeAndNoOpPatch) {
  auto r = service_.patch("admin", "u1", AccountPatch{std::nullopt, Role::kAdmin});
  ASSERT_TRUE(r);
  EXPECT_EQ(users_.users_["u1"].role, Role::kAdmin);
  const auto audited = users_.audit_.size();
  auto same = service_.patch("admin", "u1", AccountPatch{true, Role::kAdmin});
  ASSERT_TRUE(same);
  EXPECT_EQ(users_.audit_.size(), audited) << "a patch that changes nothing is not audited";
}

TEST_F(AccountServiceTest, AdminsCannotDisableDemoteOrDeleteThemselves) {
  for (const auto& patch :
       {AccountPatch{false, std::nullopt}, AccountPatch{std::nullopt, Role::kUser}}) {
    auto r = service_.patch("admin", "admin", patch);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::kConflict);
    EXPECT_EQ(r.error().name, "CannotModifySelf");
  }
  auto d = service_.remove("admin", "admin");
  ASSERT_FALSE(d);
  EXPECT_EQ(d.error().name, "CannotModifySelf");
  EXPECT_TRUE(users_.users_["admin"].enabled);
  EXPECT_EQ(users_.users_["admin"].role, Role::kAdmin);
}

TEST_F(AccountServiceTest, DeleteAndUnknownUsers) {
  ASSERT_TRUE(service_.remove("admin", "u1"));
  EXPECT_FALSE(users_.users_.count("u1"));
  EXPECT_TRUE(users_.has_audit("admin.user_deleted"));
  auto again = service_.remove("admin", "u1");
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().kind, ErrorKind::kNotFound);
  auto patch = service_.patch("admin", "ghost", AccountPatch{true, std::nullopt});
  ASSERT_FALSE(patch);
  EXPECT_EQ(patch.error().kind, ErrorKind::kNotFound);
}

TEST_F(AccountServiceTest, CreateVerifiedHashesAndValidates) {
  IdentityConfig config;
  config.password_hash.opslimit = 1;
  config.password_hash.memlimit = 8 * 1024;
  auto weak =
      service_.create_verified(config, "new@example.com", "short", Role::kAdmin, "", "", "");
  ASSERT_FALSE(weak);
  EXPECT_EQ(weak.error().name, "InvalidPassword");
  auto dup = service_.create_verified(config, "U1@example.com", "long enough password", Role::kUser,
                                      "", "", "");
  ASSERT_FALSE(dup);
  EXPECT_EQ(dup.error().kind, ErrorKind::kConflict);
  auto made = service_.create_verified(config, " New@Example.com ", "long enough password",
                                       Role::kAdmin, "Op", "+15551234567", "");
  ASSERT_TRUE(made) << made.error().name;
  EXPECT_EQ(made->user.email, "new@example.com");
  EXPECT_TRUE(made->user.email_verified);
  EXPECT_EQ(made->user.role, Role::kAdmin);
  EXPECT_NE(made->user.password_hash.find("$argon2id$"), std::string::npos);
  EXPECT_EQ(accounts_.profiles_[made->user.id].phone, "+15551234567");
}

}  // namespace
}  // namespace sp::identity
