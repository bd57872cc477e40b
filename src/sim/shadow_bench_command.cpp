#include "shadow_bench_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "fd_limit.hpp"
#include "instance_info.hpp"
#include "mqtt_client.hpp"
#include "poll_loop.hpp"

namespace sp::sim {

namespace {

using nlohmann::json;

struct BenchArgs {
  std::string config_file;
  std::string dir;
  std::string cert_dir;
  std::string prefix = "BENCH-";
  std::string ca;
  std::string ctl;
  std::size_t devices = 1000;
  int updates = 20;
  std::string mode = "shadow";
  std::string host;
  int port = 0;
  unsigned threads = 0;
  double timeout_s = 10;
  bool json = false;
};

std::atomic<std::size_t> g_ready{0};
std::atomic<bool> g_go{false};

/// One device: subscribe, wait for the start, then one request in flight at a time.
class BenchDevice final : public PolledClient, private MqttListener {
 public:
  BenchDevice(const DeviceIdentity& id, const InstanceInfo& instance, const BenchArgs& a)
      : a_(a),
        serial_(id.serial),
        request_topic_(a.mode == "shadow" ? "$aws/things/" + id.serial + "/shadow/update"
                                          : "smartproduct/commands/" + id.serial),
        client_(instance.broker,
                ClientSettings{.client_id = id.serial,
                               .cert_file = id.cert.string(),
                               .key_file = id.key.string(),
                               .clean_start = true,
                               .send_maximum = 10,
                               .receive_maximum = 10},
                *this) {
    latencies_us_.reserve(static_cast<std::size_t>(a.updates));
  }

  MqttClient& mqtt() override { return client_; }
  bool finished() const override { return state_ == State::kDone; }
  const std::vector<double>& latencies_us() const { return latencies_us_; }
  int failures() const { return failures_; }
  SteadyClock::time_point last_answer() const { return last_answer_; }

  SteadyClock::time_point next_tick() const override {
    switch (state_) {
      case State::kIdle:
        return SteadyClock::time_point{};
      case State::kInFlight:
        return send_next_ ? SteadyClock::time_point{} : sent_at_ + timeout();
      case State::kClosing:
        return sent_at_ + timeout();
      default:
        return SteadyClock::time_point::max();
    }
  }

  void tick(SteadyClock::time_point now) override {
    if (state_ == State::kIdle) {
      state_ = State::kConnecting;
      if (const int rc = client_.connect(); rc != MOSQ_ERR_SUCCESS) {
        fail(fmt::format("connect failed: {}", error_text(rc)));
      }
      return;
    }
    if (state_ == State::kReady && g_go.load()) {
      state_ = State::kInFlight;
      send_next_ = true;
    }
    if (stop_requested() && state_ != State::kClosing && state_ != State::kDone) close(now);
    if (state_ == State::kInFlight) {
      if (!send_next_ && now >= sent_at_ + timeout()) {
        ++failures_;  // no answer in time
        send_next_ = true;
      }
      if (send_next_) send(now);
    } else if (state_ == State::kClosing && (client_.socket() < 0 || now >= sent_at_ + timeout())) {
      state_ = State::kDone;
    }
  }

 private:
  enum class State { kIdle, kConnecting, kSubscribing, kReady, kInFlight, kClosing, kDone };

  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<std::int64_t>(a_.timeout_s * 1000));
  }

  void fail(const std::string& what) {
    spdlog::error("{}: {}", serial_, what);
    ++failures_;
    state_ = State::kDone;
  }

  void close(SteadyClock::time_point now) {
    state_ = State::kClosing;
    sent_at_ = now;
    if (client_.socket() >= 0) {
      client_.disconnect();
    } else {
      state_ = State::kDone;
    }
  }

  void send(SteadyClock::time_point now) {
    send_next_ = false;
    if (sent_ == a_.updates) {
      close(now);
      return;
    }
    ++sent_;
    token_ = fmt::format("{}-{}", serial_, sent_);
    const auto payload =
        a_.mode == "shadow"
            ? json{{"state",
                    {{"reported", {{"seq", sent_}, {"actualTemperature", 70 + sent_ % 10}}}}},
                   {"clientToken", token_}}
                  .dump()
            : json{{"status", "bench"}, {"clientToken", token_}}.dump();
    sent_at_ = SteadyClock::now();
    int mid = 0;
    if (const int rc = client_.publish(request_topic_, payload, 1, &mid); rc != MOSQ_ERR_SUCCESS) {
      fail(fmt::format("publish failed: {}", error_text(rc)));
    }
  }

  void on_connect(int reason_code) override {
    if (reason_code != 0) {
      fail(fmt::format("connection refused: {}", reason_text(reason_code)));
      return;
    }
    state_ = State::kSubscribing;
    int mid = 0;
    if (a_.mode == "shadow") {
      client_.subscribe(request_topic_ + "/accepted", 1, &mid);
      client_.subscribe(request_topic_ + "/rejected", 1, &mid);
      subacks_wanted_ = 2;
    } else {
      client_.subscribe(request_topic_, 1, &mid);  // our own publishes come back: the round trip
      subacks_wanted_ = 1;
    }
  }

  void on_subscribe(int, int count, const int* granted) override {
    if (count < 1 || granted[0] >= 0x80) {
      fail("subscription refused");
      return;
    }
    if (--subacks_wanted_ == 0 && state_ == State::kSubscribing) {
      state_ = g_go.load() ? State::kInFlight : State::kReady;
      if (state_ == State::kInFlight) send_next_ = true;
      g_ready.fetch_add(1);
    }
  }

  void on_disconnect(int rc) override {
    if (state_ == State::kClosing || state_ == State::kDone) {
      state_ = State::kDone;
      return;
    }
    fail(fmt::format("connection lost: {}", error_text(rc)));
  }

