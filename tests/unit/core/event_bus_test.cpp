// The event bus's delivery rules (include/smartproduct/core/event_bus.hpp): per-lane order, lanes
// isolated from each other and from the publisher, failures contained, overflow bounded.

#include "smartproduct/core/event_bus.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace sp {
namespace {

struct Ping {
  int n = 0;
};
struct Pong {
  std::string text;
};

// A gate a handler waits at until the test opens it.
class Gate {
 public:
  void wait() {
    std::unique_lock lock(mu_);
    entered_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return open_; });
  }
  void wait_entered() {
    std::unique_lock lock(mu_);
    ASSERT_TRUE(cv_.wait_for(lock, std::chrono::seconds(10), [&] { return entered_; }));
  }
  void open() {
    std::lock_guard lock(mu_);
    open_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool open_ = false;
};

TEST(EventBus, DeliversEachLaneItsTypesInPublishOrder) {
  std::vector<std::string> seen;  // written by the one lane thread only
  EventBus bus;
  bus.lane("a")
      .on<Ping>([&](const Ping& p) { seen.push_back("ping " + std::to_string(p.n)); })
      .on<Pong>([&](const Pong& p) { seen.push_back("pong " + p.text); });
  bus.start();
  bus.publish(Ping{1});
  bus.publish(Pong{"x"});
  bus.publish(Ping{2});
  bus.drain();
  EXPECT_EQ(seen, (std::vector<std::string>{"ping 1", "pong x", "ping 2"}));
  EXPECT_EQ(bus.lanes()[0]->stats().delivered, 3u);
}

TEST(EventBus, EveryLaneGetsItsOwnCopyAndOnlyWhatItSubscribedTo) {
  std::vector<int> a, b;
  EventBus bus;
  bus.lane("a").on<Ping>([&](const Ping& p) { a.push_back(p.n); });
  bus.lane("b").on<Pong>([&](const Pong&) { b.push_back(-1); }).on<Ping>([&](const Ping& p) {
    b.push_back(p.n);
  });
  bus.start();
  EXPECT_TRUE(bus.has_subscribers<Ping>());
  bus.publish(Ping{7});
  bus.drain();
  EXPECT_EQ(a, std::vector<int>{7});
  EXPECT_EQ(b, std::vector<int>{7});
}

TEST(EventBus, UnsubscribedTypesAreDroppedSilently) {
  struct Nobody {};
  EventBus bus;
  bus.lane("a").on<Ping>([](const Ping&) {});
  bus.start();
  EXPECT_FALSE(bus.has_subscribers<Nobody>());
  bus.publish(Nobody{});
  bus.drain();
  EXPECT_EQ(bus.lanes()[0]->stats().delivered, 0u);
}

TEST(EventBus, AThrowingHandlerIsCountedAndTheLaneGoesOn) {
  std::vector<int> seen;
  EventBus bus;
  bus.lane("a").on<Ping>([&](const Ping& p) {
    if (p.n == 1) throw std::runtime_error("boom");
    seen.push_back(p.n);
  });
  bus.start();
  bus.publish(Ping{1});
  bus.publish(Ping{2});
  bus.drain();
  EXPECT_EQ(seen, std::vector<int>{2});
  auto s = bus.lanes()[0]->stats();
  EXPECT_EQ(s.failed, 1u);
  EXPECT_EQ(s.delivered, 1u);
}

TEST(EventBus, ASlowLaneBlocksNeitherThePublisherNorOtherLanes) {
  Gate gate;
  std::vector<int> fast;
  std::mutex fast_mu;
  EventBus bus;
  bus.lane("slow").on<Ping>([&](const Ping&) { gate.wait(); });
  auto& fast_lane = bus.lane("fast").on<Ping>([&](const Ping& p) {
    std::lock_guard lock(fast_mu);
    fast.push_back(p.n);
  });
  bus.start();
  bus.publish(Ping{1});
  gate.wait_entered();                                  // the slow lane is stuck in its handler
  for (int i = 2; i <= 100; ++i) bus.publish(Ping{i});  // returns although "slow" is stuck
  // The fast lane delivers everything while the slow one is still stuck.
  for (int tries = 0; tries < 1000 && fast_lane.stats().delivered < 100; ++tries) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_EQ(fast_lane.stats().delivered, 100u);
  EXPECT_EQ(bus.lanes()[0]->stats().queued, 99u);
  gate.open();
  bus.drain();
  EXPECT_EQ(bus.lanes()[0]->stats().delivered, 100u);
}

TEST(EventBus, AFullLaneDropsNewEventsThenResynchronisesOnce) {
  Gate gate;
  std::vector<int> seen;
  int overflows = 0;
  EventBus bus;
  BusLaneOptions options;
  options.capacity = 3;
  options.on_overflow = [&] { ++overflows; };
  bus.lane("small", options).on<Ping>([&](const Ping& p) {
    if (p.n == 0) gate.wait();
    seen.push_back(p.n);
  });
  bus.start();
  bus.publish(Ping{0});
  gate.wait_entered();
  for (int i = 1; i <= 10; ++i) bus.publish(Ping{i});  // 3 fit, 7 are dropped
  gate.open();
  bus.drain();
  EXPECT_EQ(seen, (std::vector<int>{0, 1, 2, 3}));
  auto s = bus.lanes()[0]->stats();
  EXPECT_EQ(s.dropped, 7u);
  EXPECT_EQ(overflows, 1);
}

TEST(EventBus, EventsPublishedBeforeStartWaitAndStopDeliversWhatIsQueued) {
  std::vector<int> seen;
  {
    EventBus bus;
    bus.lane("a").on<Ping>([&](const Ping& p) { seen.push_back(p.n); });
    bus.publish(Ping{1});
    bus.publish(Ping{2});
    EXPECT_TRUE(seen.empty());
    bus.start();
    bus.publish(Ping{3});
    bus.stop();
    EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
    bus.publish(Ping{4});  // after stop: nobody delivers it, and nothing crashes
  }
  EXPECT_EQ(seen, (std::vector<int>{1, 2, 3}));
}

}  // namespace
}  // namespace sp
