#include "broker_supervisor.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netdb.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <deque>
#include <fstream>
#include <memory>
#include <sstream>

namespace sp::app {
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

std::string read_cmdline(int pid) {
  std::ifstream in(fmt::format("/proc/{}/cmdline", pid), std::ios::binary);
  std::string s((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (auto& c : s) {
    if (c == '\0') c = ' ';
  }
  return s;
}

int connect_tcp(const std::string& host, uint16_t port, std::chrono::milliseconds timeout) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* res = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &res) != 0) return -1;
  int fd = -1;
  for (auto* ai = res; ai; ai = ai->ai_next) {
    fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) continue;
    timeval tv{static_cast<time_t>(timeout.count() / 1000),
               static_cast<suseconds_t>((timeout.count() % 1000) * 1000)};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) break;
    close(fd);
    fd = -1;
  }
  freeaddrinfo(res);
  return fd;
}

}  // namespace

bool probe_tls(const std::string& host, uint16_t port, const fs::path& ca_file,
               const fs::path& cert, const fs::path& key, std::string* error) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_client_method()),
                                                        SSL_CTX_free);
  auto fail = [&](std::string what) {
    unsigned long e = ERR_get_error();
    if (e) what += fmt::format(": {}", ERR_reason_error_string(e));
    ERR_clear_error();
    if (error) *error = what;
    return false;
  };
  if (!ctx) return fail("SSL_CTX_new");
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1) {
    return fail("cannot read CA file " + ca_file.string());
  }
  if (SSL_CTX_use_certificate_chain_file(ctx.get(), cert.c_str()) != 1) {
    return fail("cannot read certificate " + cert.string());
  }
  if (SSL_CTX_use_PrivateKey_file(ctx.get(), key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return fail("cannot read key " + key.string());
  }
  int fd = connect_tcp(host, port, 2s);
  if (fd < 0) return fail(fmt::format("cannot connect to {}:{}", host, port));
  std::unique_ptr<SSL, decltype(&SSL_free)> ssl(SSL_new(ctx.get()), SSL_free);
  SSL_set_fd(ssl.get(), fd);
  // Verify the broker's name too: the broker certificate carries localhost/127.0.0.1 SANs.
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
  in6_addr addr6;
  in_addr addr4;
  if (inet_pton(AF_INET, host.c_str(), &addr4) == 1 ||
      inet_pton(AF_INET6, host.c_str(), &addr6) == 1) {
    X509_VERIFY_PARAM_set1_ip_asc(param, host.c_str());
  } else {
    X509_VERIFY_PARAM_set1_host(param, host.c_str(), 0);
    SSL_set_tlsext_host_name(ssl.get(), host.c_str());
  }
  bool ok = SSL_connect(ssl.get()) == 1;
  if (ok) {
    // TLS 1.3 sends the client certificate verdict after the handshake: read once to see a refusal.
    SSL_shutdown(ssl.get());
  }
  close(fd);
  if (!ok) return fail(fmt::format("TLS handshake with {}:{} failed", host, port));
  return true;
}

BrokerSupervisor::BrokerSupervisor(BrokerSupervisorConfig config) : config_(std::move(config)) {
  auto dir = config_.mosquitto_conf.parent_path();
  pid_file_ = dir / "managed-broker.pid";
  log_file_ = dir / "mosquitto.log";
}

BrokerSupervisor::~BrokerSupervisor() { stop(); }

bool BrokerSupervisor::alive() const {
  int pid = pid_.load();
  return pid > 0 && kill(pid, 0) == 0;
}

std::string BrokerSupervisor::log_tail(std::size_t lines) const {
  std::ifstream in(log_file_);
  std::deque<std::string> tail;
  std::string line;
  while (std::getline(in, line)) {
    tail.push_back(line);
    if (tail.size() > lines) tail.pop_front();
  }
  std::string out;
  for (auto& l : tail) out += (out.empty() ? "" : " | ") + l;
  return out;
}

