#include "connect_storm_command.hpp"

#include <fmt/format.h>
#include <mqtt_protocol.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <iostream>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "device_model.hpp"
#include "instance_info.hpp"
#include "mqtt_client.hpp"
#include "payload.hpp"
#include "poll_loop.hpp"

namespace sp::sim {

namespace {

struct StormArgs {
  std::string config_file;
  std::string dir;
  std::string cert_dir;
  std::size_t count = 1000;
  std::string prefix = "SN-";
  std::string ca;
  std::string ctl;
  std::size_t inflight = 0;  ///< 0 = all at once
  bool wait_active = false;
  int probe_ms = 250;
  std::string probe_topic;  ///< with {serial}; empty: <telemetry prefix>/<serial>
  double timeout_s = 300;
  std::string host;
  int port = 0;
  unsigned threads = 0;
  bool json = false;
};

/// Connections open (connecting or waiting) across all workers: the K of "N connections, K in
/// flight".
std::atomic<std::size_t> g_open{0};

/// Blocking connects a worker starts per poll-loop round. Without a cap one round would do all its
/// devices' handshakes before reading a single CONNACK, and every latency would include the
/// whole storm.
constexpr int kConnectsPerRound = 4;
thread_local int t_connects_this_round = 0;

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string probe_topic(const StormArgs& a, const InstanceInfo& instance,
                        const std::string& serial) {
  if (a.probe_topic.empty()) return instance.telemetry_prefix + "/" + serial;
  std::string t = a.probe_topic;
  for (auto at = t.find("{serial}"); at != std::string::npos; at = t.find("{serial}")) {
    t.replace(at, 8, serial);
  }
  return t;
}

/// One device of the storm: connect, CONNACK, [probe until PUBACK 0], disconnect.
class StormDevice final : public PolledClient, private MqttListener {
 public:
  StormDevice(const DeviceIdentity& id, const InstanceInfo& instance, const StormArgs& a)
      : a_(a),
        serial_(id.serial),
        topic_(probe_topic(a, instance, id.serial)),
        client_(instance.broker,
                ClientSettings{.client_id = id.serial,
                               .cert_file = id.cert.string(),
                               .key_file = id.key.string(),
                               .clean_start = true,
                               .session_expiry_s = 0,
                               .send_maximum = 10,
                               .receive_maximum = 10},
                *this) {}

  MqttClient& mqtt() override { return client_; }
  bool finished() const override { return state_ == State::kDone; }

  void tick(SteadyClock::time_point now) override {
    switch (state_) {
      case State::kPending: {
        if (t_connects_this_round >= kConnectsPerRound) return;
        if (a_.inflight > 0) {
          auto open = g_open.load();
          do {
            if (open >= a_.inflight) return;
          } while (!g_open.compare_exchange_weak(open, open + 1));
        } else {
          g_open.fetch_add(1);
        }
        holds_slot_ = true;
        ++t_connects_this_round;
        started_ = SteadyClock::now();
        state_ = State::kConnecting;
        // Blocking TCP + TLS handshake; CONNACK arrives through the poll loop.
        const int rc = client_.connect();
        if (rc != MOSQ_ERR_SUCCESS) fail(fmt::format("connect failed: {}", error_text(rc)));
        return;
      }
      case State::kActivating:
        if (now >= next_probe_ && !probe_in_flight_) probe(now);
        return;
      case State::kConnecting:
      case State::kClosing:
        return;
      case State::kDone:
        return;
    }
  }

  /// Gives up (the run's timeout): counts as not connected / not active.
  void abandon() {
    if (state_ != State::kDone) fail("timed out");
  }

  const std::string& serial() const { return serial_; }
  bool connected() const { return connack_.has_value(); }
  bool active() const { return active_.has_value(); }
  bool failed() const { return !error_.empty(); }
  const std::string& error() const { return error_; }
  std::optional<SteadyClock::time_point> started() const {
    return state_ == State::kPending ? std::nullopt : std::optional(started_);
  }
  std::optional<SteadyClock::time_point> connack_at() const { return connack_; }
  std::optional<SteadyClock::time_point> active_at() const { return active_; }
  unsigned probes_refused() const { return refused_; }

 private:
  enum class State { kPending, kConnecting, kActivating, kClosing, kDone };

  void release_slot() {
    if (holds_slot_) {
      holds_slot_ = false;
      g_open.fetch_sub(1);
    }
  }

  void close() {
    release_slot();
    state_ = State::kClosing;
    if (client_.socket() >= 0) {
      client_.disconnect();
    } else {
      state_ = State::kDone;
    }
  }

  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
    spdlog::debug("{}: {}", serial_, error_);
    close();
  }

