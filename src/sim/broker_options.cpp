#include "broker_options.hpp"

#include <atomic>
#include <csignal>

namespace sp::sim {

namespace {
std::atomic<bool> g_stop{false};
extern "C" void on_stop_signal(int) { g_stop.store(true); }
}  // namespace

void add_broker_options(CLI::App& cmd, BrokerOptions& options) {
  cmd.add_option("--host", options.host, "Broker host name (checked against its certificate)")
      ->capture_default_str();
  cmd.add_option("--port", options.port, "Broker MQTT/TLS port")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd.add_option("--cafile", options.cafile, "CA certificate that signed the broker's certificate")
      ->required()
      ->check(CLI::ExistingFile);
  // Parsed as text so --help shows "5" and "311" rather than the enum's numbers.
  cmd.add_option_function<std::string>(
         "--protocol",
         [&options](const std::string& v) {
           options.protocol = v == "311" ? Protocol::kV311 : Protocol::kV5;
         },
         "MQTT protocol version: 5 (default) or 311")
      ->check(CLI::IsMember({"5", "311"}));
  cmd.add_option("--keepalive", options.keepalive_s, "MQTT keepalive in seconds")
      ->capture_default_str()
      ->check(CLI::Range(5, 65535));
  cmd.add_flag("--insecure", options.insecure,
               "Do not check the broker's host name (the certificate chain is still verified)");
}

void install_stop_signals() {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);
  sigaction(SIGTERM, &sa, nullptr);
  // A broker that drops the connection must not kill us with SIGPIPE.
  std::signal(SIGPIPE, SIG_IGN);
}

bool stop_requested() { return g_stop.load(std::memory_order_relaxed); }

}  // namespace sp::sim
