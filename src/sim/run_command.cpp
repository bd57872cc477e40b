#include "run_command.hpp"

#include <fmt/format.h>
#include <mqtt_protocol.h>
#include <spdlog/spdlog.h>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <deque>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>
#include <unordered_map>

#include "api_client.hpp"
#include "backoff.hpp"
#include "device_model.hpp"
#include "fd_limit.hpp"
#include "instance_info.hpp"
#include "mqtt_client.hpp"
#include "poll_loop.hpp"
#include "smartproduct/core/ids.hpp"

namespace sp::sim {

namespace {

struct RunArgs {
  std::string config_file;
  std::string dir;
  std::string cert_dir;
  std::size_t devices = 1;
  std::string prefix = "SN-";
  std::string ca;
  std::string ctl;
  std::string model = "25HNB9";
  int interval_ms = 10000;
  int status_interval_ms = 30000;
  double duration_s = 0;
  std::string register_as;
  bool password_stdin = false;
  std::string password_file;
  std::string host;
  int port = 0;
  std::string api_url;
  int keepalive_s = 30;
  int backoff_initial_ms = 1000;
  int backoff_max_ms = 60000;
  std::uint32_t session_expiry_s = 3600;
  unsigned threads = 0;
  double print_every_s = 10;
  std::size_t retry_limit = 10;
  bool legacy_replies = false;
};

/// Set by the first device that cannot open a socket because the process or the system is out of
/// file descriptors: every worker then stops, and the run exits kExitResourceLimit. Retrying with
/// back-off would only keep failing (and did, forever).
std::atomic<bool> g_out_of_fds{false};

/// Refused publishes and subscriptions (PUBACK/SUBACK 0x87 until JITR activates the device) are
/// retried on their own back-off, not on the next telemetry tick: with an interval of an hour the
/// first telemetry would otherwise be stored an hour late.
constexpr auto kRetryInitial = std::chrono::milliseconds(500);
constexpr auto kRetryMax = std::chrono::milliseconds(10000);

/// Counters of one device, read by the status printer on another thread.
struct DeviceStats {
  std::atomic<bool> connected{false};
  std::atomic<bool> active{false};          ///< a publish or subscription was accepted
  std::atomic<std::uint64_t> published{0};  ///< new messages (retries not counted)
  std::atomic<std::uint64_t> retried{0};
  std::atomic<std::uint64_t> acked{0};
  std::atomic<std::uint64_t> refused{0};  ///< PUBACK 135 (not authorized: not activated yet)
  std::atomic<std::uint64_t> failed{0};   ///< other refusals (errors)
  std::atomic<std::uint64_t> events{0};   ///< event messages published
  std::atomic<std::uint64_t> replies{0};  ///< command replies
  std::atomic<std::uint64_t> deltas{0};
  std::atomic<std::uint64_t> reconnects{0};
  std::atomic<std::uint64_t> connect_refusals{0};
};

std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

DeviceTopics topics_for(const std::string& serial, const InstanceInfo& instance, bool legacy) {
  auto t = DeviceTopics::for_serial(serial, instance.telemetry_prefix, instance.event_prefix);
  if (legacy) t.command_reply = t.commands;
  return t;
}

/// One seed device on its own connection: the DeviceModel decides what to publish, this class
/// keeps the connection (persistent session, back-off) and the timers.
class SimDevice final : public PolledClient, private MqttListener {
 public:
  SimDevice(DeviceIdentity id, const InstanceInfo& instance, const RunArgs& a, unsigned seed)
      : id_(std::move(id)),
        a_(a),
        model_(id_.serial, topics_for(id_.serial, instance, a.legacy_replies), seed,
               [] { return ids::uuid_v4(); }),
        client_(instance.broker,
                ClientSettings{.client_id = id_.serial,
                               .cert_file = id_.cert.string(),
                               .key_file = id_.key.string(),
                               .clean_start = false,
                               .session_expiry_s = a.session_expiry_s,
                               .send_maximum = 20,
                               .receive_maximum = 20},
                *this),
        backoff_(std::chrono::milliseconds(a.backoff_initial_ms),
                 std::chrono::milliseconds(a.backoff_max_ms), seed) {}

  MqttClient& mqtt() override { return client_; }
  bool finished() const override { return state_ == State::kDone; }
  const DeviceStats& stats() const { return stats_; }
  const std::string& serial() const { return id_.serial; }