  void on_message(const mosquitto_message& m) override {
    if (state_ != State::kInFlight || send_next_) return;
    const auto doc = json::parse(std::string_view(static_cast<const char*>(m.payload),
                                                  static_cast<std::size_t>(m.payloadlen)),
                                 nullptr, false);
    if (!doc.is_object() || doc.value("clientToken", std::string()) != token_) return;
    const auto now = SteadyClock::now();
    if (std::string_view(m.topic).ends_with("/rejected")) {
      ++failures_;
    } else {
      latencies_us_.push_back(std::chrono::duration<double, std::micro>(now - sent_at_).count());
    }
    last_answer_ = now;
    send_next_ = true;  // published from tick(), outside the callback, so it is written at once
  }

  const BenchArgs& a_;
  std::string serial_;
  std::string request_topic_;
  MqttClient client_;
  State state_ = State::kIdle;
  int subacks_wanted_ = 0;
  int sent_ = 0;
  int failures_ = 0;
  bool send_next_ = false;
  std::string token_;
  SteadyClock::time_point sent_at_{};
  SteadyClock::time_point last_answer_{};
  std::vector<double> latencies_us_;
};

double percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto i = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

int run_bench(const BenchArgs& a) {
  if (const auto fds = ensure_fd_limit(a.devices); !fds.ok) {
    std::cerr << "smartproduct-sim shadow-bench: " << fds.message << "\n";
    return kExitResourceLimit;
  }
  InstanceInfo instance;
  std::vector<DeviceIdentity> identities;
  try {
    std::tie(instance, identities) = load_fleet(fleet_options(a, a.devices));
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim shadow-bench: " << e.what() << "\n";
    return kExitUsage;
  }
  unsigned threads = a.threads;
  if (threads == 0) threads = std::max(1U, std::min(2U, std::thread::hardware_concurrency()));
  std::vector<std::unique_ptr<BenchDevice>> devices;
  std::vector<std::vector<PolledClient*>> groups(threads);
  for (std::size_t i = 0; i < identities.size(); ++i) {
    devices.push_back(std::make_unique<BenchDevice>(identities[i], instance, a));
    groups[i % threads].push_back(devices.back().get());
  }
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      bool went = false;
      run_poll_loop(groups[t], [&](SteadyClock::time_point) {
        if (!went && g_go.load()) return went = true;  // tick everyone: start
        return stop_requested();
      });
    });
  }
  // Everyone connected and subscribed (or failed) before the clock starts.
  const auto connect_deadline = SteadyClock::now() + std::chrono::minutes(10);
  while (g_ready.load() < devices.size() && SteadyClock::now() < connect_deadline &&
         !stop_requested()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const auto ready = g_ready.load();
  const auto started = SteadyClock::now();
  g_go = true;
  for (auto& w : workers) w.join();

  std::vector<double> all;
  int failures = 0;
  auto last = started;
  for (const auto& d : devices) {
    all.insert(all.end(), d->latencies_us().begin(), d->latencies_us().end());
    failures += d->failures();
    last = std::max(last, d->last_answer());
  }
  std::sort(all.begin(), all.end());
  const double seconds = std::chrono::duration<double>(last - started).count();
  const double rate = seconds > 0 ? static_cast<double>(all.size()) / seconds : 0;
  const json result{{"mode", a.mode},
                    {"devices", devices.size()},
                    {"ready", ready},
                    {"answered", all.size()},
                    {"failed", failures},
                    {"seconds", seconds},
                    {"per_s", rate},
                    {"p50_ms", percentile(all, 0.50) / 1000},
                    {"p99_ms", percentile(all, 0.99) / 1000},
                    {"max_ms", all.empty() ? 0 : all.back() / 1000}};
  if (a.json) {
    std::cout << result.dump() << "\n";
  } else {
    std::cout << fmt::format(
        "{}: {} devices ({} ready), {} answered, {} failed in {:.1f} s: {:.0f}/s, p50 {:.2f} ms, "
        "p99 {:.2f} ms\n",
        a.mode, devices.size(), ready, all.size(), failures, seconds, rate,
        percentile(all, 0.50) / 1000, percentile(all, 0.99) / 1000);
  }
  return failures == 0 && ready == devices.size() ? kExitOk : kExitIncomplete;
}

}  // namespace

Subcommand add_shadow_bench_command(CLI::App& app) {
  auto a = std::make_shared<BenchArgs>();
  auto* cmd = app.add_subcommand(
      "shadow-bench",
      "N devices each send shadow updates one at a time and time them until update/accepted "
      "(--mode echo: the bare broker's publish -> subscribe round trip on the same topics' "
      "broker)");
  add_instance_options(*cmd, a->config_file, a->dir);
  add_device_cert_options(*cmd, a->prefix, a->cert_dir, a->ca, a->ctl);
  cmd->add_option("--devices", a->devices)->capture_default_str()->check(CLI::Range(1, 100000));
  cmd->add_option("--updates", a->updates, "Updates per device")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  cmd->add_option("--mode", a->mode)
      ->capture_default_str()
      ->check(CLI::IsMember({"shadow", "echo"}));
  cmd->add_option("--host", a->host, "Broker host (default from the config)");
  cmd->add_option("--port", a->port, "Broker port (default from the config)");
  cmd->add_option("--threads", a->threads, "Worker threads (0 = up to 2)");
  cmd->add_option("--timeout-s", a->timeout_s, "Per-update answer timeout")->capture_default_str();
  cmd->add_flag("--json", a->json, "One JSON object on stdout");
  return {cmd, [a] { return run_bench(*a); }};
}

}  // namespace sp::sim
