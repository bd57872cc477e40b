#include <gtest/gtest.h>
#include <algorithm>

#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <toml++/toml.h>
#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "ca_command.hpp"
#include "device_cert_command.hpp"
#include "embedded_files.hpp"
#include "init_command.hpp"
#include "instance_layout.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/pki/pki.hpp"
#include "text_template.hpp"

namespace fs = std::filesystem;
using namespace sp::cli;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sp_cli_test.XXXXXX").string();
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path_, ec);
  }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

struct CommandResult {
  int status = -1;
  std::string output;
};

CommandResult run(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 512> buf{};
  while (std::fgets(buf.data(), buf.size(), p) != nullptr) r.output += buf.data();
  int st = ::pclose(p);
  r.status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_text(const fs::path& p, const std::string& s) {
  std::ofstream(p, std::ios::binary) << s;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_mode & 07777;
}

ino_t inode_of(const fs::path& p) {
  struct stat st {};
  ::stat(p.c_str(), &st);
  return st.st_ino;
}

bool contains(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

bool has_line(const std::string& text, const std::string& line) {
  return ("\n" + text).find("\n" + line + "\n") != std::string::npos;
}

// An instance created once per test in a fresh directory, without any plugin available.
class InitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directory(tmp_.path() / "bin");  // empty: no plugin next to the "executable"
    options_.dir = tmp_.path() / "inst";
    options_.http_port = 18443;
    options_.mqtt_port = 18883;
    options_.hostname = "test-host.example";
    options_.exe_dir = tmp_.path() / "bin";
  }
  InitReport init_ok() {
    auto r = run_init(options_);
    EXPECT_TRUE(r) << (r ? "" : r.error().message);
    return r ? *r : InitReport{};
  }
  InstanceLayout layout() const { return make_layout(options_.dir).value(); }

  TempDir tmp_;
  InitOptions options_;
};

}  // namespace

TEST(Embedded, TemplatesAreCompiledIn) {
  EXPECT_NE(embedded_file("mosquitto.conf.in").find("@MQTT_PORT@"), std::string_view::npos);
  EXPECT_NE(embedded_file("services.acl.in").find("user svc-backend"), std::string_view::npos);
  EXPECT_NE(embedded_file("smartproduct.toml").find("[broker]"), std::string_view::npos);
  EXPECT_TRUE(embedded_file("nope").empty());
}

TEST(TextTemplate, RendersAndRejectsUnknownPlaceholders) {
  auto ok = render_template("a @X@ b @Y_2@ c@d.com @", {{"X", "1"}, {"Y_2", "2"}});
  ASSERT_TRUE(ok);
  EXPECT_EQ(*ok, "a 1 b 2 c@d.com @");
  auto bad = render_template("@MISSING@", {});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().name, "TemplateInvalid");
}

TEST(TextTemplate, SetsTomlValueInSectionKeepingComment) {
  std::string t = "[a]\nport = 1   # first\n[b]\nport = 2 # second\nname = \"x#y\" # c\n";
  ASSERT_TRUE(set_toml_value(t, "b", "port", "9999"));
  ASSERT_TRUE(set_toml_value(t, "b", "name", toml_string("p\"q")));
  EXPECT_FALSE(set_toml_value(t, "b", "missing", "1"));
  EXPECT_FALSE(set_toml_value(t, "c", "port", "1"));
  auto parsed = toml::parse(t);
  EXPECT_EQ(parsed["a"]["port"].value<int>(), 1);
  EXPECT_EQ(parsed["b"]["port"].value<int>(), 9999);
  EXPECT_EQ(parsed["b"]["name"].value<std::string>(), "p\"q");
  EXPECT_NE(t.find("# second"), std::string::npos);
  EXPECT_NE(t.find("# c"), std::string::npos);
}

TEST(TextTemplate, TomlStringEscapesNonAscii) {
  // /home/jürgen/ü→😀 : 2-, 3- and 4-byte UTF-8; a stray byte stays as it is (TOML rejects it).
  const std::string path = "/home/j\xC3\xBCrgen/\xE2\x86\x92\xF0\x9F\x98\x80\t";
  EXPECT_EQ(toml_string(path), "\"/home/j\\u00FCrgen/\\u2192\\U0001F600\\t\"");
  auto parsed = toml::parse("p = " + toml_string(path));
  EXPECT_EQ(parsed["p"].value<std::string>(), path);
  EXPECT_EQ(toml_string("a\xFF"), "\"a\xFF\"");
}

