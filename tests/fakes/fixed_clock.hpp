#pragma once
// The one test clock: it stands still until the test sets or advances it. Safe to read from the
// worker threads of the service under test.

#include <atomic>
#include <chrono>
#include <cstdint>

#include "smartproduct/core/clock.hpp"

namespace sp::test {

class FixedClock final : public Clock {
 public:
  /// 2023-11-14T22:13:20.000Z: a round, recent instant that is not "now".
  static constexpr std::int64_t kDefaultNowMs = 1700000000000;

  explicit FixedClock(std::int64_t now_ms = kDefaultNowMs) : now_ms_(now_ms) {}

  std::int64_t now_ms() const override { return now_ms_.load(); }
  void set(std::int64_t now_ms) { now_ms_.store(now_ms); }
  void advance(std::chrono::milliseconds by) { now_ms_.fetch_add(by.count()); }

 private:
  std::atomic<std::int64_t> now_ms_;
};

/// The real time now, for tests whose fixtures (e.g. freshly issued certificates) are valid
/// around it; wrap it in a FixedClock so the test still controls time from there.
inline std::int64_t system_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace sp::test
