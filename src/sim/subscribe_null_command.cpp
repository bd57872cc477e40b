#include "subscribe_null_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>

#include "broker_options.hpp"
#include "mqtt_client.hpp"
#include "poll_loop.hpp"
#include "publish_command.hpp"

namespace sp::sim {

namespace {

struct SubscribeArgs {
  BrokerOptions broker;
  std::string cert;
  std::string key;
  std::string client_id;
  std::string filter = "smartproduct/telemetry/+";
  int qos = 1;
  int receive_maximum = 1000;
  std::uint64_t expect = 0;
  double idle_timeout_s = 0;
  double duration_s = 0;
  double report_s = 0;
  bool json = false;
};

/// Counts messages and nothing else, so the rate it sees is what the broker can deliver.
class NullSubscriber final : public PolledClient, private MqttListener {
 public:
  NullSubscriber(const SubscribeArgs& args)
      : args_(args),
        client_(args.broker,
                ClientSettings{.client_id = args.client_id,
                               .cert_file = args.cert,
                               .key_file = args.key,
                               .clean_start = true,
                               .session_expiry_s = 0,
                               .send_maximum = 100,
                               .receive_maximum = args.receive_maximum},
                *this) {}

  MqttClient& mqtt() override { return client_; }
  bool finished() const override { return done_; }

  void tick(SteadyClock::time_point now) override {
    if (!started_) {
      started_ = true;
      start_ = now;
      int rc = client_.connect();
      if (rc != MOSQ_ERR_SUCCESS) {
        fail(kExitConnectionFailed, fmt::format("connect to {}:{} failed: {}", args_.broker.host,
                                                args_.broker.port, error_text(rc)));
      }
      return;
    }
    if (closing_) {
      if (client_.socket() < 0) done_ = true;
      return;
    }
    bool stop = stop_requested();
    if (args_.expect > 0 && received_ >= args_.expect) stop = true;
    if (args_.duration_s > 0 && now - start_ >= seconds(args_.duration_s)) stop = true;
    if (args_.idle_timeout_s > 0 && last_ && now - *last_ >= seconds(args_.idle_timeout_s)) {
      stop = true;
    }
    if (stop) close();
  }

  void report_if_due(SteadyClock::time_point now) {
    if (args_.report_s <= 0) return;
    if (!last_report_) {
      last_report_ = now;
      return;
    }
    if (now - *last_report_ < seconds(args_.report_s)) return;
    const double dt = std::chrono::duration<double>(now - *last_report_).count();
    std::cerr << fmt::format("received {} ({:.0f} msg/s)\n", received_,
                             static_cast<double>(received_ - reported_) / dt);
    reported_ = received_;
    last_report_ = now;
  }

  int exit_code() const { return exit_code_; }

  void print_summary() const {
    double window = 0;
    if (first_ && last_) window = std::chrono::duration<double>(*last_ - *first_).count();
    // (n-1)/(t_last - t_first): the first message only starts the clock.
    const double rate = window > 0 ? static_cast<double>(received_ - 1) / window : 0.0;
    if (args_.json) {
      nlohmann::json j{{"received", received_},
                       {"bytes", bytes_},
                       {"window_s", window},
                       {"rate_msg_s", rate},
                       {"exit_code", exit_code_}};
      std::cout << j.dump() << std::endl;
    } else {
      std::cout << fmt::format("received {} ({} bytes)  window {:.3f} s  msg/s {:.0f}\n", received_,
                               bytes_, window, rate);
      std::cout.flush();
    }
  }

 private:
  static std::chrono::nanoseconds seconds(double s) {
    return std::chrono::nanoseconds(static_cast<std::int64_t>(s * 1e9));
  }

  void on_connect(int reason_code) override {
    if (reason_code != 0) {
      fail(kExitConnectRefused, "connection refused: " + reason_text(reason_code));
      return;
    }
    int rc = client_.subscribe(args_.filter, args_.qos, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) fail(kExitConnectionFailed, "subscribe: " + error_text(rc));
  }

  void on_subscribe(int, int count, const int* granted) override {
    if (count < 1 || granted[0] >= 0x80) {
      fail(kExitConnectRefused,
           "subscription refused: " + reason_text(count < 1 ? 0x80 : granted[0]));
      return;
    }
    // Scripts wait for this line before they start publishers.
    std::cout << "subscribed " << args_.filter << std::endl;
  }

  void on_message(const mosquitto_message& message) override {
    auto now = SteadyClock::now();
    if (!first_) first_ = now;
    last_ = now;
    ++received_;
    bytes_ += static_cast<std::uint64_t>(message.payloadlen);
  }

  void on_disconnect(int rc) override {
    if (closing_ || done_) {
      done_ = true;
      return;
    }
    fail(kExitConnectionFailed, "connection lost: " + error_text(rc));
  }

  void fail(int code, const std::string& why) {
    spdlog::error("subscribe-null: {}", why);
    if (exit_code_ == kExitOk) exit_code_ = code;
    if (client_.socket() >= 0) {
      close();
    } else {
      done_ = true;
    }
  }

  void close() {
    closing_ = true;
    client_.disconnect();
    if (client_.socket() < 0) done_ = true;
  }

  const SubscribeArgs& args_;
  MqttClient client_;
  bool started_ = false;
  bool closing_ = false;
  bool done_ = false;
  int exit_code_ = kExitOk;
  SteadyClock::time_point start_{};
  std::optional<SteadyClock::time_point> first_, last_, last_report_;
  std::uint64_t received_ = 0, reported_ = 0, bytes_ = 0;
};

int run_subscribe_null(const SubscribeArgs& args) {
  std::optional<NullSubscriber> sub;
  try {
    sub.emplace(args);
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim subscribe-null: " << e.what() << "\n";
    return kExitUsage;
  }
  std::vector<PolledClient*> clients{&*sub};
  run_poll_loop(clients, [&](SteadyClock::time_point now) {
    sub->report_if_due(now);
    return false;
  });
  sub->print_summary();
  return sub->exit_code();
}

}  // namespace

Subcommand add_subscribe_null_command(CLI::App& app) {
  auto args = std::make_shared<SubscribeArgs>();
  args->client_id = fmt::format("sim-null-{}", ::getpid());
  auto* cmd = app.add_subcommand(
      "subscribe-null", "Subscribe as a service account and only count messages (baseline)");
  add_broker_options(*cmd, args->broker);
  cmd->add_option("--cert", args->cert, "Client certificate (e.g. pki/svc-backend.crt)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--key", args->key, "Client key")->required()->check(CLI::ExistingFile);
  cmd->add_option("--client-id", args->client_id, "MQTT client id")->capture_default_str();
  cmd->add_option("--filter", args->filter, "Topic filter")->capture_default_str();
  cmd->add_option("--qos", args->qos, "Subscription QoS")
      ->capture_default_str()
      ->check(CLI::Range(0, 1));
  cmd->add_option("--receive-maximum", args->receive_maximum,
                  "MQTT v5 receive maximum (the daemon uses 1000)")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--expect", args->expect, "Exit after this many messages");
  cmd->add_option("--idle-timeout", args->idle_timeout_s,
                  "Exit when no message arrived for S seconds (after the first one)");
  cmd->add_option("--duration", args->duration_s, "Exit after S seconds");
  cmd->add_option("--report-interval", args->report_s, "Print the rate to stderr every S seconds");
  cmd->add_flag("--json", args->json, "Print the summary as one JSON object");
  return {cmd, [args] { return run_subscribe_null(*args); }};
}

}  // namespace sp::sim
