// smartproductctl status and doctor: the evaluations on temp files and values, and both commands
// on a fresh instance whose daemon is not running.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "doctor_command.hpp"
#include "init_command.hpp"
#include "instance_checks.hpp"
#include "instance_layout.hpp"
#include "smartproduct/pki/pki.hpp"
#include "status_command.hpp"

namespace fs = std::filesystem;
using namespace sp::cli;

namespace {

constexpr std::int64_t kDay = 86400;

// A TCP port nobody listens on (bound, then released).
std::uint16_t unused_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

class StatusDoctorTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "sp_status_test.XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  fs::path write(const std::string& name, const std::string& text, unsigned mode = 0600) {
    const auto p = dir_ / name;
    std::ofstream(p) << text;
    ::chmod(p.c_str(), mode);
    return p;
  }
  fs::path cert_file(const std::string& name, int days) {
    auto ca = sp::pki::create_root_ca("test " + name, days);
    EXPECT_TRUE(ca);
    return write(name, ca->cert_pem, 0644);
  }
  // A development instance in `dir` (PKI and data in `data_dir` when given) on unused ports.
  InitOptions init_options(const fs::path& dir, const fs::path& data_dir) {
    InitOptions options;
    options.dir = dir;
    options.data_dir = data_dir;
    options.http_port = unused_port();
    options.mqtt_port = unused_port();
    options.hostname = "localhost";
    options.exe_dir = dir_ / "bin";  // empty: no plugin
    fs::create_directories(options.exe_dir);
    return options;
  }
  std::optional<sp::config::DaemonConfig> init_and_load(const InitOptions& options) {
    auto init = run_init(options);
    EXPECT_TRUE(init) << (init ? "" : init.error().message);
    auto cfg = load_instance_config((options.dir / "smartproduct.toml").string());
    EXPECT_TRUE(cfg) << (cfg ? "" : cfg.error().message);
    if (!init || !cfg) return std::nullopt;
    return std::move(*cfg);
  }
  fs::path dir_;
};

const CheckResult* find_check(const std::vector<CheckResult>& results, const std::string& check,
                              CheckLevel level, const std::string& text = "") {
  for (const auto& r : results) {
    if (r.check == check && r.level == level && r.message.find(text) != std::string::npos) {
      return &r;
    }
  }
  return nullptr;
}

std::string dump(const std::vector<CheckResult>& results) {
  std::ostringstream out;
  print_doctor(results, out);
  return out.str();
}

}  // namespace

TEST_F(StatusDoctorTest, CertificateExpiryLevels) {
  // A minute from now: certificates issued during the test have less than their whole days left.
  const std::int64_t now = std::time(nullptr) + 60;
  auto soon = read_cert_expiry("soon", cert_file("soon.crt", 5), now);
  ASSERT_TRUE(soon.error.empty()) << soon.error;
  EXPECT_EQ(soon.days_left, 4);
  EXPECT_EQ(expiry_level(soon), CheckLevel::kWarn);
  EXPECT_NE(describe_expiry(soon).find("soon expires in 4 day(s)"), std::string::npos);

  auto later = read_cert_expiry("later", cert_file("later.crt", 30), now);
  EXPECT_EQ(expiry_level(later), CheckLevel::kOk);
  EXPECT_EQ(expiry_level(later, 31), CheckLevel::kWarn);  // the threshold is a parameter

  // Seen from a day after its end: expired, negative days.
  auto gone = read_cert_expiry("gone", dir_ / "soon.crt", now + 6 * kDay);
  EXPECT_LT(gone.days_left, 0);
  EXPECT_EQ(expiry_level(gone), CheckLevel::kFail);
  EXPECT_NE(describe_expiry(gone).find("gone expired 2 day(s) ago"), std::string::npos)
      << describe_expiry(gone);

  auto missing = read_cert_expiry("missing", dir_ / "nope.crt", now);
  EXPECT_FALSE(missing.error.empty());
  EXPECT_EQ(expiry_level(missing), CheckLevel::kFail);
  auto garbage = read_cert_expiry("garbage", write("garbage.crt", "not a certificate"), now);
  EXPECT_EQ(expiry_level(garbage), CheckLevel::kFail);
}

