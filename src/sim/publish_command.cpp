#include "publish_command.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <thread>

#include "ack_log.hpp"
#include "broker_options.hpp"
#include "cert_issuer.hpp"
#include "device_set.hpp"
#include "publisher.hpp"

namespace sp::sim {

namespace {

struct PublishArgs {
  BrokerOptions broker;
  std::string cert_dir;
  std::string devices;
  std::size_t count = 0;
  std::string prefix = "SIM-";
  bool issue_certs = false;
  std::string instance;
  std::string ca;  // managed CA for --issue-certs (empty: the instance's only one)
  std::string ctl;
  std::uint64_t messages = 1000;
  double duration_s = 0;
  int qos = 1;
  std::string topic_prefix = "smartproduct/telemetry";
  int inflight = 100;
  int interval_ms = 0;
  PayloadKind payload = PayloadKind::kSmall;
  std::string ack_log;
  int ack_log_flush_ms = 100;
  bool reconnect = false;
  int backoff_initial_ms = 500;
  int backoff_max_ms = 30000;
  double drain_timeout_s = 30;
  std::uint32_t session_expiry_s = 0;
  unsigned threads = 0;
  double progress_s = 0;
  bool json = false;
};

std::vector<DeviceIdentity> resolve_devices(const PublishArgs& a) {
  auto serials =
      !a.devices.empty() ? parse_serial_list(a.devices) : make_serials(a.prefix, a.count);
  auto devices = identities_in(a.cert_dir, serials);
  auto missing = missing_credentials(devices);
  if (!missing.empty() && a.issue_certs) {
    spdlog::info("issuing {} device certificates into {}", missing.size(), a.cert_dir);
    issue_device_certs(a.ctl.empty() ? default_ctl_path() : a.ctl, a.instance, a.cert_dir, missing,
                       std::max(1U, std::thread::hardware_concurrency()), a.ca);
    missing = missing_credentials(devices);
  }
  if (!missing.empty()) {
    throw std::runtime_error(fmt::format(
        "{} of {} devices have no {}/SN.crt + SN.key (first: {}); use --issue-certs --instance DIR",
        missing.size(), devices.size(), a.cert_dir, missing.front()));
  }
  return devices;
}

struct Totals {
  std::uint64_t sent = 0, acked = 0, refused = 0, written = 0, unacked = 0, reconnects = 0;
  std::size_t connect_refused = 0, connection_failed = 0;
  std::optional<SteadyClock::time_point> first_publish, last_completion;
};

Totals sum(const std::vector<std::unique_ptr<Publisher>>& publishers) {
  Totals t;
  for (const auto& p : publishers) {
    const auto& s = p->stats();
    const auto& o = p->outcome();
    t.sent += s.sent.load();
    t.acked += s.acked.load();
    t.refused += s.refused.load();
    t.written += s.written.load();
    t.reconnects += s.reconnects.load();
    t.unacked += o.unacked;
    t.connect_refused += o.connect_refused ? 1 : 0;
    t.connection_failed += o.connection_failed ? 1 : 0;
    if (o.first_publish && (!t.first_publish || *o.first_publish < *t.first_publish)) {
      t.first_publish = o.first_publish;
    }
    if (o.last_completion && (!t.last_completion || *o.last_completion > *t.last_completion)) {
      t.last_completion = o.last_completion;
    }
  }
  return t;
}

int run_publish(const PublishArgs& a) {
  std::vector<DeviceIdentity> devices;
  try {
    devices = resolve_devices(a);
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim publish: " << e.what() << "\n";
    return kExitUsage;
  }
  PublishPlan plan;
  plan.topic_prefix = a.topic_prefix;
  plan.messages = a.messages;
  plan.qos = a.qos;
  plan.inflight = a.inflight;
  plan.interval = std::chrono::milliseconds(a.interval_ms);
  plan.payload = a.payload;
  plan.reconnect = a.reconnect;
  plan.backoff_initial = std::chrono::milliseconds(a.backoff_initial_ms);
  plan.backoff_max = std::chrono::milliseconds(a.backoff_max_ms);
  plan.drain_timeout =
      std::chrono::milliseconds(static_cast<std::int64_t>(a.drain_timeout_s * 1000));
  plan.session_expiry_s = a.session_expiry_s;

  std::shared_ptr<AckLogFile> ack_file;
  try {
    if (!a.ack_log.empty()) ack_file = std::make_shared<AckLogFile>(a.ack_log);
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim publish: " << e.what() << "\n";
    return kExitUsage;
  }

  // Roughly 100 devices per worker, never more workers than cores: the broker (and the daemon)
  // share this machine, and one poll loop keeps several connections saturated.
  unsigned threads = a.threads;
  if (threads == 0) {
    threads = static_cast<unsigned>((devices.size() + 99) / 100);
    threads = std::clamp(threads, 1U, std::max(1U, std::thread::hardware_concurrency()));
  }
  threads = std::min<unsigned>(threads, static_cast<unsigned>(devices.size()));

  const auto started = SteadyClock::now();
  if (a.duration_s > 0) {
    plan.publish_until =
        started + std::chrono::milliseconds(static_cast<std::int64_t>(a.duration_s * 1000));
  }
  std::vector<std::unique_ptr<AckLogWriter>> ack_writers;
  std::vector<std::vector<PolledClient*>> groups(threads);
  std::vector<std::vector<Publisher*>> group_publishers(threads);
  std::vector<std::unique_ptr<Publisher>> publishers;
  for (unsigned t = 0; t < threads; ++t) {
    ack_writers.push_back(ack_file ? std::make_unique<AckLogWriter>(
                                         ack_file, std::chrono::milliseconds(a.ack_log_flush_ms))
                                   : nullptr);
  }
  try {
    for (std::size_t i = 0; i < devices.size(); ++i) {
      const auto t = i % threads;
      publishers.push_back(std::make_unique<Publisher>(
          devices[i], a.broker, plan, ack_writers[t].get(), static_cast<unsigned>(i * 7919 + 17)));
      groups[t].push_back(publishers.back().get());
      group_publishers[t].push_back(publishers.back().get());
    }
  } catch (const std::exception& e) {
    std::cerr << "smartproduct-sim publish: " << e.what() << "\n";
    return kExitUsage;
  }

  std::atomic<unsigned> running{threads};
  std::vector<std::thread> workers;
  std::atomic<bool> io_error{false};
  for (unsigned t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      bool stopping = false;
      try {
        run_poll_loop(groups[t], [&](SteadyClock::time_point now) {
          if (!stopping && stop_requested()) {
            stopping = true;
            for (auto* p : group_publishers[t]) p->request_stop();
          }
          if (ack_writers[t]) ack_writers[t]->maybe_flush(now);
          return false;  // publishers are ticked on every pass anyway
        });
        if (ack_writers[t]) ack_writers[t]->flush();
      } catch (const std::exception& e) {
        spdlog::error("worker {}: {}", t, e.what());
        io_error = true;
      }
      running.fetch_sub(1);
    });
  }
  if (a.progress_s > 0) {
    auto last = sum(publishers);
    auto last_time = SteadyClock::now();
    while (running.load() > 0) {
      auto until = last_time + std::chrono::milliseconds(static_cast<int>(a.progress_s * 1000));
      while (running.load() > 0 && SteadyClock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      }
      auto now_totals = sum(publishers);
      auto now = SteadyClock::now();
      double dt = std::chrono::duration<double>(now - last_time).count();
      std::uint64_t done_now = a.qos == 0 ? now_totals.written : now_totals.acked;
      std::uint64_t done_before = a.qos == 0 ? last.written : last.acked;
      std::cerr << fmt::format("progress: sent {} acked {} refused {} ({:.0f} msg/s)\n",
                               now_totals.sent, now_totals.acked, now_totals.refused,
                               dt > 0 ? static_cast<double>(done_now - done_before) / dt : 0.0);
      last = now_totals;
      last_time = now;
    }
  }
  for (auto& w : workers) w.join();
  const auto ended = SteadyClock::now();

