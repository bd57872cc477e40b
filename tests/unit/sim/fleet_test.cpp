// What lets one simulator process hold a large fleet: one descriptor per client, the open-file
// limit planned up front, and a loop that ticks a client only when one of its timers is due.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <vector>

#include "fd_limit.hpp"
#include "mqtt_client.hpp"
#include "poll_loop.hpp"

using namespace sp::sim;
using namespace std::chrono_literals;

namespace {

std::size_t open_fds() {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
  return n;
}

// A loopback port nobody listens on.
int closed_port() {
  const int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(s);
  return ntohs(addr.sin_port);
}

struct TempFiles {
  std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("sp-sim-fleet-" + std::to_string(::getpid()));
  TempFiles() {
    std::filesystem::create_directories(dir);
    for (const char* f : {"ca.crt", "dev.crt", "dev.key"}) std::ofstream(dir / f) << "x\n";
  }
  ~TempFiles() { std::filesystem::remove_all(dir); }
};

}  // namespace

TEST(FdLimit, KeepsRaisesOrRefusesWithTheNumbers) {
  EXPECT_EQ(fds_needed(10000), 10000U + kFdReserve);

  auto keep = plan_fd_limit(1064, 4096, 8192);
  EXPECT_TRUE(keep.ok);
  EXPECT_EQ(keep.new_soft, 4096U);
  EXPECT_TRUE(keep.message.empty());

  auto raise = plan_fd_limit(10064, 1024, 524288);
  EXPECT_TRUE(raise.ok);
  EXPECT_EQ(raise.new_soft, 524288U);
  EXPECT_NE(raise.message.find("1024"), std::string::npos) << raise.message;

  auto refuse = plan_fd_limit(fds_needed(30000), 1024, 20000);
  EXPECT_FALSE(refuse.ok);
  EXPECT_NE(refuse.message.find("30000 devices"), std::string::npos) << refuse.message;
  EXPECT_NE(refuse.message.find("hard limit (RLIMIT_NOFILE) is 20000"), std::string::npos);
  EXPECT_NE(refuse.message.find("at most 19936 devices"), std::string::npos) << refuse.message;
}

TEST(MqttClientFds, AClientHoldsNoSocketpair) {
  TempFiles files;
  BrokerOptions broker;
  broker.host = "127.0.0.1";
  broker.port = closed_port();
  broker.cafile = (files.dir / "ca.crt").string();
  struct Quiet : MqttListener {
  } listener;
  const auto before = open_fds();
  const auto refused_before = refused_socketpairs();
  {
    std::vector<std::unique_ptr<MqttClient>> clients;
    for (int i = 0; i < 10; ++i) {
      clients.push_back(
          std::make_unique<MqttClient>(broker,
                                       ClientSettings{.client_id = "SN-" + std::to_string(i),
                                                      .cert_file = (files.dir / "dev.crt").string(),
                                                      .key_file = (files.dir / "dev.key").string()},
                                       listener));
    }
    // libmosquitto 2.0.11 opened a socketpair (two descriptors) in mosquitto_new.
    EXPECT_EQ(open_fds(), before);
    // A failed connect (nobody listens) leaves nothing open either.
    EXPECT_NE(clients.front()->connect(), MOSQ_ERR_SUCCESS);
    EXPECT_EQ(open_fds(), before);
  }
  EXPECT_GE(refused_socketpairs() - refused_before, 10U);
  // Everyone else still gets real socketpairs.
  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, pair), 0);
  ::close(pair[0]);
  ::close(pair[1]);
}

namespace {

// A client without a connection whose only work is a timer every `period`.
class TimerClient final : public PolledClient {
 public:
  TimerClient(MqttClient& m, std::chrono::milliseconds period, int ticks_wanted)
      : m_(m), period_(period), wanted_(ticks_wanted) {}
  MqttClient& mqtt() override { return m_; }
  void tick(SteadyClock::time_point now) override {
    ++calls_;
    if (now < next_) return;
    ++fired_;
    next_ = now + period_;
  }
  SteadyClock::time_point next_tick() const override { return next_; }
  bool finished() const override { return fired_ >= wanted_; }
  int calls() const { return calls_; }

 private:
  MqttClient& m_;
  std::chrono::milliseconds period_;
  int wanted_;
  int fired_ = 0;
  int calls_ = 0;
  SteadyClock::time_point next_{};
};

}  // namespace

TEST(PollLoop, TicksAClientOnlyWhenItsTimerIsDue) {
  TempFiles files;
  BrokerOptions broker;
  broker.cafile = (files.dir / "ca.crt").string();
  struct Quiet : MqttListener {
  } listener;
  MqttClient m(broker,
               ClientSettings{.client_id = "SN-1",
                              .cert_file = (files.dir / "dev.crt").string(),
                              .key_file = (files.dir / "dev.key").string()},
               listener);
  std::vector<std::unique_ptr<TimerClient>> owned;
  std::vector<PolledClient*> clients;
  for (int i = 0; i < 50; ++i) {
    owned.push_back(std::make_unique<TimerClient>(m, 100ms, 4));
    clients.push_back(owned.back().get());
  }
  int passes = 0;
  const auto start = SteadyClock::now();
  run_poll_loop(clients, [&](SteadyClock::time_point) {
    ++passes;
    return false;
  });
  const auto took = SteadyClock::now() - start;
  EXPECT_GE(took, 300ms);
  for (const auto& c : owned) {
    // Four timers: four ticks, maybe one more for a pass that woke a moment early. The old loop
    // ticked every client every 10 ms (30+ calls here).
    EXPECT_LE(c->calls(), 6);
  }
  // The loop slept between timers instead of spinning.
  EXPECT_LE(passes, 40);
}
