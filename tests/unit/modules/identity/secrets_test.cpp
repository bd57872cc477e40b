#include "smartproduct/identity/secrets.hpp"

#include <gtest/gtest.h>

#include <array>
#include <set>
#include <stdexcept>

#include "smartproduct/identity/base64url.hpp"

namespace sp::identity {
namespace {

TEST(Secrets, RefreshTokensAre32RandomBytes) {
  std::set<std::string> seen;
  for (int i = 0; i < 200; ++i) {
    const std::string t = generate_refresh_token();
    EXPECT_EQ(t.size(), 43u);
    const auto raw = base64url_decode(t);
    ASSERT_TRUE(raw.has_value());
    EXPECT_EQ(raw->size(), 32u);
    seen.insert(t);
  }
  EXPECT_EQ(seen.size(), 200u);
}

TEST(Secrets, HashTokenIsSha256Hex) {
  // FIPS 180-2 test vectors.
  EXPECT_EQ(hash_token("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(hash_token(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  const std::string t = generate_refresh_token();
  EXPECT_EQ(hash_token(t), hash_token(t));
  EXPECT_NE(hash_token(t), hash_token(generate_refresh_token()));
}

TEST(Secrets, ConstantTimeEqual) {
  EXPECT_TRUE(constant_time_equal("", ""));
  EXPECT_TRUE(constant_time_equal("abc", "abc"));
  EXPECT_FALSE(constant_time_equal("abc", "abd"));
  EXPECT_FALSE(constant_time_equal("abc", "ab"));
  EXPECT_FALSE(constant_time_equal("", "a"));
  EXPECT_FALSE(constant_time_equal(std::string_view("a\0b", 3), std::string_view("a\0c", 3)));
}

TEST(Secrets, NumericCodesHaveTheRightShape) {
  for (int digits = 1; digits <= 9; ++digits) {
    const std::string c = generate_numeric_code(digits);
    EXPECT_EQ(c.size(), static_cast<std::size_t>(digits));
    for (char ch : c) EXPECT_TRUE(ch >= '0' && ch <= '9') << c;
  }
  EXPECT_EQ(generate_numeric_code().size(), 6u);
  EXPECT_THROW(generate_numeric_code(0), std::invalid_argument);
  EXPECT_THROW(generate_numeric_code(10), std::invalid_argument);
}

TEST(Secrets, NumericCodeDigitsAreUniform) {
  // 60,000 six-digit codes: each position's digits should be uniform. Chi-square with 9 degrees
  // of freedom has a 1e-9 chance of exceeding 60, so a failure means bias, not bad luck.
  constexpr int kSamples = 60000;
  std::array<std::array<int, 10>, 6> counts{};
  std::set<std::string> distinct;
  for (int i = 0; i < kSamples; ++i) {
    const std::string c = generate_numeric_code(6);
    ASSERT_EQ(c.size(), 6u);
    for (int pos = 0; pos < 6; ++pos) ++counts[pos][c[pos] - '0'];
    distinct.insert(c);
  }
  const double expected = kSamples / 10.0;
  for (int pos = 0; pos < 6; ++pos) {
    double chi2 = 0;
    for (int d = 0; d < 10; ++d) {
      const double diff = counts[pos][d] - expected;
      chi2 += diff * diff / expected;
    }
    EXPECT_LT(chi2, 60.0) << "position " << pos;
  }
  // Birthday bound: about 1,800 expected collisions among 60,000 draws from 10^6.
  EXPECT_GT(distinct.size(), 55000u);
}

TEST(Secrets, CodeHasherBindsPurposeAccountAndCode) {
  const std::string pepper = CodeHasher::generate_pepper();
  ASSERT_EQ(pepper.size(), 32u);
  CodeHasher hasher(pepper);
  const std::string h = hasher.hash("verify-email", "user-1", "123456");
  EXPECT_EQ(h.size(), 64u);
  EXPECT_EQ(h, hasher.hash("verify-email", "user-1", "123456"));
  EXPECT_NE(h, hasher.hash("reset-password", "user-1", "123456"));
  EXPECT_NE(h, hasher.hash("verify-email", "user-2", "123456"));
  EXPECT_NE(h, hasher.hash("verify-email", "user-1", "123457"));
  // Field boundaries are unambiguous.
  EXPECT_NE(hasher.hash("ab", "c", "1"), hasher.hash("a", "bc", "1"));
  EXPECT_TRUE(hasher.verify("verify-email", "user-1", "123456", h));
  EXPECT_FALSE(hasher.verify("verify-email", "user-1", "654321", h));
  EXPECT_FALSE(hasher.verify("verify-email", "user-1", "123456", h.substr(1)));

  CodeHasher other(CodeHasher::generate_pepper());
  EXPECT_NE(other.hash("verify-email", "user-1", "123456"), h);
  EXPECT_THROW(CodeHasher(std::string(31, 'x')), std::invalid_argument);
}

TEST(Secrets, CodeHasherKnownAnswer) {
  // HMAC-SHA-256 over len64be(field)||field for each field, computed independently with
  // `openssl mac` (see the report); guards the storage format against accidental change.
  CodeHasher hasher(std::string(32, 'k'));
  EXPECT_EQ(hasher.hash("p", "a", "1"),
            "0f4ee56a5108c5ac9eaeb09020ab4819021d945a7803d770bcfad97e70fa7a59");
}

}  // namespace
}  // namespace sp::identity