Result<void> BrokerSupervisor::spawn() {
  if (!fs::exists(config_.mosquitto_bin)) {
    return fail(ErrorKind::kUnavailable, "BrokerMissing",
                fmt::format("[broker] mosquitto_bin: {} does not exist (apt-get install mosquitto)",
                            config_.mosquitto_bin.string()));
  }
  if (!fs::exists(config_.mosquitto_conf)) {
    return fail(ErrorKind::kUnavailable, "BrokerConfigMissing",
                fmt::format("[broker] mosquitto_conf: {} does not exist (run smartproductctl init)",
                            config_.mosquitto_conf.string()));
  }
  int log_fd = open(log_file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
  if (log_fd < 0) {
    return fail(ErrorKind::kUnavailable, "BrokerLogUnwritable",
                fmt::format("cannot open {}: {}", log_file_.string(), std::strerror(errno)));
  }
  std::string bin = config_.mosquitto_bin.string();
  std::string conf = config_.mosquitto_conf.string();
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    return fail(ErrorKind::kUnavailable, "BrokerSpawnFailed", std::strerror(errno));
  }
  if (pid == 0) {
    // Child: own session (no terminal signals, survives a daemon crash), output to the log file.
    setsid();
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0) dup2(devnull, STDIN_FILENO);
    dup2(log_fd, STDOUT_FILENO);
    dup2(log_fd, STDERR_FILENO);
    // A restart spawns the broker after the daemon opened its HTTP listener and other sockets
    // (not all CLOEXEC): without this the broker inherited the HTTPS port and kept it after a
    // daemon kill -9, so the next daemon could not bind it.
    if (close_range(3, ~0U, 0) != 0) {
      for (int fd = 3; fd < 1024; ++fd) close(fd);
    }
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execl(bin.c_str(), bin.c_str(), "-c", conf.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  close(log_fd);
  pid_ = pid;
  own_child_ = true;
  std::ofstream(pid_file_, std::ios::trunc) << pid << "\n";
  spdlog::info("broker: started mosquitto (pid {}) with {}", pid, conf);
  return {};
}

Result<void> BrokerSupervisor::wait_ready(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string last_error;
  while (std::chrono::steady_clock::now() < deadline) {
    if (own_child_) {
      int status = 0;
      if (waitpid(pid_.load(), &status, WNOHANG) == pid_.load()) {
        pid_ = 0;
        fs::remove(pid_file_);
        return fail(ErrorKind::kUnavailable, "BrokerExited",
                    fmt::format("mosquitto exited at start (status {}); its log {} says: {}",
                                WIFEXITED(status) ? WEXITSTATUS(status) : -1, log_file_.string(),
                                log_tail(3)));
      }
    } else if (!alive()) {
      return fail(ErrorKind::kUnavailable, "BrokerExited", "the adopted broker exited");
    }
    if (probe_tls(config_.host, config_.port, config_.ca_file, config_.cert, config_.key,
                  &last_error)) {
      return {};
    }
    std::this_thread::sleep_for(100ms);
  }
  return fail(ErrorKind::kUnavailable, "BrokerNotReady",
              fmt::format("mosquitto did not accept a TLS connection on {}:{} within {} ms ({}); "
                          "log: {}",
                          config_.host, config_.port, timeout.count(), last_error, log_tail(3)));
}

Result<void> BrokerSupervisor::start(std::chrono::milliseconds ready_timeout) {
  // Adopt a broker left running by a previous daemon process (crash or kill -9).
  std::ifstream pid_in(pid_file_);
  int old_pid = 0;
  if (pid_in >> old_pid && old_pid > 0 && kill(old_pid, 0) == 0 &&
      read_cmdline(old_pid).find(config_.mosquitto_conf.string()) != std::string::npos) {
    pid_ = old_pid;
    own_child_ = false;
    spdlog::info("broker: adopting running mosquitto (pid {})", old_pid);
  } else {
    auto spawned = spawn();
    if (!spawned) return spawned;
  }
  auto ready = wait_ready(ready_timeout);
  if (!ready) {
    if (own_child_ && alive()) {
      kill(pid_.load(), SIGKILL);
      waitpid(pid_.load(), nullptr, 0);
    }
    pid_ = 0;
    return ready;
  }
  spdlog::info("broker: mosquitto (pid {}) accepts mutual TLS on {}:{}", pid_.load(), config_.host,
               config_.port);
  stopping_ = false;
  monitor_ = std::thread([this] { monitor(); });
  return {};
}

void BrokerSupervisor::monitor() {
  auto backoff = 1s;
  auto started = std::chrono::steady_clock::now();
  while (!stopping_) {
    bool exited = false;
    std::string how;
    if (own_child_ && pid_.load() == 0) {
      // No child: wait_ready() reaped one that exited while starting (e.g. a second restart
      // request arrived during the start), or spawn() failed. Before this check the monitor
      // waited on pid 0 forever and the broker stayed down.
      exited = true;
      how = "exited while starting";
    } else if (own_child_) {
      int status = 0;
      int r = waitpid(pid_.load(), &status, WNOHANG);
      if (r == pid_.load()) {
        exited = true;
        how = WIFSIGNALED(status) ? fmt::format("killed by signal {}", WTERMSIG(status))
                                  : fmt::format("exited with status {}", WEXITSTATUS(status));
      }
    } else if (!alive()) {
      exited = true;
      how = "exited";
    }
    if (exited && !stopping_ && restart_requested_.exchange(false)) {
      spdlog::info("broker: mosquitto (pid {}) {} for a restart; starting it again", pid_.load(),
                   how);
      pid_ = 0;
      if (auto r = spawn(); !r) {
        spdlog::error("broker: restart failed: {}", r.error().message);
        continue;
      }
      if (auto r = wait_ready(15s); !r) spdlog::error("broker: {}", r.error().message);
      continue;
    }
    if (exited && !stopping_) {
      spdlog::error("broker: mosquitto (pid {}) {}; log: {}", pid_.load(), how, log_tail(2));
      pid_ = 0;
      // Back off when it keeps dying; a broker that ran for a minute starts again at once-ish.
      if (std::chrono::steady_clock::now() - started > 60s) backoff = 1s;
      {
        std::unique_lock lock(mutex_);
        wake_.wait_for(lock, backoff, [this] { return stopping_.load(); });
      }
      if (stopping_) break;
      backoff = std::min(backoff * 2, std::chrono::seconds(30));
      started = std::chrono::steady_clock::now();
      if (auto r = spawn(); !r) {
        spdlog::error("broker: restart failed: {}", r.error().message);
        continue;
      }
      if (auto r = wait_ready(15s); !r) spdlog::error("broker: {}", r.error().message);
      continue;
    }
    std::unique_lock lock(mutex_);
    wake_.wait_for(lock, 200ms, [this] { return stopping_.load(); });
  }
}

void BrokerSupervisor::reload() {
  if (alive()) kill(pid_.load(), SIGHUP);
}

void BrokerSupervisor::restart() {
  const int pid = pid_.load();
  if (pid <= 0 || stopping_) return;
  restart_requested_ = true;
  spdlog::info("broker: restarting mosquitto (pid {})", pid);
  kill(pid, SIGTERM);
}

void BrokerSupervisor::stop(std::chrono::milliseconds grace) {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  if (monitor_.joinable()) monitor_.join();
  int pid = pid_.exchange(0);
  if (pid <= 0) return;
  kill(pid, SIGTERM);
  auto deadline = std::chrono::steady_clock::now() + grace;
  bool gone = false;
  while (std::chrono::steady_clock::now() < deadline) {
    if (own_child_ ? waitpid(pid, nullptr, WNOHANG) == pid : kill(pid, 0) != 0) {
      gone = true;
      break;
    }
    std::this_thread::sleep_for(50ms);
  }
  if (!gone) {
    spdlog::warn("broker: mosquitto (pid {}) ignored SIGTERM for {} ms; killing it", pid,
                 grace.count());
    kill(pid, SIGKILL);
    if (own_child_) waitpid(pid, nullptr, 0);
  }
  std::error_code ec;
  fs::remove(pid_file_, ec);
  spdlog::info("broker: mosquitto (pid {}) stopped", pid);
}

}  // namespace sp::app
