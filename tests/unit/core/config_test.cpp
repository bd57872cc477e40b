#include "smartproduct/core/config.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/ids.hpp"

namespace fs = std::filesystem;

namespace {

class ConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sp-config-" + sp::ids::random_hex(6));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path write(const std::string& text) {
    auto p = dir_ / "smartproduct.toml";
    std::ofstream(p) << text;
    return p;
  }
  fs::path dir_;
};

TEST_F(ConfigTest, DefaultsAndRelativePaths) {
  auto r = sp::config::load_daemon_config(write("[http]\nport = 9443\n"));
  ASSERT_TRUE(r.errors.empty()) << r.errors.front();
  EXPECT_EQ(r.config->http.port, 9443);
  EXPECT_EQ(r.config->http.cert, dir_ / "pki/https.crt");
  EXPECT_EQ(r.config->storage.data_dir, dir_ / "data");
  EXPECT_EQ(r.config->broker.mode, sp::config::BrokerSettings::Mode::kManaged);
  ASSERT_TRUE(r.config->document);
}

TEST_F(ConfigTest, UnknownKeyIsAnErrorWithLine) {
  auto r = sp::config::load_daemon_config(write("[http]\nport = 8443\nprot = 1\n"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("smartproduct.toml:3:1: [http] prot: unknown key"), std::string::npos)
      << r.errors[0];
  EXPECT_FALSE(r.config.has_value());
}

TEST_F(ConfigTest, WrongTypeAndRangeAllReportedModuleSectionsLeftToModules) {
  auto r = sp::config::load_daemon_config(
      write("[htp]\nx=1\n[http]\nport = \"x\"\n[broker]\nport = 70000\nmode = \"cloud\"\n"));
  ASSERT_EQ(r.errors.size(), 3u);
  EXPECT_NE(r.errors[0].find(":4:8: [http] port: must be an integer"), std::string::npos)
      << r.errors[0];
  EXPECT_NE(r.errors[1].find("[broker] mode: must be one of"), std::string::npos) << r.errors[1];
  EXPECT_NE(r.errors[2].find("[broker] port: must be between 1 and 65535"), std::string::npos)
      << r.errors[2];
  ASSERT_TRUE(r.document);  // parsed: the daemon still reads every module's section from it
}

TEST_F(ConfigTest, SectionReportsUnknownKeysAndPositionsCrossFieldErrors) {
  std::vector<std::string> errors;
  auto doc = sp::config::Document::parse(write("[mod]\nlimit = 5\nextra = true\n"), errors);
  ASSERT_TRUE(doc);
  auto s = doc->section("mod", errors);
  EXPECT_TRUE(s.present());
  EXPECT_EQ(s.integer("limit", 1, 0, 10), 5);
  EXPECT_EQ(s.string("name", "dflt"), "dflt");  // absent: the fallback
  s.error("limit", "must be even");
  s.finish();
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("smartproduct.toml:2:9: [mod] limit: must be even"), std::string::npos)
      << errors[0];
  EXPECT_NE(errors[1].find("smartproduct.toml:3:1: [mod] extra: unknown key"), std::string::npos)
      << errors[1];
}

TEST_F(ConfigTest, CheckSectionsNamesEveryUnknownSection) {
  std::vector<std::string> errors;
  auto doc = sp::config::Document::parse(write("[log]\n[htp]\nx=1\n"), errors);
  ASSERT_TRUE(doc);
  doc->check_sections({"log", "http"}, errors);
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_NE(errors[0].find("smartproduct.toml:2:2: unknown section or key 'htp'"),
            std::string::npos)
      << errors[0];
}