  const auto t = sum(publishers);
  const double elapsed = std::chrono::duration<double>(ended - started).count();
  double window = 0;
  if (t.first_publish && t.last_completion) {
    window = std::chrono::duration<double>(*t.last_completion - *t.first_publish).count();
  }
  const std::uint64_t completed = a.qos == 0 ? t.written : t.acked;
  const double rate = window > 0 ? static_cast<double>(completed) / window : 0.0;

  int code = kExitOk;
  if (t.connect_refused > 0) {
    code = kExitConnectRefused;
  } else if (t.connection_failed > 0 || io_error) {
    code = kExitConnectionFailed;
  } else if (t.refused > 0 || t.unacked > 0) {
    code = kExitIncomplete;
  }
  if (a.json) {
    nlohmann::json j{{"devices", devices.size()},
                     {"qos", a.qos},
                     {"sent", t.sent},
                     {"acked", t.acked},
                     {"refused", t.refused},
                     {"written", t.written},
                     {"unacked", t.unacked},
                     {"reconnects", t.reconnects},
                     {"connect_refused", t.connect_refused},
                     {"connection_failed", t.connection_failed},
                     {"elapsed_s", elapsed},
                     {"publish_window_s", window},
                     {"rate_msg_s", rate},
                     {"exit_code", code}};
    std::cout << j.dump() << std::endl;
  } else {
    std::cout << fmt::format(
        "devices {}  qos {}  sent {}  acked {}  refused {}  unacked {}  reconnects {}\n"
        "connect refused {}  connection failures {}\n"
        "elapsed {:.3f} s  msg/s {:.0f} ({} over {:.3f} s, first publish to last {})\n",
        devices.size(), a.qos, t.sent, t.acked, t.refused, t.unacked, t.reconnects,
        t.connect_refused, t.connection_failed, elapsed, rate, a.qos == 0 ? "written" : "acked",
        window, a.qos == 0 ? "write" : "PUBACK");
    std::cout.flush();
  }
  return code;
}

}  // namespace