TEST(InstanceDir, OneRuleForEveryCommand) {
  ::unsetenv("SMARTPRODUCT_CONFIG");
  ::unsetenv("SP_INSTANCE_DIR");
  // Parsed as smartproductctl parses: root options, fallthrough, a subcommand with its own.
  auto parse = [](std::vector<std::string> args) {
    CLI::App app;
    app.fallthrough();
    add_root_instance_options(app);
    auto* sub = app.add_subcommand("sub");
    auto where = add_instance_options(sub);
    std::reverse(args.begin(), args.end());
    app.parse(args);
    return std::make_pair(where->config_file(), where->instance_dir());
  };
  EXPECT_EQ(parse({"sub", "--config", "/y/a.toml"}).first, fs::path("/y/a.toml"));
  EXPECT_EQ(parse({"sub", "--config", "/y/a.toml"}).second, fs::path("/y"));
  EXPECT_EQ(parse({"sub", "--dir", "/x"}).first, fs::path("/x/smartproduct.toml"));
  EXPECT_EQ(parse({"--config", "/r/b.toml", "sub"}).first, fs::path("/r/b.toml"));
  // After the subcommand beats before it.
  EXPECT_EQ(parse({"--config", "/r/b.toml", "sub", "--dir", "/x"}).second, fs::path("/x"));
  // The root selection is process-wide (as in the CLI): clear it for the fallbacks below.
  parse({"--config", "", "--dir", "", "sub"});
  ::setenv("SMARTPRODUCT_CONFIG", "/e/c.toml", 1);
  ::setenv("SP_INSTANCE_DIR", "/z", 1);
  EXPECT_EQ(parse({"sub"}).first, fs::path("/e/c.toml"));
  ::unsetenv("SMARTPRODUCT_CONFIG");
  EXPECT_EQ(parse({"sub"}).first, fs::path("/z/smartproduct.toml"));
  ::unsetenv("SP_INSTANCE_DIR");
  EXPECT_EQ(parse({"sub"}).first, fs::path(kSystemConfigFile));
  EXPECT_FALSE(make_layout("/tmp/a\nb"));
}

