// Cost of the plugin's behaviour counters (detection) per message: the hooks mosquitto calls on
// its only thread for every message, ACL_CHECK (write) + MESSAGE for a device's publish and
// ACL_CHECK (read) for a delivery, with counting on (behaviour_interval_ms 10000) and off (0) in
// the same run. Target (issue 15): detection costs <= 2 us per message. Also the cost of one report
// (JSON, parts) for information. Prints ns per operation; asserts nothing.
//
//   ninja -C build sp_behaviour_counter_bench && build/bin/sp_behaviour_counter_bench [DEVICES]

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "broker_plugin/policy.hpp"

namespace bp = sp::broker_plugin;
using Clock = std::chrono::steady_clock;

namespace {

struct Fixture {
  std::vector<std::string> serials;
  std::vector<std::string> telemetry;
  std::vector<std::string> commands;
  std::vector<int> keys;  // stable addresses used as connection keys
  bp::Policy policy;

  Fixture(std::size_t devices, const char* interval_ms)
      : keys(devices), policy(make_options(interval_ms), {}, 1795819081) {
    for (std::size_t i = 0; i < devices; ++i) {
      serials.push_back("SN" + std::to_string(100000 + i));
      telemetry.push_back("smartproduct/telemetry/" + serials.back());
      commands.push_back("smartproduct/commands/" + serials.back());
      bp::ConnectAttempt attempt{&keys[i], serials.back(), "127.0.0.1", 5};
      bp::CertIdentity cert;
      cert.fingerprint = std::string(64, 'A');
      cert.cn = serials.back();
      cert.issuer_kind = bp::IssuerKind::kDevice;
      cert.ca_id = "AA";
      policy.authenticate(attempt, cert, 0);
    }
    policy.behaviour_tick(1);  // starts the interval
  }
  static bp::Options make_options(const char* interval_ms) {
    return *bp::parse_options({{"state_file", "/dev/null"},
                               {"service_ca", "/dev/null"},
                               {"device_ca_dir", "/dev/null"},
                               {"behaviour_interval_ms", interval_ms}});
  }
};

// The publishers of the run, drawn in advance so the loop measures only the hooks.
std::vector<std::size_t> picks(std::size_t devices, std::size_t ops) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, devices - 1);
  std::vector<std::size_t> out(ops);
  for (auto& p : out) p = pick(rng);
  return out;
}

// One device publish: ACL_CHECK (write) then MESSAGE (counting).
double publish_ns(Fixture& f, const std::vector<std::size_t>& who) {
  std::size_t allowed = 0;
  const auto t0 = Clock::now();
  for (const std::size_t d : who) {
    if (f.policy.check_acl(&f.keys[d], f.serials[d], f.telemetry[d], bp::Access::kWrite) ==
        bp::AclResult::kAllow) {
      ++allowed;
      f.policy.count_message(&f.keys[d], 100 + (d & 63));
    }
  }
  const auto ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() /
                  static_cast<double>(who.size());
  if (allowed != who.size()) std::fprintf(stderr, "unexpected denials\n");
  return ns;
}

// One delivery to a device: ACL_CHECK (read).
double deliver_ns(Fixture& f, const std::vector<std::size_t>& who) {
  std::size_t allowed = 0;
  const auto t0 = Clock::now();
  for (const std::size_t d : who) {
    allowed += f.policy.check_acl(&f.keys[d], f.serials[d], f.commands[d], bp::Access::kRead) ==
               bp::AclResult::kAllow;
  }
  const auto ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() /
                  static_cast<double>(who.size());
  if (allowed != who.size()) std::fprintf(stderr, "unexpected denials\n");
  return ns;
}

}  // namespace

int main(int argc, char** argv) {
  const std::size_t devices = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 10000;
  constexpr std::size_t kOps = 2'000'000;
  constexpr int kRounds = 5;
  Fixture on(devices, "10000");
  Fixture off(devices, "0");
  const auto who = picks(devices, kOps);
  // Warm up, then alternate so that frequency changes hit both alike; keep the best round.
  publish_ns(on, who);
  publish_ns(off, who);
  double pub_on = 1e9, pub_off = 1e9, del_on = 1e9, del_off = 1e9;
  for (int r = 0; r < kRounds; ++r) {
    pub_on = std::min(pub_on, publish_ns(on, who));
    pub_off = std::min(pub_off, publish_ns(off, who));
    del_on = std::min(del_on, deliver_ns(on, who));
    del_off = std::min(del_off, deliver_ns(off, who));
  }
  std::printf("behaviour counters, %zu connected devices, %zu messages x %d rounds (best)\n",
              devices, kOps, kRounds);
  std::printf(
      "publish (ACL write + MESSAGE):  counting on %6.1f ns/msg  off %6.1f ns/msg  (+%.1f)\n",
      pub_on, pub_off, pub_on - pub_off);
  std::printf(
      "delivery (ACL read):            counting on %6.1f ns/msg  off %6.1f ns/msg  (+%.1f)\n",
      del_on, del_off, del_on - del_off);

  // One report of every device (the TICK that ends an interval), for information.
  const auto t0 = Clock::now();
  const auto parts = on.policy.behaviour_tick(1'000'000'000);
  const auto ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  std::size_t bytes = 0;
  for (const auto& p : parts) bytes += p.payload.size();
  std::printf("report of %zu active devices: %.1f ms, %zu parts, %zu bytes\n", devices, ms,
              parts.size(), bytes);
  return 0;
}