Subcommand add_publish_command(CLI::App& app) {
  auto args = std::make_shared<PublishArgs>();
  auto* cmd = app.add_subcommand(
      "publish",
      "Devices publish telemetry as fast as the broker takes it (bounded by --inflight)");
  add_broker_options(*cmd, args->broker);
  cmd->add_option("--cert-dir", args->cert_dir,
                  "Directory with SN.crt (chain) and SN.key per device")
      ->required();
  auto* devices_opt =
      cmd->add_option("--devices", args->devices, "Comma-separated serials (SN1,SN2,...)");
  auto* count_opt = cmd->add_option("--count", args->count, "Number of devices <prefix>00001...")
                        ->check(CLI::Range(1, 1000000));
  devices_opt->excludes(count_opt);
  cmd->add_option("--prefix", args->prefix, "Serial prefix for --count")->capture_default_str();
  auto* issue_opt = cmd->add_flag("--issue-certs", args->issue_certs,
                                  "Issue missing device certificates with smartproductctl "
                                  "device-cert issue (needs --instance)");
  auto* instance_opt = cmd->add_option("--instance", args->instance,
                                       "Instance directory (smartproductctl init --dir)")
                           ->check(CLI::ExistingDirectory);
  issue_opt->needs(instance_opt);
  cmd->add_option("--ca", args->ca,
                  "Managed CA that issues the certificates (default: the instance's only one)");
  cmd->add_option("--ctl", args->ctl, "smartproductctl to run (default: next to this program)");
  auto* messages_opt =
      cmd->add_option("--messages", args->messages, "Messages per device (0 = until --duration)")
          ->capture_default_str();
  auto* duration_opt = cmd->add_option("--duration", args->duration_s,
                                       "Publish for this many seconds (instead of --messages)")
                           ->check(CLI::PositiveNumber);
  messages_opt->excludes(duration_opt);
  cmd->add_option("--qos", args->qos, "0 or 1")->capture_default_str()->check(CLI::Range(0, 1));
  cmd->add_option("--topic-prefix", args->topic_prefix, "Topic = <prefix>/<serial>")
      ->capture_default_str();
  cmd->add_option("--inflight", args->inflight, "Max unacknowledged messages per connection")
      ->capture_default_str()
      ->check(CLI::Range(1, 65535));
  cmd->add_option("--interval-ms", args->interval_ms,
                  "At least this long between two messages of one device (0: as fast as acked)")
      ->capture_default_str()
      ->check(CLI::Range(0, 3600000));
  cmd->add_option_function<std::string>(
         "--payload",
         [args](const std::string& v) {
           args->payload = v == "seed"    ? PayloadKind::kSeed
                           : v == "event" ? PayloadKind::kEvent
                                          : PayloadKind::kSmall;
         },
         "small (default): {seq,timestamp,actualTemperature,targetTemperature}, ~90 bytes; "
         "seed: the seed device's telemetry (+seq); event: a device event (with "
         "--topic-prefix smartproduct/event)")
      ->check(CLI::IsMember({"small", "seed", "event"}));
  cmd->add_option("--ack-log", args->ack_log,
                  "Append '<serial> <seq>' per successful PUBACK to this file");
  cmd->add_option("--ack-log-flush-ms", args->ack_log_flush_ms, "Flush the ack log this often")
      ->capture_default_str()
      ->check(CLI::Range(1, 60000));
  cmd->add_flag("--reconnect", args->reconnect,
                "On connection loss reconnect with jittered exponential back-off (in-flight "
                "messages are re-sent by libmosquitto; new ones continue with the next seq)");
  cmd->add_option("--backoff-initial-ms", args->backoff_initial_ms)->capture_default_str();
  cmd->add_option("--backoff-max-ms", args->backoff_max_ms)->capture_default_str();
  cmd->add_option("--drain-timeout", args->drain_timeout_s,
                  "Seconds to wait for outstanding PUBACKs after the last publish")
      ->capture_default_str();
  cmd->add_option("--session-expiry", args->session_expiry_s,
                  "MQTT v5 session expiry in seconds (0 = clean start, the default)")
      ->capture_default_str();
  cmd->add_option("--threads", args->threads, "Worker threads (0 = about one per 100 devices)")
      ->capture_default_str();
  cmd->add_option("--progress", args->progress_s, "Print progress to stderr every S seconds");
  cmd->add_flag("--json", args->json, "Print the summary as one JSON object");
  auto run = [args, cmd]() -> int {
    if (args->devices.empty() && args->count == 0) {
      std::cerr << "smartproduct-sim publish: give --devices SN1,SN2,... or --count N\n";
      return kExitUsage;
    }
    if (cmd->count("--duration") > 0 && cmd->count("--messages") == 0) args->messages = 0;
    if (args->messages == 0 && args->duration_s <= 0) {
      std::cerr << "smartproduct-sim publish: --messages 0 needs --duration\n";
      return kExitUsage;
    }
    return run_publish(*args);
  };
  return {cmd, run};
}

}  // namespace sp::sim