TEST_F(InitTest, CreatesCompleteInstance) {
  auto rep = init_ok();
  auto l = layout();
  for (const auto& p :
       {l.root_ca_cert(), l.root_ca_key(), l.https_cert(), l.https_key(), l.backend_cert(),
        l.backend_key(), l.broker_cafile(), l.broker_cert(), l.broker_key(), l.broker_state(),
        l.services_acl(), l.mosquitto_conf(), l.config()}) {
    EXPECT_TRUE(fs::is_regular_file(p)) << p;
  }
  for (const auto& d : {l.persistence(), l.data(), l.log(), l.device_cas()}) {
    EXPECT_TRUE(fs::is_directory(d)) << d;
  }
  // Device CAs come from `ca create` / `ca register`, not from init.
  EXPECT_FALSE(fs::exists(l.pki() / "dev-device-ca.crt"));
  EXPECT_TRUE(fs::is_empty(l.device_cas()));
  for (const auto& k : {l.root_ca_key(), l.https_key(), l.backend_key(), l.broker_key()}) {
    EXPECT_EQ(mode_of(k), 0600u) << k;
  }
  EXPECT_EQ(mode_of(l.pki()), 0700u);
  EXPECT_FALSE(rep.plugin_enabled);
  EXPECT_FALSE(rep.warnings.empty());  // the missing plugin is reported
  EXPECT_TRUE(rep.kept.empty());

  // Certificates: chains, purposes, names.
  const std::string root = l.root_ca_cert().string();
  auto v = run("openssl verify -purpose sslserver -CAfile " + root + " " + l.https_cert().string());
  EXPECT_EQ(v.status, 0) << v.output;
  v = run("openssl verify -purpose sslserver -CAfile " + root + " " + l.broker_cert().string());
  EXPECT_EQ(v.status, 0) << v.output;
  v = run("openssl verify -purpose sslclient -CAfile " + root + " " + l.backend_cert().string());
  EXPECT_EQ(v.status, 0) << v.output;
  auto chain = sp::pki::split_pem_certificates(slurp(l.https_cert())).value();
  ASSERT_EQ(chain.size(), 2u);
  EXPECT_EQ(chain[1], slurp(l.root_ca_cert()));
  auto https = sp::pki::parse_certificate(chain[0]).value();
  EXPECT_TRUE(contains(https.dns_names, "localhost"));
  EXPECT_TRUE(contains(https.dns_names, "test-host.example"));
  EXPECT_TRUE(contains(https.ip_addresses, "127.0.0.1"));
  EXPECT_TRUE(contains(https.ip_addresses, "::1"));
  auto broker = sp::pki::parse_certificate(slurp(l.broker_cert())).value();
  EXPECT_EQ(broker.dns_names, https.dns_names);
  EXPECT_NE(broker.sha256_fingerprint, https.sha256_fingerprint);
  EXPECT_EQ(sp::pki::parse_certificate(slurp(l.backend_cert()))->common_name, "svc-backend");
  EXPECT_EQ(slurp(l.broker_cafile()), slurp(l.root_ca_cert()));

  // mosquitto.conf
  const std::string conf = slurp(l.mosquitto_conf());
  const std::string b = l.broker().string();
  for (const std::string& line :
       {std::string("per_listener_settings false"), std::string("allow_anonymous false"),
        std::string("set_tcp_nodelay true"), std::string("max_inflight_messages 100"),
        std::string("max_queued_messages 200000"), std::string("max_queued_bytes 268435456"),
        std::string("max_packet_size 262144"), std::string("persistence true"),
        "persistence_location " + b + "/persistence/", std::string("autosave_interval 30"),
        std::string("persistent_client_expiration 14d"), std::string("connection_messages true"),
        std::string("log_dest stderr"), std::string("listener 18883"),
        "cafile " + b + "/root-ca.crt", "capath " + b + "/device-cas/",
        "certfile " + b + "/server.crt", "keyfile " + b + "/server.key",
        std::string("require_certificate true"), std::string("use_identity_as_username false"),
        std::string("tls_version tlsv1.2"), "#plugin " + b + "/mosquitto_smartproduct.so",
        "#plugin_opt_state_file " + b + "/state.json",
        std::string("#plugin_opt_service_users svc-backend"),
        // Issuers are verified by signature against the same anchors TLS uses.
        "#plugin_opt_service_ca " + b + "/root-ca.crt",
        "#plugin_opt_device_ca_dir " + b + "/device-cas/",
        std::string("#plugin_opt_require_activation true"), "acl_file " + b + "/services.acl"}) {
    EXPECT_TRUE(has_line(conf, line)) << "missing: " << line;
  }
  EXPECT_EQ(conf.find('@'), std::string::npos);
  const bool privileged = ::geteuid() == 0 && ::getpwnam("mosquitto") != nullptr;
  EXPECT_EQ(has_line(conf, "user mosquitto"), privileged);
  EXPECT_EQ(rep.privileged_setup, privileged);
  if (privileged) {
    struct stat st {};
    ::stat(l.broker_key().c_str(), &st);
    EXPECT_EQ(st.st_uid, ::getpwnam("mosquitto")->pw_uid);
    EXPECT_NE(mode_of(l.dir) & S_IXOTH, 0u);
  }

  const std::string acl = slurp(l.services_acl());
  for (const char* line :
       {"user svc-backend", "topic readwrite smartproduct/#", "topic readwrite $aws/things/#",
        "topic read $SYS/#", "topic readwrite $CONTROL/smartproduct/#"}) {
    EXPECT_TRUE(has_line(acl, line)) << line;
  }
  EXPECT_EQ(slurp(l.broker_state()), "{}\n");

  auto cfg = toml::parse_file(l.config().string());
  EXPECT_EQ(cfg["http"]["port"].value<int>(), 18443);
  EXPECT_EQ(cfg["broker"]["port"].value<int>(), 18883);
  EXPECT_EQ(cfg["http"]["cert"].value<std::string>(), "pki/https.crt");
  EXPECT_EQ(cfg["broker"]["key"].value<std::string>(), "pki/svc-backend.key");
  EXPECT_EQ(cfg["broker"]["mosquitto_conf"].value<std::string>(), "broker/mosquitto.conf");
  EXPECT_EQ(cfg["jitr"]["enabled"].value<bool>(), true);
  EXPECT_EQ(cfg["jitr"]["ca_dir"].value<std::string>(), "broker/device-cas");
  for (const auto& w : rep.warnings) EXPECT_EQ(w.find("template has no"), std::string::npos) << w;
}

TEST_F(InitTest, RerunKeepsEverything) {
  init_ok();
  auto l = layout();
  const std::string root_key = slurp(l.root_ca_key());
  const std::string https = slurp(l.https_cert());
  const std::string conf = slurp(l.mosquitto_conf());
  auto rep = init_ok();
  EXPECT_TRUE(rep.created.empty()) << rep.created.front();
  EXPECT_TRUE(rep.updated.empty()) << rep.updated.front();
  EXPECT_TRUE(contains(rep.kept, "pki/root-ca.key"));
  EXPECT_TRUE(contains(rep.kept, "broker/mosquitto.conf"));
  EXPECT_EQ(slurp(l.root_ca_key()), root_key);
  EXPECT_EQ(slurp(l.https_cert()), https);
  EXPECT_EQ(slurp(l.mosquitto_conf()), conf);
}