  void probe(SteadyClock::time_point now) {
    TelemetrySample sample{++seq_, epoch_ms(), 71.5, 71.5};
    int mid = 0;
    const int rc = client_.publish(
        topic_, make_telemetry_payload(PayloadKind::kSmall, serial_, sample), 1, &mid);
    if (rc != MOSQ_ERR_SUCCESS) {
      fail(fmt::format("probe publish failed: {}", error_text(rc)));
      return;
    }
    probe_in_flight_ = true;
    next_probe_ = now + std::chrono::milliseconds(a_.probe_ms);
  }

  void on_connect(int reason_code) override {
    if (reason_code != 0) {
      fail(fmt::format("connection refused: {}", reason_text(reason_code)));
      return;
    }
    const auto now = SteadyClock::now();
    connack_ = now;
    if (!a_.wait_active) {
      close();
      return;
    }
    state_ = State::kActivating;
    probe(now);
  }

  void on_publish(int /*mid*/, int reason_code) override {
    probe_in_flight_ = false;
    if (state_ != State::kActivating) return;
    if (reason_code < 0x80) {
      active_ = SteadyClock::now();
      spdlog::debug("{}: active after {} probes", serial_, refused_ + 1);
      close();
    } else if (reason_code == MQTT_RC_NOT_AUTHORIZED) {
      ++refused_;  // not activated yet: the next probe goes out at next_probe_
    } else {
      fail(fmt::format("probe refused: {}", reason_text(reason_code)));
    }
  }

  void on_disconnect(int rc) override {
    if (state_ == State::kClosing || state_ == State::kDone) {
      state_ = State::kDone;
      return;
    }
    fail(fmt::format("connection lost: {}", error_text(rc)));
    state_ = State::kDone;
  }

  const StormArgs& a_;
  std::string serial_;
  std::string topic_;
  MqttClient client_;
  State state_ = State::kPending;
  bool holds_slot_ = false;
  bool probe_in_flight_ = false;
  std::uint64_t seq_ = 0;
  unsigned refused_ = 0;
  SteadyClock::time_point started_{};
  SteadyClock::time_point next_probe_{};
  std::optional<SteadyClock::time_point> connack_;
  std::optional<SteadyClock::time_point> active_;
  std::string error_;
};

double seconds(SteadyClock::duration d) { return std::chrono::duration<double>(d).count(); }

/// The p-th percentile (0..100) of `values` in ms (nearest rank); 0 when empty.
double percentile_ms(std::vector<double> values, double p) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const auto rank = static_cast<std::size_t>(std::ceil(p / 100.0 * values.size()));
  return values[std::clamp<std::size_t>(rank, 1, values.size()) - 1] * 1000.0;
}