TEST_F(StatusDoctorTest, KeyPermissionsAndOwner) {
  const auto key = write("a.key", "secret", 0600);
  const uid_t me = ::geteuid();
  EXPECT_EQ(evaluate_key_file(key, file_facts(key), me).level, CheckLevel::kOk);
  ::chmod(key.c_str(), 0400);
  EXPECT_EQ(evaluate_key_file(key, file_facts(key), me).level, CheckLevel::kOk);

  ::chmod(key.c_str(), 0644);
  auto world = evaluate_key_file(key, file_facts(key), me);
  EXPECT_EQ(world.level, CheckLevel::kFail);
  EXPECT_NE(world.message.find(key.string() + " has mode 0644"), std::string::npos);
  EXPECT_NE(world.message.find("every local user"), std::string::npos);
  EXPECT_EQ(world.fix, "chmod 600 " + key.string());

  ::chmod(key.c_str(), 0640);
  EXPECT_NE(evaluate_key_file(key, file_facts(key), me).message.find("its group"),
            std::string::npos);

  ::chmod(key.c_str(), 0200);
  EXPECT_NE(evaluate_key_file(key, file_facts(key), me).message.find("cannot read"),
            std::string::npos);

  ::chmod(key.c_str(), 0600);
  auto foreign = evaluate_key_file(key, file_facts(key), me + 1);
  EXPECT_EQ(foreign.level, CheckLevel::kFail);
  EXPECT_NE(foreign.message.find("is owned by " + user_name(me)), std::string::npos);
  EXPECT_EQ(foreign.fix.rfind("chown " + user_name(me + 1) + " ", 0), 0u) << foreign.fix;

  EXPECT_EQ(evaluate_key_file(dir_ / "gone.key", file_facts(dir_ / "gone.key"), me).level,
            CheckLevel::kFail);
}

TEST_F(StatusDoctorTest, PrivateDirectories) {
  const auto d = dir_ / "data";
  fs::create_directory(d);
  const uid_t me = ::geteuid();
  ::chmod(d.c_str(), 0700);
  EXPECT_EQ(evaluate_private_dir("data directory", d, file_facts(d), me).level, CheckLevel::kOk);
  ::chmod(d.c_str(), 0755);
  EXPECT_EQ(evaluate_private_dir("data directory", d, file_facts(d), me).level, CheckLevel::kWarn);
  ::chmod(d.c_str(), 0777);
  auto open = evaluate_private_dir("data directory", d, file_facts(d), me);
  EXPECT_EQ(open.level, CheckLevel::kFail);
  EXPECT_EQ(open.fix, "chmod 700 " + d.string());
  ::chmod(d.c_str(), 0500);
  EXPECT_EQ(evaluate_private_dir("data directory", d, file_facts(d), me).level, CheckLevel::kFail);
  ::chmod(d.c_str(), 0700);
  EXPECT_EQ(evaluate_private_dir("data directory", d, file_facts(d), me + 1).level,
            CheckLevel::kFail);
  EXPECT_EQ(evaluate_private_dir("x", dir_ / "none", file_facts(dir_ / "none"), me).level,
            CheckLevel::kFail);
}

TEST_F(StatusDoctorTest, DiskAgainstTheGuard) {
  constexpr std::int64_t kGiB = 1ll << 30;
  EXPECT_EQ(evaluate_disk(dir_, 10 * kGiB, kGiB, 0, 0).level, CheckLevel::kOk);
  EXPECT_EQ(evaluate_disk(dir_, kGiB + kGiB / 2, kGiB, 0, 0).level, CheckLevel::kWarn);
  auto under = evaluate_disk(dir_, kGiB / 2, kGiB, 0, 0);
  EXPECT_EQ(under.level, CheckLevel::kFail);
  EXPECT_NE(under.message.find("pauses telemetry intake"), std::string::npos);
  EXPECT_EQ(evaluate_disk(dir_, 10 * kGiB, kGiB, 3 * kGiB, 2 * kGiB).level, CheckLevel::kWarn);
  EXPECT_EQ(evaluate_disk(dir_, 10 * kGiB, kGiB, kGiB, 2 * kGiB).level, CheckLevel::kOk);
  EXPECT_EQ(evaluate_disk(dir_, 10, 0, 0, 0).level, CheckLevel::kOk);  // min_free_bytes 0: off
  EXPECT_EQ(evaluate_disk(dir_, std::nullopt, kGiB, 0, 0).level, CheckLevel::kWarn);
}

