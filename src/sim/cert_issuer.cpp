#include "cert_issuer.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <map>
#include <stdexcept>

extern char** environ;

namespace sp::sim {

std::string default_ctl_path() {
  std::error_code ec;
  auto self = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (!ec) {
    auto sibling = self.parent_path() / "smartproductctl";
    if (std::filesystem::exists(sibling, ec)) return sibling.string();
  }
  return "smartproductctl";
}

namespace {

pid_t spawn_issue(const std::string& ctl, const std::filesystem::path& instance_dir,
                  const std::filesystem::path& out_dir, const std::string& serial,
                  const std::string& ca) {
  std::vector<std::string> args{
      ctl,        "device-cert", "issue", "--dir",         instance_dir.string(),
      "--serial", serial,        "--out", out_dir.string()};
  if (!ca.empty()) {
    args.push_back("--ca");
    args.push_back(ca);
  }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // The tool prints the written paths on stdout; a thousand of those are noise. Errors stay on
  // stderr so the reason for a failure is visible.
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, ctl.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    throw std::runtime_error("cannot run " + ctl + ": " + std::strerror(rc));
  }
  return pid;
}

}  // namespace

void issue_device_certs(const std::string& ctl, const std::filesystem::path& instance_dir,
                        const std::filesystem::path& out_dir,
                        const std::vector<std::string>& serials, unsigned parallelism,
                        const std::string& ca) {
  if (parallelism == 0) parallelism = 1;
  std::filesystem::create_directories(out_dir);
  std::map<pid_t, std::string> running;
  std::string first_failure;
  auto reap_one = [&] {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, 0);
    if (pid < 0) {
      if (errno == EINTR) return;
      throw std::runtime_error(std::string("waitpid: ") + std::strerror(errno));
    }
    auto it = running.find(pid);
    if (it == running.end()) return;
    if ((!WIFEXITED(status) || WEXITSTATUS(status) != 0) && first_failure.empty()) {
      first_failure = it->second;
    }
    running.erase(it);
  };
  for (const auto& serial : serials) {
    if (!first_failure.empty()) break;
    while (running.size() >= parallelism) reap_one();
    running.emplace(spawn_issue(ctl, instance_dir, out_dir, serial, ca), serial);
  }
  while (!running.empty()) reap_one();
  if (!first_failure.empty()) {
    throw std::runtime_error("smartproductctl device-cert issue failed for " + first_failure);
  }
}

}  // namespace sp::sim