// The packaged layout: only smartproduct.toml in --dir (/etc/smartproduct), everything else in
// --data-dir (/var/lib/smartproduct), named by absolute paths the daemon and the CLI both read.
TEST_F(InitTest, DataDirKeepsOnlyTheConfigApart) {
  options_.dir = tmp_.path() / "etc";
  options_.data_dir = tmp_.path() / "var";
  auto rep = init_ok();
  const fs::path etc = tmp_.path() / "etc", var = tmp_.path() / "var";
  EXPECT_EQ(rep.layout.dir, var);
  EXPECT_EQ(rep.layout.config(), etc / "smartproduct.toml");
  std::vector<std::string> in_etc;
  for (const auto& e : fs::directory_iterator(etc)) in_etc.push_back(e.path().filename());
  EXPECT_EQ(in_etc, std::vector<std::string>{"smartproduct.toml"});
  EXPECT_TRUE(contains(rep.created, (etc / "smartproduct.toml").string()));
  for (const char* p : {"pki/root-ca.key", "pki/https.key", "broker/mosquitto.conf", "data"}) {
    EXPECT_TRUE(fs::exists(var / p)) << p;
  }
  EXPECT_EQ(mode_of(var / "pki/https.key"), 0600u);

  // The daemon's loader and the CLI's readers resolve every path into the data directory, the
  // same paths whichever directory the reader runs from.
  const fs::path cwd = fs::current_path();
  fs::current_path(tmp_.path() / "bin");
  auto loaded = sp::config::load_daemon_config(etc / "smartproduct.toml");
  fs::current_path(cwd);
  ASSERT_TRUE(loaded.config) << (loaded.errors.empty() ? "" : loaded.errors.front());
  const auto& c = *loaded.config;
  EXPECT_EQ(c.storage.data_dir, var / "data");
  EXPECT_EQ(c.http.cert, var / "pki/https.crt");
  EXPECT_EQ(c.http.key, var / "pki/https.key");
  EXPECT_EQ(c.broker.ca_file, var / "pki/root-ca.crt");
  EXPECT_EQ(c.broker.cert, var / "pki/svc-backend.crt");
  EXPECT_EQ(c.broker.key, var / "pki/svc-backend.key");
  EXPECT_EQ(c.broker.mosquitto_conf, var / "broker/mosquitto.conf");
  auto j = jitr_settings(c).value();
  EXPECT_EQ(fs::path(j.ca_dir), var / "broker/device-cas");
  EXPECT_EQ(fs::path(j.managed_ca_dir), var / "pki/cas");
  const std::string toml = slurp(etc / "smartproduct.toml");
  EXPECT_NE(toml.find("data_dir = \"" + (var / "data").string() + "\""), std::string::npos);

  // Running it again (a package upgrade) keeps every key and config.
  const std::string root_key = slurp(var / "pki/root-ca.key");
  auto again = init_ok();
  EXPECT_TRUE(again.created.empty()) << again.created.front();
  EXPECT_TRUE(again.updated.empty()) << again.updated.front();
  EXPECT_EQ(slurp(var / "pki/root-ca.key"), root_key);
}

// Without --data-dir the config keeps relative paths: the instance can be moved as a whole.
TEST_F(InitTest, WithoutDataDirPathsStayRelative) {
  init_ok();
  const std::string toml = slurp(layout().config());
  for (const char* v : {"cert = \"pki/https.crt\"", "data_dir = \"data\"",
                        "ca_dir = \"broker/device-cas\"", "managed_ca_dir = \"pki/cas\""}) {
    EXPECT_NE(toml.find(v), std::string::npos) << v;
  }
  EXPECT_EQ(toml.find(tmp_.path().string()), std::string::npos);
}

// --user: the service user owns the data; the config is root-owned and group-readable.
TEST_F(InitTest, ServiceUserOwnsTheData) {
  options_.dir = tmp_.path() / "etc";
  options_.data_dir = tmp_.path() / "var";
  options_.service_user = "nobody";
  if (::geteuid() != 0) {
    auto r = run_init(options_);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().name, "NotRoot");
    return;
  }
  auto rep = init_ok();
  const passwd* nobody = ::getpwnam("nobody");
  ASSERT_NE(nobody, nullptr);
  const fs::path var = tmp_.path() / "var";
  for (const char* p :
       {"", "pki", "pki/root-ca.key", "broker/server.key", "broker/mosquitto.conf", "data"}) {
    struct stat st {};
    ASSERT_EQ(::lstat((var / p).c_str(), &st), 0) << p;
    EXPECT_EQ(st.st_uid, nobody->pw_uid) << p;
  }
  EXPECT_EQ(mode_of(var), 0750u);
  struct stat st {};
  ASSERT_EQ(::stat((tmp_.path() / "etc/smartproduct.toml").c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_gid, nobody->pw_gid);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  // mosquitto is started by the daemon as that user: nothing to drop to.
  EXPECT_FALSE(has_line(slurp(var / "broker/mosquitto.conf"), "user mosquitto"));
  EXPECT_FALSE(rep.privileged_setup);
  options_.service_user = "no-such-user-sp";
  EXPECT_EQ(run_init(options_).error().name, "UserNotFound");
}

TEST_F(InitTest, ChangedPortIsReportedNotApplied) {
  init_ok();
  options_.mqtt_port = 18999;
  auto rep = init_ok();
  EXPECT_TRUE(has_line(slurp(layout().mosquitto_conf()), "listener 18883"));
  bool warned = false;
  for (const auto& w : rep.warnings) warned |= w.find("broker/mosquitto.conf was kept") == 0;
  EXPECT_TRUE(warned);
}

