#include "smartproduct/identity/base64url.hpp"

#include <gtest/gtest.h>

namespace sp::identity {
namespace {

TEST(Base64Url, EncodesRfc4648VectorsWithoutPadding) {
  // RFC 4648 §10 test vectors, with '=' removed (base64url alphabet is identical for these).
  EXPECT_EQ(base64url_encode(""), "");
  EXPECT_EQ(base64url_encode("f"), "Zg");
  EXPECT_EQ(base64url_encode("fo"), "Zm8");
  EXPECT_EQ(base64url_encode("foo"), "Zm9v");
  EXPECT_EQ(base64url_encode("foob"), "Zm9vYg");
  EXPECT_EQ(base64url_encode("fooba"), "Zm9vYmE");
  EXPECT_EQ(base64url_encode("foobar"), "Zm9vYmFy");
}

TEST(Base64Url, UsesUrlAlphabet) {
  EXPECT_EQ(base64url_encode("\xfb\xff\xbf"), "-_-_");
  EXPECT_EQ(base64url_decode("-_-_"), std::string("\xfb\xff\xbf"));
}

TEST(Base64Url, RoundTripsAllLengthsAndBytes) {
  std::string data;
  for (int i = 0; i < 300; ++i) {
    data.push_back(static_cast<char>((i * 37 + 11) & 0xFF));
    const auto decoded = base64url_decode(base64url_encode(data));
    ASSERT_TRUE(decoded.has_value()) << i;
    EXPECT_EQ(*decoded, data);
  }
}

TEST(Base64Url, RejectsPadding) {
  EXPECT_FALSE(base64url_decode("Zg==").has_value());
  EXPECT_FALSE(base64url_decode("Zm8=").has_value());
  EXPECT_FALSE(base64url_decode("Zm9v=").has_value());
}

TEST(Base64Url, RejectsCharactersOutsideAlphabet) {
  EXPECT_FALSE(base64url_decode("+/+/").has_value());  // standard base64 alphabet
  EXPECT_FALSE(base64url_decode("Zm9v YmFy").has_value());
  EXPECT_FALSE(base64url_decode("Zm9v\nYmFy").has_value());
  EXPECT_FALSE(base64url_decode(std::string_view("Zm\0v", 4)).has_value());
  EXPECT_FALSE(base64url_decode("Zm9v*").has_value());
}

TEST(Base64Url, RejectsImpossibleLength) {
  EXPECT_FALSE(base64url_decode("Z").has_value());
  EXPECT_FALSE(base64url_decode("Zm9vY").has_value());
}

TEST(Base64Url, RejectsNonCanonicalTrailingBits) {
  // "Zg" is 'f'; "Zh".."Zv" carry the same byte with non-zero unused bits.
  EXPECT_TRUE(base64url_decode("Zg").has_value());
  EXPECT_FALSE(base64url_decode("Zh").has_value());
  EXPECT_FALSE(base64url_decode("Zv").has_value());
  EXPECT_TRUE(base64url_decode("Zm8").has_value());
  EXPECT_FALSE(base64url_decode("Zm9").has_value());
}

}  // namespace
}  // namespace sp::identity