  SteadyClock::time_point next_tick() const override {
    switch (state_) {
      case State::kIdle:
        return SteadyClock::time_point{};  // at once
      case State::kWaiting:
        return reconnect_at_;
      case State::kConnected: {
        auto next = std::min(next_tick_, next_status_);
        if (retry_pending()) next = std::min(next, retry_at_);
        return next;
      }
      case State::kClosing:
        return close_deadline_;
      case State::kConnecting:  // CONNACK or connection loss arrive through the socket
      case State::kDone:
        break;
    }
    return SteadyClock::time_point::max();
  }
  void request_stop() { stop_ = true; }

  void tick(SteadyClock::time_point now) override {
    switch (state_) {
      case State::kIdle:
      case State::kWaiting:
        if (stop_) {
          state_ = State::kDone;
        } else if (state_ == State::kIdle || now >= reconnect_at_) {
          connect(now);
        }
        return;
      case State::kConnecting:
        if (stop_) close(now);
        return;
      case State::kConnected:
        if (stop_) {
          close(now);
          return;
        }
        run_timers(now);
        return;
      case State::kClosing:
        if (client_.socket() < 0 || now >= close_deadline_) state_ = State::kDone;
        return;
      case State::kDone:
        return;
    }
  }

 private:
  enum class State { kIdle, kConnecting, kConnected, kWaiting, kClosing, kDone };

  void connect(SteadyClock::time_point now) {
    errno = 0;
    const int rc = ever_connected_ || attempted_ ? client_.reconnect() : client_.connect();
    const int err = errno;
    attempted_ = true;
    if (rc == MOSQ_ERR_SUCCESS) {
      state_ = State::kConnecting;
      return;
    }
    if (err == EMFILE || err == ENFILE) {
      if (!g_out_of_fds.exchange(true)) {
        rlimit lim{};
        ::getrlimit(RLIMIT_NOFILE, &lim);
        spdlog::error(
            "{}: cannot open a socket: {} (open files: soft limit {}, hard limit {}); stopping "
            "every device. Raise the limit (ulimit -n / LimitNOFILE=) or run fewer devices per "
            "process",
            id_.serial, std::strerror(err), lim.rlim_cur, lim.rlim_max);
      }
      state_ = State::kDone;
      return;
    }
    log_problem(fmt::format("connect failed: {}", error_text(rc)));
    wait_to_reconnect(now);
  }

  void wait_to_reconnect(SteadyClock::time_point now) {
    state_ = State::kWaiting;
    reconnect_at_ = now + backoff_.next();
  }

  // The first problem of a device is a warning, repeats are debug: a fleet waiting for its broker
  // would otherwise flood the terminal.
  void log_problem(const std::string& what) {
    if (!warned_) {
      spdlog::warn("{}: {} (retrying with back-off)", id_.serial, what);
      warned_ = true;
    } else {
      spdlog::debug("{}: {}", id_.serial, what);
    }
  }

  void close(SteadyClock::time_point now) {
    state_ = State::kClosing;
    close_deadline_ = now + std::chrono::seconds(5);
    if (client_.socket() >= 0) {
      client_.disconnect();
    } else {
      state_ = State::kDone;
    }
  }

  void on_connect(int reason_code) override {
    const auto now = SteadyClock::now();
    if (reason_code != 0) {
      stats_.connect_refusals.fetch_add(1, std::memory_order_relaxed);
      log_problem(fmt::format("connection refused: {}", reason_text(reason_code)));
      // libmosquitto closes the socket after this callback and reports on_disconnect.
      wait_to_reconnect(now);
      return;
    }
    if (ever_connected_) stats_.reconnects.fetch_add(1, std::memory_order_relaxed);
    state_ = State::kConnected;
    stats_.connected = true;
    backoff_.reset();
    warned_ = false;
    // The first telemetry goes out at once (the seed waited one interval, so with long intervals
    // a fresh device stayed without data); after a reconnect a lapsed tick runs at once.
    if (!ever_connected_) {
      next_tick_ = now;
    } else {
      next_tick_ = std::max(next_tick_, now);
    }
    retry_at_ = now;
    retry_delay_ = kRetryInitial;
    ever_connected_ = true;
    subscribed_commands_ = subscribed_delta_ = false;
    subscribe_missing();
    // Instead of the seed's odd initial `desired` update: report the state, which also creates
    // the shadow.
    send(model_.shadow_report());
    next_status_ = now + std::chrono::milliseconds(a_.status_interval_ms);
  }