TEST_F(InitTest, ForceRegeneratesButKeepsBrokerState) {
  init_ok();
  auto l = layout();
  const std::string root_key = slurp(l.root_ca_key());
  write_text(l.broker_state(), R"({"revoked":["AA"]})");
  options_.force = true;
  auto rep = init_ok();
  EXPECT_NE(slurp(l.root_ca_key()), root_key);
  EXPECT_EQ(mode_of(l.root_ca_key()), 0600u);
  EXPECT_EQ(slurp(l.broker_state()), R"({"revoked":["AA"]})");
  auto v =
      run("openssl verify -CAfile " + l.root_ca_cert().string() + " " + l.backend_cert().string());
  EXPECT_EQ(v.status, 0) << v.output;
}

TEST_F(InitTest, CompletesPartialInstance) {
  init_ok();
  auto l = layout();
  const std::string https_key = slurp(l.https_key());
  const std::string backend_cert = slurp(l.backend_cert());
  fs::remove(l.https_cert());
  fs::remove(l.services_acl());
  auto rep = init_ok();
  EXPECT_TRUE(contains(rep.created, "pki/https.crt"));
  EXPECT_TRUE(contains(rep.created, "broker/services.acl"));
  EXPECT_EQ(slurp(l.https_key()), https_key);
  EXPECT_TRUE(sp::pki::check_key_matches(slurp(l.https_cert()), https_key));
  EXPECT_EQ(slurp(l.backend_cert()), backend_cert);

  // New root (both files gone): every issued certificate is re-issued for its existing key.
  fs::remove(l.root_ca_cert());
  fs::remove(l.root_ca_key());
  rep = init_ok();
  EXPECT_TRUE(contains(rep.created, "pki/root-ca.key"));
  EXPECT_NE(slurp(l.backend_cert()), backend_cert);
  const std::string root = l.root_ca_cert().string();
  for (const auto& c : {l.https_cert(), l.backend_cert(), l.broker_cert()}) {
    auto v = run("openssl verify -CAfile " + root + " " + c.string());
    EXPECT_EQ(v.status, 0) << c << v.output;
  }
  EXPECT_EQ(slurp(l.broker_cafile()), slurp(l.root_ca_cert()));
}

TEST_F(InitTest, JitrOffTurnsActivationOff) {
  write_text(tmp_.path() / "bin" / "mosquitto_smartproduct.so", "PLUGIN");
  options_.jitr = false;
  init_ok();
  auto l = layout();
  EXPECT_TRUE(has_line(slurp(l.mosquitto_conf()), "plugin_opt_require_activation false"));
  auto cfg = toml::parse_file(l.config().string());
  EXPECT_EQ(cfg["jitr"]["enabled"].value<bool>(), false);
}

TEST_F(InitTest, NewHostnameReissuesServerCerts) {
  init_ok();
  options_.hostname = "other.example";
  auto rep = init_ok();
  bool reissued = false;
  for (const auto& u : rep.updated) reissued |= u.starts_with("pki/https.crt (re-issued");
  EXPECT_TRUE(reissued);
  auto info = sp::pki::parse_certificate(slurp(layout().https_cert())).value();
  EXPECT_TRUE(contains(info.dns_names, "other.example"));
}

TEST_F(InitTest, RefusesCertWithoutKeyAndMismatchedKey) {
  init_ok();
  auto l = layout();
  fs::remove(l.backend_key());
  auto r = run_init(options_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "KeyMissing");
  write_text(l.backend_key(), sp::pki::generate_ec_key().value());
  r = run_init(options_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "KeyMismatch");
}

TEST_F(InitTest, RejectsBadInput) {
  options_.hostname = "bad host";
  EXPECT_EQ(run_init(options_).error().name, "HostnameInvalid");
  options_.hostname = "";
  options_.mqtt_port = options_.http_port;
  EXPECT_EQ(run_init(options_).error().name, "PortInvalid");
  options_.mqtt_port = 18883;
  write_text(tmp_.path() / "file", "x");
  options_.dir = tmp_.path() / "file" / "inst";
  EXPECT_FALSE(run_init(options_));
  options_.dir = tmp_.path() / "inst";
  options_.plugin = (tmp_.path() / "missing.so").string();
  EXPECT_EQ(run_init(options_).error().name, "PluginNotFound");
}

