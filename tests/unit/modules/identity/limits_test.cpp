// The arithmetic of the unauthenticated routes' limits: token buckets per address and in total,
// and the Argon2id work gate. (The address-bound sign-in limits are in service_test.cpp.)

#include "smartproduct/identity/limits.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace sp::identity {
namespace {

TEST(TokenBucket, RefillsAtTheRateUpToTheBurst) {
  const RateLimit limit{2, 5};
  TokenBucket b{0, 100};
  b.refill(limit, 101);
  EXPECT_DOUBLE_EQ(b.tokens, 2);
  b.refill(limit, 110);
  EXPECT_DOUBLE_EQ(b.tokens, 5);
  b.refill(limit, 90);  // a clock going back refills nothing
  EXPECT_DOUBLE_EQ(b.tokens, 5);
  b.tokens = 0.5;
  EXPECT_DOUBLE_EQ(b.wait(limit), 0.25);
}

TEST(RequestLimiter, BurstThenRateThenRetryAfter) {
  RequestLimiter l({0.25, 3}, {1000, 1000});  // 15 per minute, burst 3
  for (int i = 0; i < 3; ++i) EXPECT_EQ(l.admit("a", 0), 0) << i;
  EXPECT_EQ(l.admit("a", 0), 4);  // one token needs 4 s
  EXPECT_EQ(l.admit("a", 3.5), 1);
  EXPECT_EQ(l.admit("a", 4), 0);
  EXPECT_EQ(l.admit("a", 4), 4);
  // Another address has its own bucket.
  EXPECT_EQ(l.admit("b", 4), 0);
}

TEST(RequestLimiter, GlobalCeilingAcrossAddresses) {
  RequestLimiter l({100, 100}, {1, 4});
  for (int i = 0; i < 4; ++i) EXPECT_EQ(l.admit("addr" + std::to_string(i), 0), 0);
  EXPECT_EQ(l.admit("fresh", 0), 1);
  EXPECT_EQ(l.admit("fresh", 1), 0);
}

TEST(RequestLimiter, ARefusedAddressDoesNotUseTheGlobalAllowance) {
  RequestLimiter l({0.001, 2}, {0.001, 4});
  EXPECT_EQ(l.admit("noisy", 0), 0);
  EXPECT_EQ(l.admit("noisy", 0), 0);
  for (int i = 0; i < 50; ++i) EXPECT_GT(l.admit("noisy", 0), 0);
  EXPECT_EQ(l.admit("quiet", 0), 0);
  EXPECT_EQ(l.admit("quiet", 0), 0);
  EXPECT_GT(l.admit("third", 0), 0);  // the global bucket (4) is now empty
}

TEST(RequestLimiter, KeepsAtMostMaxAddresses) {
  RequestLimiter l({1, 1}, {1e9, 1e9}, 3);
  for (int i = 0; i < 3; ++i) EXPECT_EQ(l.admit("a" + std::to_string(i), 0), 0);
  // All three are empty: the fourth and fifth address share the overflow bucket.
  EXPECT_EQ(l.admit("a3", 0), 0);
  EXPECT_EQ(l.tracked_addresses(), 3u);
  EXPECT_EQ(l.admit("a4", 0.5), 1);
  // Once the old buckets have refilled they are dropped and newcomers get their own again.
  EXPECT_EQ(l.admit("a5", 10), 0);
  EXPECT_LE(l.tracked_addresses(), 3u);
}

TEST(WorkGate, RefusesAtOnceWhenTheQueueIsFull) {
  WorkGate g(1, 0, std::chrono::milliseconds(1000));
  auto first = g.enter();
  ASSERT_TRUE(first);
  EXPECT_FALSE(g.enter());  // no queue: refused without waiting
  first.reset();
  EXPECT_TRUE(g.enter());
}

TEST(WorkGate, WaitersGetTheSlotOrTimeOut) {
  WorkGate g(1, 1, std::chrono::milliseconds(50));
  auto held = g.enter();
  ASSERT_TRUE(held);
  EXPECT_FALSE(g.enter());  // waited 50 ms, the slot stayed taken
  std::atomic<bool> got{false};
  WorkGate slow(1, 1, std::chrono::seconds(10));
  auto slot = slow.enter();
  std::thread waiter([&] { got = slow.enter().has_value(); });
  while (slow.waiting() == 0) std::this_thread::yield();
  EXPECT_FALSE(slow.enter());  // the one queue place is taken: refused at once
  slot.reset();
  waiter.join();
  EXPECT_TRUE(got);
  EXPECT_EQ(slow.running(), 0);
  EXPECT_GE(g.retry_after_s(), 1);
}

TEST(WorkGate, NeverRunsMoreThanItsConcurrency) {
  WorkGate g(2, 100, std::chrono::seconds(10));
  std::atomic<int> inside{0}, peak{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      auto p = g.enter();
      ASSERT_TRUE(p);
      const int now = ++inside;
      int seen = peak.load();
      while (now > seen && !peak.compare_exchange_weak(seen, now)) {
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      --inside;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), 2);
  EXPECT_EQ(g.running(), 0);
}

}  // namespace
}  // namespace sp::identity