  void on_disconnect(int rc) override {
    stats_.connected = false;
    if (state_ == State::kClosing || state_ == State::kDone) {
      state_ = State::kDone;
      return;
    }
    if (state_ == State::kWaiting) return;  // after a refused CONNACK
    log_problem(fmt::format("connection lost: {}", error_text(rc)));
    wait_to_reconnect(SteadyClock::now());
  }

  void subscribe_missing() {
    auto sub = [this](const std::string& filter, bool& done) {
      if (done) return;
      for (const auto& [mid, f] : sub_filters_) {
        if (f == filter) return;  // SUBACK still outstanding
      }
      int mid = 0;
      // No local: with --legacy-replies our own replies would come back on the command topic.
      if (client_.subscribe(filter, 1, &mid, true) == MOSQ_ERR_SUCCESS) sub_filters_[mid] = filter;
    };
    sub(model_.topics().commands, subscribed_commands_);
    sub(model_.topics().shadow_delta, subscribed_delta_);
  }

  void on_subscribe(int mid, int count, const int* granted) override {
    auto it = sub_filters_.find(mid);
    if (it == sub_filters_.end()) return;
    const auto filter = std::move(it->second);
    sub_filters_.erase(it);
    // Refused (SUBACK 135 before activation): retried on the retry timer.
    if (count < 1 || granted[0] >= 0x80) {
      arm_retry();
      return;
    }
    mark_active();
    if (filter == model_.topics().commands) subscribed_commands_ = true;
    if (filter == model_.topics().shadow_delta) subscribed_delta_ = true;
  }

  void mark_active() {
    if (!stats_.active.exchange(true)) spdlog::info("{}: active", id_.serial);
  }

  void send(OutMessage m, bool retry = false) {
    int mid = 0;
    const int rc = client_.publish(m.topic, m.payload, 1, &mid);
    if (rc != MOSQ_ERR_SUCCESS) {
      // Not connected: the message is lost, as on the seed's device. Anything else is a bug.
      if (rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_LOST) {
        spdlog::error("{}: publish on {} failed: {}", id_.serial, m.topic, error_text(rc));
      }
      return;
    }
    if (retry) {
      stats_.retried.fetch_add(1, std::memory_order_relaxed);
      in_flight_.emplace(mid, std::move(m));
      return;
    }
    stats_.published.fetch_add(1, std::memory_order_relaxed);
    if (m.topic == model_.topics().event) stats_.events.fetch_add(1, std::memory_order_relaxed);
    if (m.topic == model_.topics().command_reply) {
      stats_.replies.fetch_add(1, std::memory_order_relaxed);
    }
    in_flight_.emplace(mid, std::move(m));
  }

  void on_publish(int mid, int reason_code) override {
    auto it = in_flight_.find(mid);
    if (it == in_flight_.end()) return;
    auto m = std::move(it->second);
    in_flight_.erase(it);
    if (reason_code < 0x80) {
      stats_.acked.fetch_add(1, std::memory_order_relaxed);
      mark_active();
      retry_delay_ = kRetryInitial;
      return;
    }
    if (reason_code == MQTT_RC_NOT_AUTHORIZED) {
      // Expected until the device is activated (JITR): keep it for the next tick.
      stats_.refused.fetch_add(1, std::memory_order_relaxed);
      // Only the latest state report is worth re-sending.
      if (m.topic == model_.topics().shadow_update) {
        std::erase_if(retry_, [&](const OutMessage& r) { return r.topic == m.topic; });
      }
      retry_.push_back(std::move(m));
      while (retry_.size() > a_.retry_limit) retry_.pop_front();
      arm_retry();
      return;
    }
    stats_.failed.fetch_add(1, std::memory_order_relaxed);
    spdlog::warn("{}: publish on {} refused: {}", id_.serial, m.topic, reason_text(reason_code));
  }

  void on_message(const mosquitto_message& msg) override {
    const std::string_view topic(msg.topic);
    const std::string_view payload(static_cast<const char*>(msg.payload),
                                   static_cast<std::size_t>(msg.payloadlen));
    if (topic == model_.topics().shadow_delta) {
      stats_.deltas.fetch_add(1, std::memory_order_relaxed);
      for (auto& m : model_.on_delta(payload, epoch_ms())) send(std::move(m));
    } else if (topic == model_.topics().commands) {
      for (auto& m : model_.on_command(payload, epoch_ms())) send(std::move(m));
    }
  }