int run_storm(const StormArgs& a) {
  InstanceInfo instance;
  std::vector<DeviceIdentity> identities;
  try {
    std::tie(instance, identities) = load_fleet(fleet_options(a, a.count));
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim connect-storm: " << e.what() << "\n";
    return kExitUsage;
  }
  unsigned threads = a.threads == 0 ? std::max(1U, std::thread::hardware_concurrency()) : a.threads;
  threads = std::min<unsigned>(threads, static_cast<unsigned>(identities.size()));
  std::vector<std::unique_ptr<StormDevice>> devices;
  std::vector<std::vector<PolledClient*>> groups(threads);
  std::vector<std::vector<StormDevice*>> group_devices(threads);
  try {
    for (std::size_t i = 0; i < identities.size(); ++i) {
      devices.push_back(std::make_unique<StormDevice>(identities[i], instance, a));
      groups[i % threads].push_back(devices.back().get());
      group_devices[i % threads].push_back(devices.back().get());
    }
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim connect-storm: " << e.what() << "\n";
    return kExitUsage;
  }
  // The caller (a benchmark) may start its clock on this line.
  std::cout << fmt::format("storm: {} devices, {} in flight, {} threads{}\n", devices.size(),
                           a.inflight == 0 ? devices.size() : a.inflight, threads,
                           a.wait_active ? ", waiting for activation" : "")
            << std::flush;
  const auto started = SteadyClock::now();
  const auto deadline =
      started + std::chrono::milliseconds(static_cast<std::int64_t>(a.timeout_s * 1000));
  std::vector<std::thread> workers;
  bool timed_out = false;
  std::atomic<bool> any_timeout{false};
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      bool abandoned = false;
      run_poll_loop(groups[t], [&](SteadyClock::time_point now) {
        t_connects_this_round = 0;
        if (!abandoned && (now >= deadline || stop_requested())) {
          abandoned = true;
          if (now >= deadline) any_timeout = true;
          for (auto* d : group_devices[t]) d->abandon();
        }
        return false;  // storm devices are ticked on every pass anyway
      });
    });
  }
  for (auto& w : workers) w.join();
  timed_out = any_timeout.load();
  const auto ended = SteadyClock::now();

  std::size_t connected = 0, active = 0, failed = 0;
  std::uint64_t refused_probes = 0;
  std::optional<SteadyClock::time_point> first_start, last_connack, last_active;
  std::vector<double> connect_latency, activation_latency;
  std::string first_error;
  for (const auto& d : devices) {
    if (auto s = d->started(); s && (!first_start || *s < *first_start)) first_start = s;
    if (auto c = d->connack_at()) {
      ++connected;
      if (!last_connack || *c > *last_connack) last_connack = c;
      connect_latency.push_back(seconds(*c - *d->started()));
    }
    if (auto x = d->active_at()) {
      ++active;
      if (!last_active || *x > *last_active) last_active = x;
      activation_latency.push_back(seconds(*x - *d->connack_at()));
    }
    if (d->failed()) {
      ++failed;
      if (first_error.empty()) first_error = d->serial() + ": " + d->error();
    }
    refused_probes += d->probes_refused();
  }
  const double connect_window = last_connack ? seconds(*last_connack - started) : 0;
  const double active_window = last_active ? seconds(*last_active - started) : 0;
  nlohmann::json j{{"devices", devices.size()},
                   {"inflight", a.inflight == 0 ? devices.size() : a.inflight},
                   {"threads", threads},
                   {"wait_active", a.wait_active},
                   {"connected", connected},
                   {"active", active},
                   {"failed", failed},
                   {"timed_out", timed_out},
                   {"first_error", first_error},
                   {"refused_probes", refused_probes},
                   {"elapsed_s", seconds(ended - started)},
                   {"connect_window_s", connect_window},
                   {"connect_rate", connect_window > 0 ? connected / connect_window : 0.0},
                   {"connect_p50_ms", percentile_ms(connect_latency, 50)},
                   {"connect_p95_ms", percentile_ms(connect_latency, 95)},
                   {"connect_max_ms", percentile_ms(connect_latency, 100)},
                   {"active_window_s", active_window},
                   {"active_rate", active_window > 0 ? active / active_window : 0.0},
                   {"activation_p50_ms", percentile_ms(activation_latency, 50)},
                   {"activation_p95_ms", percentile_ms(activation_latency, 95)},
                   {"activation_max_ms", percentile_ms(activation_latency, 100)}};
  if (a.json) {
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << fmt::format(
        "devices {}  connected {}  failed {}{}\n"
        "all CONNACKs after {:.3f} s: {:.0f} connects/s (latency p50 {:.1f} ms, p95 {:.1f} ms)\n",
        devices.size(), connected, failed,
        first_error.empty() ? "" : " (first: " + first_error + ")", connect_window,
        j["connect_rate"].get<double>(), j["connect_p50_ms"].get<double>(),
        j["connect_p95_ms"].get<double>());
    if (a.wait_active) {
      std::cout << fmt::format(
          "active {}  all active after {:.3f} s: {:.0f} activations/s (after CONNACK p50 {:.1f} "
          "ms, p95 {:.1f} ms; {} probes refused)\n",
          active, active_window, j["active_rate"].get<double>(),
          j["activation_p50_ms"].get<double>(), j["activation_p95_ms"].get<double>(),
          refused_probes);
    }
    std::cout.flush();
  }
  if (connected < devices.size()) return kExitConnectRefused;
  if (a.wait_active && active < devices.size()) return kExitIncomplete;
  return kExitOk;
}

}  // namespace

Subcommand add_connect_storm_command(CLI::App& app) {
  auto a = std::make_shared<StormArgs>();
  auto* cmd = app.add_subcommand(
      "connect-storm",
      "N devices connect (K at a time), wait for CONNACK [and activation], disconnect; prints "
      "the rates");
  add_instance_options(*cmd, a->config_file, a->dir);
  cmd->add_option("--count", a->count, "Devices <prefix>00001...")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000000));
  add_device_cert_options(*cmd, a->prefix, a->cert_dir, a->ca, a->ctl);
  cmd->add_option("--inflight", a->inflight, "Connections open at a time (0 = all)")
      ->capture_default_str();
  cmd->add_flag("--wait-active", a->wait_active,
                "After CONNACK publish a probe every --probe-ms until it gets PUBACK 0 (JITR "
                "activated the device)");
  cmd->add_option("--probe-ms", a->probe_ms, "Probe interval while not active")
      ->capture_default_str()
      ->check(CLI::Range(10, 60000));
  cmd->add_option("--probe-topic", a->probe_topic,
                  "Probe topic, {serial} replaced (default: the telemetry topic; e.g. "
                  "'$aws/things/{serial}/shadow/get' keeps the probes out of the ingest path)");
  cmd->add_option("--timeout-s", a->timeout_s, "Give up after this many seconds")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  cmd->add_option("--host", a->host, "Broker host (default from the config)");
  cmd->add_option("--port", a->port, "Broker port (default from the config)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--threads", a->threads, "Worker threads (0 = one per CPU)")
      ->capture_default_str();
  cmd->add_flag("--json", a->json, "Print the summary as one JSON object");
  return {cmd, [a] { return run_storm(*a); }};
}

}  // namespace sp::sim