TEST_F(ConfigTest, SyntaxErrorHasPosition) {
  auto r = sp::config::load_daemon_config(write("[http\nport = 1\n"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("smartproduct.toml:1:"), std::string::npos) << r.errors[0];
}

// toml++ 3.3 has undefined behaviour when it asks whether some non-ASCII code points are whitespace
// (marzer/tomlplusplus#295, found here by config_fuzz). Those are refused with their position
// anywhere in the file, before toml++ parses; the same text as a \uXXXX escape is accepted.
std::string utf8(char32_t c) {
  std::string s;
  if (c < 0x800) {
    s += static_cast<char>(0xC0 | (c >> 6));
  } else {
    s += static_cast<char>(0xE0 | (c >> 12));
    s += static_cast<char>(0x80 | ((c >> 6) & 0x3F));
  }
  s += static_cast<char>(0x80 | (c & 0x3F));
  return s;
}

TEST_F(ConfigTest, CharactersTomlppMishandlesAreRefusedAnywhere) {
  // Bare value (the config_fuzz finding had a quote in it), comment, single-line and multi-line
  // strings: refused in each, with line and column.
  for (const std::string& doc :
       {std::string("[http]\nport = 8443'x\xC3\xA9\n"), std::string("[http]\n# caf\xC3\xA9\n"),
        std::string("[log]\nlevel = \"\xC3\xA9\"\n"),
        std::string("[log]\nlevel = \"\"\"\\\xC3\xA9\"\"\"\n")}) {
    auto r = sp::config::load_daemon_config(write(doc));
    ASSERT_EQ(r.errors.size(), 1u) << doc;
    EXPECT_NE(r.errors[0].find("U+00E9 cannot appear"), std::string::npos) << r.errors[0];
    EXPECT_NE(r.errors[0].find("smartproduct.toml:2:"), std::string::npos) << r.errors[0];
  }
  auto at = sp::config::load_daemon_config(write("[http]\nport = 8443 \xC3\xA9\n"));
  ASSERT_EQ(at.errors.size(), 1u);
  EXPECT_NE(at.errors[0].find("smartproduct.toml:2:13: U+00E9"), std::string::npos) << at.errors[0];
  // The first and last code point of each refused range, and their neighbours that are not.
  const std::pair<char32_t, char32_t> ranges[] = {
      {0xA1, 0x499}, {0x2C5E, 0x2FFF}, {0x3001, 0x3057}, {0xFB26, 0xFEFE}};
  for (auto [first, last] : ranges) {
    for (char32_t c : {first, last}) {
      auto r = sp::config::load_daemon_config(write("# " + utf8(c) + "\n"));
      EXPECT_EQ(r.errors.size(), 1u) << std::hex << static_cast<unsigned>(c);
    }
    for (char32_t c : {first - 1, last + 1}) {
      auto r = sp::config::load_daemon_config(write("# " + utf8(c) + "\n[http]\nport = 9443\n"));
      EXPECT_TRUE(r.errors.empty()) << std::hex << static_cast<unsigned>(c) << ": "
                                    << (r.errors.empty() ? "" : r.errors.front());
    }
  }
  auto fine = sp::config::load_daemon_config(
      write("[http]\nport = 9443\n[storage]\ndata_dir = \"/srv/caf\\u00E9\"\n"));
  ASSERT_TRUE(fine.errors.empty()) << fine.errors.front();
  EXPECT_EQ(fine.config->http.port, 9443);
  EXPECT_EQ(fine.config->storage.data_dir, fs::path("/srv/caf\xC3\xA9"));
}

TEST_F(ConfigTest, MissingFile) {
  auto r = sp::config::load_daemon_config(dir_ / "nope.toml");
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("cannot open"), std::string::npos);
}

TEST_F(ConfigTest, ConsoleNeedsApi) {
  auto r = sp::config::load_daemon_config(write("[api]\nenabled = false\n"));
  ASSERT_EQ(r.errors.size(), 1u);
  EXPECT_NE(r.errors[0].find("needs [api]"), std::string::npos);
}

TEST(Clock, Iso8601) {
  EXPECT_EQ(sp::iso8601_ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(sp::iso8601_ms(1558107955123), "2019-05-17T15:45:55.123Z");
  EXPECT_EQ(sp::iso8601_ms(-1), "1969-12-31T23:59:59.999Z");
}

TEST(Ids, UuidV4Shape) {
  auto a = sp::ids::uuid_v4();
  ASSERT_EQ(a.size(), 36u);
  EXPECT_EQ(a[14], '4');
  EXPECT_TRUE(a[19] == '8' || a[19] == '9' || a[19] == 'a' || a[19] == 'b');
  EXPECT_NE(a, sp::ids::uuid_v4());
}

}  // namespace
