// Broker plugin lookup cost: the per-message ACL decision and the per-connect authentication with
// 10 devices versus 100,000 devices (connected, activated and revoked entries), in one run.
// Target (issue "Device connectivity"): 100k devices cost no more per message than 10.
// Prints ns/op for both sizes and the ratio; asserts nothing.

#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "broker_plugin/policy.hpp"

namespace bp = sp::broker_plugin;
using Clock = std::chrono::steady_clock;

namespace {

std::string hex64(std::uint64_t seed) {
  static const char* kHex = "0123456789ABCDEF";
  std::mt19937_64 rng(seed);
  std::string out;
  for (int i = 0; i < 64; ++i) out.push_back(kHex[rng() & 15]);
  return out;
}

struct Fixture {
  std::vector<std::string> serials;
  std::vector<std::string> topics;
  std::vector<int> keys;  // stable addresses used as connection keys
  bp::Policy policy;

  explicit Fixture(std::size_t devices)
      : keys(devices), policy(make_options(), make_state(devices), 1795819081) {
    for (std::size_t i = 0; i < devices; ++i) {
      serials.push_back("SN" + std::to_string(i));
      topics.push_back("smartproduct/telemetry/" + serials.back());
      bp::ConnectAttempt attempt{&keys[i], serials.back(), "127.0.0.1", 5};
      bp::CertIdentity cert{hex64(i), serials.back(), "CN=Dev CA", "01", "AA"};
      policy.authenticate(attempt, cert, 0);
    }
  }
  static bp::Options make_options() {
    auto options = bp::parse_options({{"state_file", "/dev/null"}, {"require_activation", "true"}});
    return *options;
  }
  static bp::BrokerState make_state(std::size_t devices) {
    bp::BrokerState s;
    for (std::size_t i = 0; i < devices; ++i) {
      s.activated_fingerprints.insert(hex64(i));
      s.revoked_fingerprints.insert(hex64(i + 1'000'000'000));
      s.revoked_usernames.insert("REVOKED" + std::to_string(i));
    }
    return s;
  }
};

// `publishers`: how many of the fixture's devices send the messages (picked at random per message).
double acl_ns(Fixture& f, std::size_t ops, std::size_t publishers) {
  std::mt19937 rng(7);
  std::uniform_int_distribution<std::size_t> pick(0, publishers - 1);
  std::size_t allowed = 0;
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < ops; ++i) {
    std::size_t d = pick(rng);
    allowed += f.policy.check_acl(&f.keys[d], f.serials[d], f.topics[d], bp::Access::kWrite) ==
               bp::AclResult::kAllow;
  }
  auto ns = std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / ops;
  if (allowed != ops) std::fprintf(stderr, "unexpected denials: %zu of %zu\n", ops - allowed, ops);
  return ns;
}

double connect_ns(Fixture& f, std::size_t ops) {
  std::vector<int> keys(ops);
  std::vector<bp::ConnectAttempt> attempts;
  std::vector<bp::CertIdentity> certs;
  for (std::size_t i = 0; i < ops; ++i) {
    std::string serial = "NEW" + std::to_string(i);
    attempts.push_back({&keys[i], serial, "127.0.0.1", 5});
    certs.push_back({hex64(500'000'000 + i), serial, "CN=Dev CA", "02", "AA"});
  }
  auto t0 = Clock::now();
  for (std::size_t i = 0; i < ops; ++i) {
    f.policy.authenticate(attempts[i], certs[i], 0);
    f.policy.on_disconnect(&keys[i], 0);
  }
  return std::chrono::duration<double, std::nano>(Clock::now() - t0).count() / ops;
}

}  // namespace

int main() {
  constexpr std::size_t kAclOps = 2'000'000, kConnectOps = 50'000;
  std::printf(
      "broker plugin lookups: ACL check per message, authenticate+disconnect per connection\n");
  Fixture small(10);
  Fixture large(100'000);
  // Warm up both, then measure alternately so frequency changes hit both sizes alike.
  acl_ns(small, kAclOps / 10, 10);
  acl_ns(large, kAclOps / 10, 10);
  // The target: the same 10 devices publish, with 10 or with 100k devices in the plugin's tables.
  double acl_small = acl_ns(small, kAclOps, 10), acl_large = acl_ns(large, kAclOps, 10);
  // For information: messages from devices spread over all 100k (memory, not the lookups, grows).
  double acl_spread = acl_ns(large, kAclOps, large.serials.size());
  double con_small = connect_ns(small, kConnectOps), con_large = connect_ns(large, kConnectOps);
  std::printf(
      "ACL check, same 10 publishers:  10 devices %7.1f ns/msg  100k devices %7.1f ns/msg"
      "  ratio %.2f\n",
      acl_small, acl_large, acl_large / acl_small);
  std::printf("ACL check, publishers spread over all 100k devices: %7.1f ns/msg (cache misses)\n",
              acl_spread);
  std::printf(
      "connect+disconnect:             10 devices %7.0f ns      100k devices %7.0f ns"
      "      ratio %.2f\n",
      con_small, con_large, con_large / con_small);
  std::printf("(target: ratio ~1: 100k devices cost no more per message than 10)\n");
  return 0;
}
