#include "app/first_run.hpp"

#include <gtest/gtest.h>

#include <unistd.h>
#include <filesystem>

#include <fstream>

namespace sp::app {
namespace {

std::string joined(const std::vector<std::string>& lines) {
  std::string all;
  for (const auto& l : lines) all += l + "\n";
  return all;
}

TEST(FirstRunHint, DevelopmentInstanceNamesTheConfigAndTheLog) {
  FirstRunFacts f;
  f.console_url = "https://localhost:8443/";
  f.config_file = "/home/me/sp/build/dev-instance/smartproduct.toml";
  f.ctl = "/home/me/sp/build/bin/smartproductctl";
  const auto text = joined(first_run_hint(f));
  EXPECT_NE(text.find("console is at https://localhost:8443/"), std::string::npos) << text;
  EXPECT_NE(text.find("'verification code for <email>: <code>'"), std::string::npos) << text;
  EXPECT_NE(text.find("echo 'a long passphrase' | /home/me/sp/build/bin/smartproductctl user add "
                      "--config /home/me/sp/build/dev-instance/smartproduct.toml --email "
                      "admin@example.com --admin --password-stdin"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("runuser"), std::string::npos) << text;
}

TEST(FirstRunHint, PackagedServiceRunsTheCliAsItsUserWithTheDefaultConfig) {
  FirstRunFacts f;
  f.console_url = "https://localhost:8443/";
  f.config_file = "/etc/smartproduct/smartproduct.toml";
  f.codes_in_log = false;
  f.service_user = "smartproduct";
  const auto text = joined(first_run_hint(f));
  EXPECT_NE(text.find("| runuser -u smartproduct -- smartproductctl user add --email "
                      "admin@example.com --admin --password-stdin"),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("--config"), std::string::npos) << text;
  EXPECT_NE(text.find("the verification code is mailed"), std::string::npos) << text;
  EXPECT_EQ(text.find("written to this log"), std::string::npos) << text;
}

TEST(FirstRunHint, CliNextToTheDaemonOnlyInABuildTree) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("sp-first-run-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  EXPECT_EQ(ctl_next_to(dir / "smartproductd"), "smartproductctl");  // none there
  std::ofstream(dir / "smartproductctl") << "#!/bin/sh\n";
  EXPECT_EQ(ctl_next_to(dir / "smartproductd"), (dir / "smartproductctl").string());
  EXPECT_EQ(ctl_next_to(""), "smartproductctl");
  fs::remove_all(dir);
}

}  // namespace
}  // namespace sp::app