  bool retry_pending() const {
    return !retry_.empty() || !subscribed_commands_ || !subscribed_delta_;
  }

  void arm_retry() {
    const auto at = SteadyClock::now() + retry_delay_;
    if (retry_at_ <= SteadyClock::now() || at < retry_at_) retry_at_ = at;
    retry_delay_ = std::min(retry_delay_ * 2,
                            std::chrono::duration_cast<std::chrono::milliseconds>(kRetryMax));
  }

  void run_retries(SteadyClock::time_point now) {
    if (!retry_pending() || now < retry_at_) return;
    // Nothing is re-armed until a refusal comes back.
    retry_at_ = SteadyClock::time_point::max();
    auto retries = std::move(retry_);
    retry_.clear();
    for (auto& m : retries) send(std::move(m), true);
    subscribe_missing();
  }

  void run_timers(SteadyClock::time_point now) {
    if (now >= next_tick_) {
      // Skip missed ticks rather than bursting after a stall.
      while (next_tick_ <= now) next_tick_ += std::chrono::milliseconds(a_.interval_ms);
      for (auto& m : model_.tick(epoch_ms())) send(std::move(m));
    }
    run_retries(now);
    if (now >= next_status_) {
      while (next_status_ <= now) next_status_ += std::chrono::milliseconds(a_.status_interval_ms);
      send(model_.shadow_report());
    }
  }

