#include "smartproduct/identity/password.hpp"

#include <gtest/gtest.h>
#include <sodium.h>

#include <stdexcept>

namespace sp::identity {
namespace {

// The cheapest Argon2id params libsodium allows, so the suite stays fast. One test uses defaults.
constexpr PasswordHashParams kFast{1, 8192};

TEST(PasswordHasher, HashesWithArgon2idAndVerifies) {
  PasswordHasher hasher(kFast);
  auto hash = hasher.hash("correct horse battery staple");
  ASSERT_TRUE(hash.has_value());
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=8,t=1,p=1$", 0), 0u) << *hash;
  EXPECT_TRUE(hasher.verify(*hash, "correct horse battery staple"));
  EXPECT_FALSE(hasher.verify(*hash, "correct horse battery stapl"));
  EXPECT_FALSE(hasher.verify(*hash, "Correct horse battery staple"));
  EXPECT_FALSE(hasher.verify(*hash, ""));
}

TEST(PasswordHasher, SaltsEveryHash) {
  PasswordHasher hasher(kFast);
  auto a = hasher.hash("same password");
  auto b = hasher.hash("same password");
  ASSERT_TRUE(a && b);
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(hasher.verify(*a, "same password"));
  EXPECT_TRUE(hasher.verify(*b, "same password"));
}

TEST(PasswordHasher, DefaultParamsAreInteractive) {
  PasswordHasher hasher;
  EXPECT_EQ(hasher.params().opslimit, crypto_pwhash_OPSLIMIT_INTERACTIVE);
  EXPECT_EQ(hasher.params().memlimit, crypto_pwhash_MEMLIMIT_INTERACTIVE);
  auto hash = hasher.hash("pa55word-default");
  ASSERT_TRUE(hash.has_value());
  EXPECT_EQ(hash->rfind("$argon2id$v=19$m=65536,t=2,p=1$", 0), 0u) << *hash;
  EXPECT_TRUE(hasher.verify(*hash, "pa55word-default"));
  EXPECT_FALSE(hasher.needs_rehash(*hash));
}

TEST(PasswordHasher, MalformedHashesDoNotVerify) {
  PasswordHasher hasher(kFast);
  auto hash = hasher.hash("pw");
  ASSERT_TRUE(hash.has_value());
  EXPECT_FALSE(hasher.verify("", "pw"));
  EXPECT_FALSE(hasher.verify("$argon2id$", "pw"));
  EXPECT_FALSE(hasher.verify("plaintext-pw", "pw"));
  EXPECT_FALSE(hasher.verify(std::string(500, '$'), "pw"));
  std::string broken = *hash;
  broken.back() = broken.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(hasher.verify(broken, "pw"));
  // A password containing NUL bytes is hashed in full, not truncated at the NUL.
  auto nul = hasher.hash(std::string_view("ab\0cd", 5));
  ASSERT_TRUE(nul.has_value());
  EXPECT_FALSE(hasher.verify(*nul, "ab"));
  EXPECT_TRUE(hasher.verify(*nul, std::string_view("ab\0cd", 5)));
}

TEST(PasswordHasher, NeedsRehashWhenParamsOrAlgorithmDiffer) {
  PasswordHasher fast(kFast);
  PasswordHasher stronger(PasswordHashParams{2, 16384});
  auto hash = fast.hash("pw");
  ASSERT_TRUE(hash.has_value());
  EXPECT_FALSE(fast.needs_rehash(*hash));
  EXPECT_TRUE(stronger.needs_rehash(*hash));
  EXPECT_TRUE(fast.needs_rehash("garbage"));
  EXPECT_TRUE(fast.needs_rehash(""));

  // A legacy Argon2i hash still verifies but must be upgraded.
  char argon2i[crypto_pwhash_STRBYTES];
  ASSERT_EQ(crypto_pwhash_str_alg(argon2i, "pw", 2, 3, 8192, crypto_pwhash_ALG_ARGON2I13), 0);
  EXPECT_EQ(std::string(argon2i).rfind("$argon2i$", 0), 0u);
  EXPECT_TRUE(fast.verify(argon2i, "pw"));
  EXPECT_TRUE(fast.needs_rehash(argon2i));
}

TEST(PasswordHasher, RefusesOverlongPasswords) {
  PasswordHasher hasher(kFast);
  auto r = hasher.hash(std::string(kMaxPasswordBytes + 1, 'x'));
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().kind, ErrorKind::kUnprocessable);
  EXPECT_TRUE(hasher.hash(std::string(kMaxPasswordBytes, 'x')).has_value());
}

TEST(PasswordHasher, RejectsOutOfRangeParams) {
  EXPECT_THROW(PasswordHasher(PasswordHashParams{0, 8192}), std::invalid_argument);
  EXPECT_THROW(PasswordHasher(PasswordHashParams{1, 1024}), std::invalid_argument);
}

}  // namespace
}  // namespace sp::identity
