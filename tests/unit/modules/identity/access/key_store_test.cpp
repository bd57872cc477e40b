// Signing-key files: first key, rotation with a retire time, loading into a KeyRing, the pepper.

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

#include "smartproduct/identity/jwt.hpp"
#include "smartproduct/identity/key_store.hpp"

namespace sp::identity {
namespace {

namespace fs = std::filesystem;

class KeyStoreTest : public ::testing::Test {
 protected:
  KeyStoreTest() {
    std::string pattern = (fs::temp_directory_path() / "sp-keys-test-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp");
    root_ = pattern;
  }
  ~KeyStoreTest() override {
    std::error_code ec;
    fs::remove_all(root_, ec);
  }
  fs::path root_;
};

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 0777;
}

TEST_F(KeyStoreTest, EnsureCreatesOneActiveKeyOnceWithPrivateFiles) {
  KeyStore store(root_ / "keys");
  ASSERT_TRUE(store.ensure(Algorithm::kEs256, 1000));
  auto keys = store.list();
  ASSERT_TRUE(keys);
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_TRUE((*keys)[0].active);
  EXPECT_EQ((*keys)[0].algorithm, Algorithm::kEs256);
  EXPECT_EQ(mode_of(root_ / "keys" / ("jwt-" + (*keys)[0].kid + ".pem")), 0600u);
  EXPECT_EQ(mode_of(root_ / "keys"), 0700u);
  ASSERT_TRUE(store.ensure(Algorithm::kEs256, 2000));
  auto again = store.list();
  ASSERT_TRUE(again);
  ASSERT_EQ(again->size(), 1u);
  EXPECT_EQ((*again)[0].kid, (*keys)[0].kid) << "ensure must not replace an existing key";
}

TEST_F(KeyStoreTest, RotationKeepsOldKeyVerifyingUntilItRetires) {
  KeyStore store(root_ / "keys");
  ASSERT_TRUE(store.ensure(Algorithm::kEdDsa, 1000));
  KeyRing ring;
  ASSERT_TRUE(store.load_into(ring, 1000));
  const std::string old_kid = ring.signing_key()->kid();

  std::int64_t now = 1500;
  JwtService jwt(ring, JwtOptions{}, [&] { return now; });
  auto old_token = jwt.issue(TokenSubject{"u1", "a@example.com", "user"});
  ASSERT_TRUE(old_token);

  auto rotated = store.rotate(Algorithm::kEs256, 1600, 900);
  ASSERT_TRUE(rotated);
  EXPECT_NE(rotated->kid, old_kid);
  ASSERT_TRUE(store.load_into(ring, 1600));
  EXPECT_EQ(ring.signing_key()->kid(), rotated->kid);
  EXPECT_EQ(ring.kids().size(), 2u);
  now = 1700;
  EXPECT_TRUE(jwt.validate(old_token->token)) << "old tokens keep verifying after rotation";
  auto new_token = jwt.issue(TokenSubject{"u1", "a@example.com", "user"});
  ASSERT_TRUE(new_token);
  auto claims = jwt.validate(new_token->token);
  ASSERT_TRUE(claims);
  EXPECT_EQ(claims->key_id, rotated->kid);

  // After the retire time the old key leaves the ring (and the JWKS).
  ASSERT_TRUE(store.load_into(ring, 1600 + 900));
  EXPECT_EQ(ring.kids().size(), 1u);
  EXPECT_FALSE(ring.find(old_kid));
  EXPECT_FALSE(jwt.validate(old_token->token));
  // The next rotation deletes its file.
  ASSERT_TRUE(store.rotate(Algorithm::kEs256, 1600 + 1000, 900));
  EXPECT_FALSE(fs::exists(root_ / "keys" / ("jwt-" + old_kid + ".pem")));
}

TEST_F(KeyStoreTest, StampChangesOnRotation) {
  KeyStore store(root_ / "keys");
  ASSERT_TRUE(store.ensure(Algorithm::kEs256, 1000));
  const auto before = store.manifest_stamp();
  EXPECT_FALSE(before.empty());
  ASSERT_TRUE(store.rotate(Algorithm::kEs256, 1001, 900));
  EXPECT_NE(store.manifest_stamp(), before);
}

TEST_F(KeyStoreTest, CorruptManifestIsAnError) {
  KeyStore store(root_ / "keys");
  ASSERT_TRUE(store.ensure(Algorithm::kEs256, 1000));
  {
    std::ofstream out(root_ / "keys" / "keys.json", std::ios::trunc);
    out << R"({"active":"../../etc/passwd","keys":[{"kid":"../../etc/passwd","alg":"ES256","createdAt":1}]})";
  }
  KeyRing ring;
  EXPECT_FALSE(store.load_into(ring, 1000)) << "kids with path characters are refused";
}

TEST_F(KeyStoreTest, PepperIsCreatedOnceWithMode0600) {
  KeyStore store(root_ / "keys");
  auto p1 = store.load_or_create_pepper();
  ASSERT_TRUE(p1);
  EXPECT_EQ(p1->size(), 64u);
  EXPECT_EQ(mode_of(root_ / "keys" / "code-pepper"), 0600u);
  auto p2 = store.load_or_create_pepper();
  ASSERT_TRUE(p2);
  EXPECT_EQ(*p1, *p2);
}

}  // namespace
}  // namespace sp::identity
