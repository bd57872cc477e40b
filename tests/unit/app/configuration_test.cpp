// The daemon's whole configuration: core's sections plus every module's own (app/modules.hpp).

#include "app/modules.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <set>

#include "smartproduct/core/ids.hpp"

namespace fs = std::filesystem;

namespace {

class ConfigurationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sp-configuration-" + sp::ids::random_hex(6));
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

TEST_F(ConfigurationTest, ShippedExampleIsValid) {
  auto r = sp::app::load_configuration(fs::path(SP_SOURCE_DIR) / "config/smartproduct.toml");
  for (auto& e : r.errors) ADD_FAILURE() << e;
  EXPECT_TRUE(r.config.has_value());
}

TEST_F(ConfigurationTest, EveryModuleIsConfiguredAndNamedOnce) {
  auto r = sp::app::load_configuration(write(""));
  ASSERT_TRUE(r.config) << r.errors.front();
  std::set<std::string> names;
  for (auto& m : r.modules) {
    EXPECT_TRUE(names.insert(std::string(m->name())).second) << "twice: " << m->name();
    for (auto& core : sp::config::core_sections()) EXPECT_NE(m->name(), core);
  }
  EXPECT_EQ(names.size(), sp::app::make_modules().size());
}

TEST_F(ConfigurationTest, ProblemsInCoreModulesAndUnknownSectionsAreAllReported) {
  auto r = sp::app::load_configuration(write(
      "[htp]\nx=1\n[http]\nport = \"x\"\n[telemetry]\ntopic = \"a/#\"\n[jitr]\nenabld = true\n"
      "[identity]\nsmtp_url = \"http://x\"\n"));
  EXPECT_FALSE(r.config.has_value());
  auto has = [&](const std::string& what) {
    for (auto& e : r.errors) {
      if (e.find(what) != std::string::npos) return true;
    }
    return false;
  };
  EXPECT_TRUE(has(":4:8: [http] port: must be an integer"));
  EXPECT_TRUE(has(":6:9: [telemetry] topic: must be a non-empty topic prefix"));
  EXPECT_TRUE(has(":8:1: [jitr] enabld: unknown key"));
  EXPECT_TRUE(has(":10:12: [identity] smtp_url: must start with smtp://"));
  EXPECT_TRUE(has(":1:2: unknown section or key 'htp'"));
  EXPECT_EQ(r.errors.size(), 5u);
}

}  // namespace