TEST_F(InitTest, InstallsPluginByRename) {
  write_text(tmp_.path() / "bin" / "mosquitto_smartproduct.so", "PLUGIN-V1");
  auto rep = init_ok();
  auto l = layout();
  EXPECT_TRUE(rep.plugin_enabled);
  EXPECT_EQ(slurp(l.plugin()), "PLUGIN-V1");
  const std::string conf = slurp(l.mosquitto_conf());
  EXPECT_TRUE(has_line(conf, "plugin " + l.plugin().string()));
  EXPECT_TRUE(has_line(conf, "plugin_opt_state_file " + l.broker_state().string()));
  // The plugin line comes before any other plugin-related line: it must be the first plugin.
  EXPECT_LT(conf.find("\nplugin "), conf.find("\nplugin_opt_"));

  const ino_t before = inode_of(l.plugin());
  write_text(tmp_.path() / "other.so", "PLUGIN-V2");
  options_.plugin = (tmp_.path() / "other.so").string();
  rep = init_ok();
  EXPECT_TRUE(contains(rep.updated, "broker/mosquitto_smartproduct.so"));
  EXPECT_EQ(slurp(l.plugin()), "PLUGIN-V2");
  EXPECT_NE(inode_of(l.plugin()), before);  // replaced by rename, never written in place
}

class DeviceCertTest : public InitTest {
 protected:
  void SetUp() override {
    InitTest::SetUp();
    init_ok();
    dev_.instance_dir = options_.dir;
    dev_.out_dir = tmp_.path() / "out";
    dev_.serial = "SN:0001_a-b";
    ca_pem_ = create_ca("factory").certificate_pem;
  }
  sp::pki::CertificateAuthority create_ca(const std::string& name) {
    auto ctx = CaContext::open(layout().config()).value();
    auto ca = ctx->service().create_managed(name, 365);
    EXPECT_TRUE(ca) << (ca ? "" : ca.error().message);
    return ca ? *ca : sp::pki::CertificateAuthority{};
  }
  DeviceCertOptions dev_;
  std::string ca_pem_;
};

TEST_F(DeviceCertTest, IssuesChainThatVerifies) {
  auto r = issue_device_cert(dev_);
  ASSERT_TRUE(r) << r.error().message;
  auto l = layout();
  EXPECT_EQ(r->cert_path, dev_.out_dir / "SN:0001_a-b.crt");
  EXPECT_EQ(mode_of(r->key_path), 0600u);
  auto certs = sp::pki::split_pem_certificates(slurp(r->cert_path)).value();
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_EQ(certs[1], ca_pem_);
  EXPECT_EQ(r->info.common_name, "SN:0001_a-b");
  EXPECT_EQ(r->ca_name, "factory");
  const auto ca_file = l.pki() / "cas" / "factory.crt";
  EXPECT_EQ(slurp(ca_file), ca_pem_);
  auto v = run("openssl verify -purpose sslclient -CAfile " + ca_file.string() + " '" +
               r->cert_path.string() + "'");
  EXPECT_EQ(v.status, 0) << v.output;
  EXPECT_TRUE(sp::pki::check_key_matches(certs[0], slurp(r->key_path)));
  // The broker's capath alone also anchors it (besides the root as cafile).
  v = run("openssl verify -CAfile " + l.broker_cafile().string() + " -CApath " +
          l.device_cas().string() + " '" + r->cert_path.string() + "'");
  EXPECT_EQ(v.status, 0) << v.output;
}

TEST_F(DeviceCertTest, NeverOverwritesKeyWithoutForce) {
  ASSERT_TRUE(issue_device_cert(dev_));
  const std::string key = slurp(dev_.out_dir / "SN:0001_a-b.key");
  const std::string crt = slurp(dev_.out_dir / "SN:0001_a-b.crt");
  auto again = issue_device_cert(dev_);
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().name, "KeyExists");
  EXPECT_EQ(slurp(dev_.out_dir / "SN:0001_a-b.key"), key);
  EXPECT_EQ(slurp(dev_.out_dir / "SN:0001_a-b.crt"), crt);
  dev_.force = true;
  ASSERT_TRUE(issue_device_cert(dev_));
  EXPECT_NE(slurp(dev_.out_dir / "SN:0001_a-b.key"), key);
}

TEST_F(DeviceCertTest, ValidatesSerialAndInstance) {
  for (const char* bad : {"", "../x", "a/b", "a b", "a+b", "a#b", "a.b"}) {
    dev_.serial = bad;
    auto r = issue_device_cert(dev_);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().name, "SerialInvalid") << bad;
  }
  dev_.serial = std::string(129, 'a');
  EXPECT_FALSE(issue_device_cert(dev_));
  dev_.serial = std::string(128, 'a');
  EXPECT_TRUE(issue_device_cert(dev_));
  dev_.serial = "ok";
  dev_.ca = "nope";
  EXPECT_EQ(issue_device_cert(dev_).error().name, "CaNotFound");
  dev_.ca = "";
  dev_.instance_dir = tmp_.path() / "nowhere";
  EXPECT_EQ(issue_device_cert(dev_).error().name, "InstanceNotFound");
}