TEST(StatusDoctor, HttpDateAndClockSkew) {
  EXPECT_EQ(parse_http_date("Thu, 03 Dec 2026 13:45:00 GMT"), 1796305500);
  EXPECT_EQ(parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"), 784111777);  // RFC 9110's example
  EXPECT_FALSE(parse_http_date("Thu, 03 Dec 2026 13:45:00 CET"));
  EXPECT_FALSE(parse_http_date("yesterday"));
  EXPECT_FALSE(parse_http_date(""));
  EXPECT_EQ(evaluate_clock_skew(1000, 1002).level, CheckLevel::kOk);
  EXPECT_EQ(evaluate_clock_skew(1000, 1060).level, CheckLevel::kWarn);
  auto behind = evaluate_clock_skew(1000, 400);
  EXPECT_EQ(behind.level, CheckLevel::kFail);
  EXPECT_NE(behind.message.find("600 s behind"), std::string::npos);
}

TEST(StatusDoctor, PrometheusSamples) {
  const std::string text =
      "# HELP smartproduct_mqtt_connected 1 when connected\n"
      "# TYPE smartproduct_mqtt_connected gauge\n"
      "smartproduct_mqtt_connected_extra 7\n"
      "smartproduct_mqtt_connected 1\n"
      "smartproduct_bus_queued{lane=\"live\"} 3\n"
      "smartproduct_devices_connected 1.2e+01\n";
  EXPECT_EQ(metric_value(text, "smartproduct_mqtt_connected"), 1.0);
  EXPECT_EQ(metric_value(text, "smartproduct_bus_queued"), 3.0);
  EXPECT_EQ(metric_value(text, "smartproduct_devices_connected"), 12.0);
  EXPECT_FALSE(metric_value(text, "smartproduct_mqtt"));
  EXPECT_FALSE(metric_value("", "x"));
}

TEST(StatusDoctor, ListeningSocketsAndTheirProcess) {
  const std::string table =
      "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  "
      "timeout inode\n"
      "   0: 0100007F:20FB 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 "
      "4242 1 0000000000000000 100 0 0 10 0\n"
      "   1: 0100007F:A1B2 0100007F:20FB 01 00000000:00000000 00:00000000 00000000  1000        0 "
      "999 1 0000000000000000 20 4 30 10 -1\n";
  auto sockets = parse_listening_sockets(table);
  ASSERT_EQ(sockets.size(), 1u);  // the second is an established connection
  EXPECT_EQ(sockets[0].port, 8443);
  EXPECT_EQ(sockets[0].inode, 4242u);

  // A socket this test listens on is found, with this process as its holder.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
  ASSERT_EQ(::listen(fd, 1), 0);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  const auto port = ntohs(a.sin_port);
  auto use = port_use(port);
  EXPECT_TRUE(use.listening);
  EXPECT_EQ(use.pid, ::getpid());
  EXPECT_NE(describe_user(use).find("(pid " + std::to_string(::getpid()) + ")"), std::string::npos);
  ::close(fd);
  EXPECT_FALSE(port_use(port).listening);
}

TEST(StatusDoctor, StatusExitCodeOrder) {
  StatusReport r;
  r.daemon.running = true;
  r.daemon.ready = true;
  CertExpiry fine{"https", "/p/https.crt", "CN=x", "x", "AA", 0, 300, ""};
  CertExpiry soon{"broker", "/p/server.crt", "CN=y", "y", "BB", 0, 3, ""};
  r.certificates = {fine};
  decide_status(r);
  EXPECT_EQ(r.exit_code, kStatusOk);
  EXPECT_TRUE(r.problems.empty());

  r.certificates = {fine, soon};
  decide_status(r);
  EXPECT_EQ(r.exit_code, kStatusCertificates);
  ASSERT_EQ(r.problems.size(), 1u);
  EXPECT_NE(r.problems[0].find("broker expires in 3 day(s)"), std::string::npos);

  r.daemon.ready = false;
  r.daemon.reasons = {"broker: connecting"};
  decide_status(r);
  EXPECT_EQ(r.exit_code, kStatusNotReady);
  EXPECT_EQ(r.problems.front(), "not ready: broker: connecting");
  EXPECT_EQ(r.problems.size(), 2u);  // the certificate is still named

  r.daemon.running = false;
  decide_status(r);
  EXPECT_EQ(r.exit_code, kStatusDaemonDown);
}

// Both commands on a fresh instance whose daemon is stopped.
TEST_F(StatusDoctorTest, FreshInstanceWithoutDaemon) {
  const auto options = init_options(dir_ / "inst", "");
  const auto config_file = options.dir / "smartproduct.toml";
  auto cfg = init_and_load(options);
  ASSERT_TRUE(cfg);
  const std::int64_t now = std::time(nullptr) + 60;  // see CertificateExpiryLevels

  auto status = collect_status(*cfg, now, 2000);
  EXPECT_FALSE(status.daemon.running);
  EXPECT_EQ(status.exit_code, kStatusDaemonDown);
  std::vector<std::string> names;
  for (const auto& c : status.certificates) {
    names.push_back(c.name);
    EXPECT_EQ(expiry_level(c), CheckLevel::kOk) << describe_expiry(c);
  }
  EXPECT_EQ(names, (std::vector<std::string>{"platform root", "https", "broker", "service"}));
  const auto doc = status_json(status);
  EXPECT_EQ(doc["exitCode"], kStatusDaemonDown);
  EXPECT_EQ(doc["daemon"]["running"], false);
  EXPECT_EQ(doc["databases"].size(), 2u);

  auto results = run_doctor(config_file, now, 2000);
  EXPECT_EQ(doctor_exit_code(results), 0) << dump(results);
  EXPECT_TRUE(find_check(results, "config", CheckLevel::kOk)) << dump(results);
  EXPECT_TRUE(find_check(results, "keys", CheckLevel::kOk)) << dump(results);
  EXPECT_TRUE(find_check(results, "ports", CheckLevel::kOk,
                         "HTTPS port " + std::to_string(options.http_port) + " free"))
      << dump(results);
  EXPECT_TRUE(find_check(results, "ports", CheckLevel::kOk,
                         "MQTT port " + std::to_string(options.mqtt_port) + " free"))
      << dump(results);
  EXPECT_TRUE(find_check(results, "clock", CheckLevel::kOk, "skipped")) << dump(results);

  // A readable key fails, naming the file; a broken config fails the config check.
  const auto key = options.dir / "pki" / "https.key";
  ::chmod(key.c_str(), 0644);
  results = run_doctor(config_file, now, 2000);
  EXPECT_EQ(doctor_exit_code(results), 1);
  const auto* bad = find_check(results, "keys", CheckLevel::kFail, key.string());
  ASSERT_TRUE(bad) << dump(results);
  EXPECT_EQ(bad->fix, "chmod 600 " + key.string());

  // A certificate close to expiry: a warning in both.
  auto ca = sp::pki::create_device_ca("short-lived", 5);
  ASSERT_TRUE(ca);
  fs::create_directories(options.dir / "pki" / "cas");
  std::ofstream(options.dir / "pki" / "cas" / "short.crt") << ca->cert_pem;
  std::ofstream(options.dir / "broker" / "device-cas" / "0A1B.pem") << ca->cert_pem;
  status = collect_status(*cfg, now, 2000);
  ASSERT_EQ(status.certificates.size(), 5u);
  EXPECT_EQ(expiry_level(status.certificates.back()), CheckLevel::kWarn);
  results = run_doctor(config_file, now, 2000);
  EXPECT_TRUE(
      find_check(results, "certificates", CheckLevel::kWarn, "device CA short expires in 4"))
      << dump(results);

  // Not a config: only the config check, failing.
  results = run_doctor(dir_ / "missing.toml", now, 2000);
  ASSERT_EQ(results.size(), 1u) << dump(results);
  EXPECT_EQ(results[0].level, CheckLevel::kFail);
}

// The packaged layout (init --data-dir): the config apart, everything else found through it.
TEST_F(StatusDoctorTest, SplitLayoutFindsEverything) {
  const auto options = init_options(dir_ / "etc", dir_ / "var");
  const auto config_file = options.dir / "smartproduct.toml";
  auto cfg = init_and_load(options);
  ASSERT_TRUE(cfg);
  const std::int64_t now = std::time(nullptr);

  auto status = collect_status(*cfg, now, 2000);
  EXPECT_EQ(status.exit_code, kStatusDaemonDown);
  ASSERT_EQ(status.certificates.size(), 4u);
  for (const auto& c : status.certificates) {
    EXPECT_EQ(c.path.string().rfind((dir_ / "var").string(), 0), 0u) << c.path;
    EXPECT_EQ(expiry_level(c), CheckLevel::kOk) << describe_expiry(c);
  }
  EXPECT_EQ(status.databases.front().path, dir_ / "var" / "data" / "smartproduct.db");

  auto results = run_doctor(config_file, now, 2000);
  EXPECT_EQ(doctor_exit_code(results), 0) << dump(results);
  EXPECT_TRUE(find_check(results, "directories", CheckLevel::kOk,
                         "data directory " + (dir_ / "var" / "data").string()))
      << dump(results);
}
