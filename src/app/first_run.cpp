#include "app/first_run.hpp"

#include <fmt/format.h>
#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace sp::app {
namespace fs = std::filesystem;

namespace {
// Where smartproductctl looks when given no --config (src/cli/instance_layout.hpp): the hint leaves
// the option out there, as the package's own instructions do.
constexpr const char* kSystemConfigFile = "/etc/smartproduct/smartproduct.toml";
}  // namespace

std::vector<std::string> first_run_hint(const FirstRunFacts& f) {
  std::string ctl = f.ctl;
  if (!f.service_user.empty()) ctl = fmt::format("runuser -u {} -- {}", f.service_user, ctl);
  const std::string config = f.config_file == fs::path(kSystemConfigFile)
                                 ? std::string()
                                 : fmt::format(" --config {}", f.config_file.string());
  std::vector<std::string> lines;
  lines.push_back(
      fmt::format("first run: no account exists yet; the console is at {}", f.console_url));
  lines.push_back(
      f.codes_in_log
          ? "first run: sign up there; without [identity] smtp_url the verification code is "
            "written to this log as 'verification code for <email>: <code>'"
          : "first run: sign up there; the verification code is mailed through [identity] "
            "smtp_url");
  lines.push_back(fmt::format(
      "first run: or create the first administrator: echo 'a long passphrase' | {} user add{} "
      "--email admin@example.com --admin --password-stdin",
      ctl, config));
  return lines;
}

std::string ctl_next_to(const fs::path& daemon_exe) {
  const fs::path dir = daemon_exe.parent_path();
  std::error_code ec;
  if (dir.empty() || !fs::exists(dir / "smartproductctl", ec)) return "smartproductctl";
  if (dir == "/usr/bin" || dir == "/usr/local/bin" || dir == "/bin") return "smartproductctl";
  return (dir / "smartproductctl").string();
}

std::string systemd_service_user() {
  if (std::getenv("INVOCATION_ID") == nullptr || ::geteuid() == 0) return {};
  const passwd* pw = ::getpwuid(::geteuid());
  return pw != nullptr ? std::string(pw->pw_name) : std::string();
}

}  // namespace sp::app