TEST_F(DeviceCertTest, ChoosesTheOnlyManagedCaOrAsks) {
  dev_.serial = "SN-1";
  ASSERT_TRUE(issue_device_cert(dev_));
  create_ca("second");
  dev_.serial = "SN-2";
  auto r = issue_device_cert(dev_);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().name, "ManagedCaMissing");
  EXPECT_NE(r.error().message.find("factory, second"), std::string::npos) << r.error().message;
  dev_.ca = "second";
  auto ok = issue_device_cert(dev_);
  ASSERT_TRUE(ok) << ok.error().message;
  EXPECT_EQ(ok->ca_name, "second");
}

TEST_F(DeviceCertTest, SignsCsrWithoutWritingAKey) {
  const std::string key = sp::pki::generate_ec_key().value();
  write_text(tmp_.path() / "dev.csr", sp::pki::create_csr(key, "SN-CSR").value());
  dev_.csr = tmp_.path() / "dev.csr";
  dev_.serial = "SN-CSR";
  auto r = issue_device_cert(dev_);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_TRUE(r->key_path.empty());
  EXPECT_FALSE(fs::exists(dev_.out_dir / "SN-CSR.key"));
  auto certs = sp::pki::split_pem_certificates(slurp(r->cert_path)).value();
  ASSERT_EQ(certs.size(), 2u);
  EXPECT_TRUE(sp::pki::check_key_matches(certs[0], key));
  EXPECT_EQ(certs[1], ca_pem_);
  // The CSR's CN must be the serial.
  dev_.serial = "SN-OTHER";
  auto mismatch = issue_device_cert(dev_);
  ASSERT_FALSE(mismatch);
  EXPECT_EQ(mismatch.error().name, "CsrCommonNameMismatch");
  EXPECT_FALSE(fs::exists(dev_.out_dir / "SN-OTHER.crt"));
}

TEST(Executable, VersionAndExitCodes) {
  const std::string exe = SP_CTL_EXE;
  auto v = run(exe + " --version");
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.output, std::string("smartproductctl ") + SP_VERSION + "\n");

  TempDir tmp;
  const std::string dir = (tmp.path() / "inst").string();
  auto init =
      run(exe + " init --dir " + dir + " --http-port 28443 --mqtt-port 28883 --hostname h1");
  EXPECT_EQ(init.status, 0) << init.output;
  EXPECT_NE(init.output.find("smartproductd --config " + dir + "/smartproduct.toml"),
            std::string::npos)
      << init.output;
  auto again = run(exe + " init --dir " + dir + " --hostname h1");
  EXPECT_EQ(again.status, 0);
  EXPECT_NE(again.output.find("kept     pki/root-ca.key"), std::string::npos) << again.output;

  const std::string out = (tmp.path() / "out").string();
  auto no_ca = run(exe + " device-cert issue --serial D0 --out " + out + " --dir " + dir);
  EXPECT_NE(no_ca.status, 0);
  EXPECT_NE(no_ca.output.find("ca create"), std::string::npos) << no_ca.output;
  auto create = run(exe + " ca create --name factory --dir " + dir);
  EXPECT_EQ(create.status, 0) << create.output;
  EXPECT_NE(create.output.find("device-cert issue --ca factory"), std::string::npos)
      << create.output;
  // No option: $SMARTPRODUCT_CONFIG, then /etc/smartproduct (never the current directory).
  auto nowhere = run("cd " + dir + " && env -u SMARTPRODUCT_CONFIG -u SP_INSTANCE_DIR " + exe +
                     " device-cert issue --serial D1 --out " + out);
  EXPECT_NE(nowhere.status, 0);
  EXPECT_NE(nowhere.output.find("/etc/smartproduct/smartproduct.toml"), std::string::npos)
      << nowhere.output;
  auto issue = run("SMARTPRODUCT_CONFIG=" + dir + "/smartproduct.toml " + exe +
                   " device-cert issue --serial D1 --out " + out);
  EXPECT_EQ(issue.status, 0) << issue.output;
  auto before = run(exe + " --dir " + dir + " device-cert issue --serial D3 --out " + out);
  EXPECT_EQ(before.status, 0) << before.output;
  auto dup = run(exe + " device-cert issue --serial D1 --out " + out + " --dir " + dir);
  EXPECT_NE(dup.status, 0);
  EXPECT_NE(dup.output.find("refusing to overwrite"), std::string::npos) << dup.output;
  auto by_config = run(exe + " device-cert issue --serial D2 --out " + out + " --config " + dir +
                       "/smartproduct.toml --days 2");
  EXPECT_EQ(by_config.status, 0) << by_config.output;

  write_text(tmp.path() / "file", "x");
  auto bad = run(exe + " init --dir " + (tmp.path() / "file" / "x").string());
  EXPECT_NE(bad.status, 0);
  EXPECT_NE(bad.output.find("error: cannot create"), std::string::npos) << bad.output;
  EXPECT_EQ(std::count(bad.output.begin(), bad.output.end(), '\n'), 1) << bad.output;
  EXPECT_NE(run(exe + " init").status, 0);  // --dir is required
  EXPECT_NE(run(exe).status, 0);            // a subcommand is required
}