  DeviceIdentity id_;
  const RunArgs& a_;
  DeviceModel model_;
  MqttClient client_;
  Backoff backoff_;
  State state_ = State::kIdle;
  bool stop_ = false;
  bool attempted_ = false;
  bool ever_connected_ = false;
  bool warned_ = false;
  bool subscribed_commands_ = false;
  bool subscribed_delta_ = false;
  SteadyClock::time_point reconnect_at_{};
  SteadyClock::time_point close_deadline_{};
  SteadyClock::time_point next_tick_{};
  SteadyClock::time_point next_status_{};
  SteadyClock::time_point retry_at_ = SteadyClock::time_point::max();
  std::chrono::milliseconds retry_delay_ = kRetryInitial;
  std::unordered_map<int, OutMessage> in_flight_;
  std::unordered_map<int, std::string> sub_filters_;
  std::deque<OutMessage> retry_;
  DeviceStats stats_;
};

struct Totals {
  std::size_t connected = 0, active = 0;
  std::uint64_t published = 0, retried = 0, acked = 0, refused = 0, failed = 0, events = 0,
                replies = 0, deltas = 0, reconnects = 0, connect_refusals = 0;
};

Totals sum(const std::vector<std::unique_ptr<SimDevice>>& devices) {
  Totals t;
  for (const auto& d : devices) {
    const auto& s = d->stats();
    t.connected += s.connected.load() ? 1 : 0;
    t.active += s.active.load() ? 1 : 0;
    t.published += s.published.load();
    t.retried += s.retried.load();
    t.acked += s.acked.load();
    t.refused += s.refused.load();
    t.failed += s.failed.load();
    t.events += s.events.load();
    t.replies += s.replies.load();
    t.deltas += s.deltas.load();
    t.reconnects += s.reconnects.load();
    t.connect_refusals += s.connect_refusals.load();
  }
  return t;
}

std::string status_line(std::size_t n, const Totals& t) {
  std::time_t now = std::time(nullptr);
  std::tm local{};
  localtime_r(&now, &local);
  char stamp[16];
  std::strftime(stamp, sizeof stamp, "%H:%M:%S", &local);
  return fmt::format(
      "{} devices {} connected {} active {} | published {} retried {} acked {} refused {} "
      "errors {} | "
      "events {} deltas {} replies {} | reconnects {} connect-refusals {}",
      stamp, n, t.connected, t.active, t.published, t.retried, t.acked, t.refused, t.failed,
      t.events, t.deltas, t.replies, t.reconnects, t.connect_refusals);
}

std::string read_password(const RunArgs& a) {
  std::string password;
  if (a.password_stdin) {
    std::getline(std::cin, password);
  } else {
    std::ifstream in(a.password_file);
    if (!in) throw std::runtime_error("cannot read " + a.password_file);
    std::getline(in, password);
  }
  while (!password.empty() && (password.back() == '\r' || password.back() == '\n')) {
    password.pop_back();
  }
  if (password.empty()) throw std::runtime_error("empty password");
  return password;
}

void register_devices(const RunArgs& a, const InstanceInfo& instance,
                      const std::vector<DeviceIdentity>& devices) {
  const auto password = read_password(a);
  ApiClient api(a.api_url.empty() ? instance.api_url : a.api_url, instance.root_ca.string());
  api.login(a.register_as, password);
  std::size_t registered = 0, already = 0;
  for (const auto& d : devices) {
    if (api.register_device(d.serial, d.serial, a.model) == RegisterOutcome::kRegistered) {
      ++registered;
    } else {
      ++already;
    }
  }
  std::cout << fmt::format("registered {} devices for {} ({} were already registered)\n",
                           registered, a.register_as, already)
            << std::flush;
}

int run_devices(const RunArgs& a) {
  // Before anything slow (issuing certificates): a fleet the limit cannot hold fails at once.
  if (const auto fds = ensure_fd_limit(a.devices); !fds.ok) {
    std::cerr << "smartproduct-sim run: " << fds.message << "\n";
    return kExitResourceLimit;
  } else if (!fds.message.empty()) {
    spdlog::info("{}", fds.message);
  }

  InstanceInfo instance;
  std::vector<DeviceIdentity> identities;
  try {
    std::tie(instance, identities) = load_fleet(fleet_options(a, a.devices));
    instance.broker.keepalive_s = a.keepalive_s;
    if (!a.register_as.empty()) register_devices(a, instance, identities);
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim run: " << e.what() << "\n";
    return kExitUsage;
  }

  // One epoll loop serves thousands of idle devices; a second thread overlaps the blocking TLS
  // handshakes of a large fleet's connect with the broker's.
  unsigned threads = a.threads;
  if (threads == 0) {
    threads = static_cast<unsigned>((identities.size() + 999) / 1000);
    threads = std::clamp(threads, 1U, std::max(1U, std::thread::hardware_concurrency()));
  }
  threads = std::min<unsigned>(threads, static_cast<unsigned>(identities.size()));
  std::vector<std::unique_ptr<SimDevice>> devices;
  std::vector<std::vector<PolledClient*>> groups(threads);
  std::vector<std::vector<SimDevice*>> group_devices(threads);
  try {
    for (std::size_t i = 0; i < identities.size(); ++i) {
      devices.push_back(std::make_unique<SimDevice>(identities[i], instance, a,
                                                    static_cast<unsigned>(i * 7919 + 17)));
      groups[i % threads].push_back(devices.back().get());
      group_devices[i % threads].push_back(devices.back().get());
    }
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim run: " << e.what() << "\n";
    return kExitUsage;
  }
  std::cout << fmt::format(
                   "running {} devices {}..{} against {}:{} (interval {} ms, status {} ms)\n",
                   devices.size(), identities.front().serial, identities.back().serial,
                   instance.broker.host, instance.broker.port, a.interval_ms, a.status_interval_ms)
            << std::flush;

  const auto started = SteadyClock::now();
  const auto until =
      a.duration_s > 0
          ? std::optional(started +
                          std::chrono::milliseconds(static_cast<std::int64_t>(a.duration_s * 1000)))
          : std::nullopt;
  std::atomic<unsigned> running{threads};
  std::atomic<bool> io_error{false};
  std::vector<std::thread> workers;
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      bool stopping = false;
      try {
        run_poll_loop(groups[t], [&](SteadyClock::time_point now) {
          if (!stopping && (stop_requested() || g_out_of_fds.load() || (until && now >= *until))) {
            stopping = true;
            for (auto* d : group_devices[t]) d->request_stop();
            return true;  // tick everyone now
          }
          return false;
        });
      } catch (const std::exception& e) {
        spdlog::error("worker {}: {}", t, e.what());
        io_error = true;
      }
      running.fetch_sub(1);
    });
  }
  auto next_print = SteadyClock::now();
  auto next_count = next_print;
  bool all_connected = false;
  while (running.load() > 0) {
    const auto now = SteadyClock::now();
    if (!all_connected && now >= next_count) {
      next_count = now + std::chrono::milliseconds(250);
      if (const auto t = sum(devices); t.connected == devices.size()) {
        all_connected = true;
        // For scripts and benches: the fleet's connect time (first connect to the last CONNACK).
        std::cout << fmt::format("all {} devices connected in {:.1f} s\n", devices.size(),
                                 std::chrono::duration<double>(now - started).count())
                  << std::flush;
      }
    }
    if (a.print_every_s > 0 && now >= next_print) {
      if (now > started)
        std::cout << status_line(devices.size(), sum(devices)) << "\n" << std::flush;
      next_print =
          now + std::chrono::milliseconds(static_cast<std::int64_t>(a.print_every_s * 1000));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  for (auto& w : workers) w.join();
  const auto totals = sum(devices);
  std::cout << status_line(devices.size(), totals) << "\nstopped after "
            << fmt::format("{:.1f}",
                           std::chrono::duration<double>(SteadyClock::now() - started).count())
            << " s\n"
            << std::flush;
  if (g_out_of_fds.load()) return kExitResourceLimit;
  return io_error ? kExitConnectionFailed : kExitOk;
}

}  // namespace