TEST(Executable, CaCommands) {
  const std::string exe = SP_CTL_EXE;
  TempDir tmp;
  const fs::path dir = tmp.path() / "inst";
  auto init = run(exe + " init --dir " + dir.string() + " --hostname h1 --jitr off");
  ASSERT_EQ(init.status, 0) << init.output;
  EXPECT_NE(slurp(dir / "smartproduct.toml").find("enabled = false"), std::string::npos);
  const std::string at = " --dir " + dir.string();
  auto revision = [&] {
    return CaContext::open(dir / "smartproduct.toml").value()->broker_state_revision().value();
  };

  auto code = run(exe + " ca registration-code" + at);
  ASSERT_EQ(code.status, 0) << code.output;
  ASSERT_EQ(code.output.size(), 65u) << code.output;
  const std::string registration_code = code.output.substr(0, 64);

  // A CA of the manufacturer and the proof of possession of its key.
  auto ca = sp::pki::create_root_ca("Acme Device CA", 365).value();
  const sp::pki::Issuer issuer{ca.cert_pem, ca.key_pem};
  write_text(tmp.path() / "ca.crt", ca.cert_pem);
  write_text(tmp.path() / "verify.crt",
             sp::pki::issue_client_cert(issuer, registration_code, 1)->cert_pem);
  write_text(tmp.path() / "wrong.crt", sp::pki::issue_client_cert(issuer, "other", 1)->cert_pem);
  const std::string files = " --cert " + (tmp.path() / "ca.crt").string();

  auto wrong = run(exe + " ca register" + files + " --verification-cert " +
                   (tmp.path() / "wrong.crt").string() + at);
  EXPECT_EQ(wrong.status, 1);
  EXPECT_NE(wrong.output.find("registration code"), std::string::npos) << wrong.output;
  EXPECT_EQ(revision(), 0);

  auto reg = run(exe + " ca register" + files + " --verification-cert " +
                 (tmp.path() / "verify.crt").string() + " --name acme" + at);
  ASSERT_EQ(reg.status, 0) << reg.output;
  EXPECT_NE(reg.output.find("acme (INACTIVE)"), std::string::npos) << reg.output;
  EXPECT_EQ(revision(), 1);
  const std::string id = sp::pki::parse_certificate(ca.cert_pem)->subject_key_id;
  // INACTIVE: not in the broker's capath until activated.
  EXPECT_FALSE(fs::exists(dir / "broker" / "device-cas" / (id + ".pem")));

  EXPECT_EQ(run(exe + " ca activate acme" + at).status, 0);
  EXPECT_TRUE(fs::exists(dir / "broker" / "device-cas" / (id + ".pem")));
  auto on = run(exe + " ca auto-registration " + id + " on" + at);
  EXPECT_EQ(on.status, 0) << on.output;
  EXPECT_NE(on.output.find("acme (ACTIVE)"), std::string::npos) << on.output;
  EXPECT_NE(on.output.find("auto-registration  on"), std::string::npos) << on.output;
  EXPECT_NE(run(exe + " ca auto-registration acme maybe" + at).status, 0);
  EXPECT_EQ(run(exe + " ca deactivate acme" + at).status, 0);
  EXPECT_EQ(revision(), 4);

  auto created = run(exe + " ca create --name factory --days 30" + at);
  ASSERT_EQ(created.status, 0) << created.output;
  auto list = run(exe + " ca list" + at);
  EXPECT_EQ(list.status, 0);
  const auto acme_line = list.output.find("\nacme ");
  ASSERT_NE(acme_line, std::string::npos) << list.output;
  const std::string row =
      list.output.substr(acme_line + 1, list.output.find('\n', acme_line + 1) - acme_line);
  EXPECT_NE(row.find("INACTIVE"), std::string::npos) << row;
  EXPECT_NE(row.find(id), std::string::npos) << row;
  EXPECT_NE(list.output.find("factory"), std::string::npos) << list.output;

  auto gone = run(exe + " ca deregister acme" + at);
  EXPECT_EQ(gone.status, 0) << gone.output;
  EXPECT_FALSE(fs::exists(dir / "broker" / "device-cas" / (id + ".pem")));
  EXPECT_EQ(run(exe + " ca list" + at).output.find("acme"), std::string::npos);
  EXPECT_NE(run(exe + " ca list --all" + at).output.find("DEREGISTERED"), std::string::npos);
  auto again = run(exe + " ca activate acme" + at);
  EXPECT_EQ(again.status, 1);
  EXPECT_NE(again.output.find("No certificate authority"), std::string::npos) << again.output;
  EXPECT_EQ(revision(), 6);
}