Subcommand add_run_command(CLI::App& app) {
  auto a = std::make_shared<RunArgs>();
  auto* cmd = app.add_subcommand(
      "run",
      "Simulate N seed devices (telemetry, threshold events, shadow, commands) with certificates "
      "from a managed CA, until SIGINT/SIGTERM or --duration-s");
  add_instance_options(*cmd, a->config_file, a->dir);
  cmd->add_option("--devices", a->devices, "Number of devices <prefix>00001...")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  add_device_cert_options(*cmd, a->prefix, a->cert_dir, a->ca, a->ctl);
  cmd->add_option("--model", a->model, "Model number used with --register-as")
      ->capture_default_str();
  cmd->add_option("--interval-ms", a->interval_ms, "Telemetry interval (the seed's 10 s)")
      ->capture_default_str()
      ->check(CLI::Range(50, 86400000));
  cmd->add_option("--status-interval-ms", a->status_interval_ms,
                  "Shadow report interval (the seed's 30 s)")
      ->capture_default_str()
      ->check(CLI::Range(50, 86400000));
  cmd->add_option("--duration-s", a->duration_s,
                  "Stop after this many seconds (default: run "
                  "until SIGINT/SIGTERM)")
      ->check(CLI::PositiveNumber);
  auto* reg = cmd->add_option("--register-as", a->register_as,
                              "Sign in as this user and register the devices first (the serials "
                              "must be in the catalog)");
  auto* pw_stdin = cmd->add_flag("--password-stdin", a->password_stdin,
                                 "Read the password for --register-as from standard input");
  auto* pw_file = cmd->add_option("--password-file", a->password_file,
                                  "Read the password for --register-as from this file")
                      ->check(CLI::ExistingFile);
  pw_stdin->excludes(pw_file);
  pw_stdin->needs(reg);
  pw_file->needs(reg);
  cmd->add_option("--api-url", a->api_url, "REST API base URL (default from the config)");
  cmd->add_option("--host", a->host, "Broker host (default from the config)");
  cmd->add_option("--port", a->port, "Broker port (default from the config)")
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--keepalive", a->keepalive_s, "MQTT keepalive in seconds")
      ->capture_default_str()
      ->check(CLI::Range(5, 65535));
  cmd->add_option("--backoff-initial-ms", a->backoff_initial_ms)->capture_default_str();
  cmd->add_option("--backoff-max-ms", a->backoff_max_ms)->capture_default_str();
  cmd->add_option("--session-expiry", a->session_expiry_s,
                  "MQTT v5 session expiry in seconds (persistent session)")
      ->capture_default_str()
      ->check(CLI::Range(1U, 0xFFFFFFFFU));
  cmd->add_option("--threads", a->threads, "Worker threads (0 = about one per 100 devices)")
      ->capture_default_str();
  cmd->add_option("--print-every-s", a->print_every_s, "Status line interval (0 = only at exit)")
      ->capture_default_str();
  cmd->add_flag("--legacy-replies", a->legacy_replies,
                "Answer commands on smartproduct/commands/<serial> itself, as the seed's devices "
                "did (default: .../response)");
  cmd->add_option("--retry-limit", a->retry_limit,
                  "Refused (not yet activated) messages kept per device for the next tick")
      ->capture_default_str();
  auto run = [a]() -> int {
    if (!a->register_as.empty() && !a->password_stdin && a->password_file.empty()) {
      std::cerr << "smartproduct-sim run: --register-as needs --password-stdin or "
                   "--password-file\n";
      return kExitUsage;
    }
    return run_devices(*a);
  };
  return {cmd, run};
}

}  // namespace sp::sim
