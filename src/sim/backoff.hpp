#pragma once

#include <chrono>
#include <cstdint>
#include <random>

namespace sp::sim {

/// Exponential reconnect back-off with "equal jitter": the n-th delay is drawn uniformly from
/// [d/2, d] where d = min(max, initial * 2^n). Jitter keeps a fleet that lost the broker at the
/// same instant from reconnecting in lock-step (the broker does ~450 mTLS handshakes/s here).
class Backoff {
 public:
  Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max, std::uint64_t seed);

  /// The delay before the next attempt; each call doubles the ceiling up to max.
  std::chrono::milliseconds next();
  /// Call after a successful connection: the next delay starts at `initial` again.
  void reset() { attempt_ = 0; }
  unsigned attempt() const { return attempt_; }

 private:
  std::chrono::milliseconds initial_;
  std::chrono::milliseconds max_;
  unsigned attempt_ = 0;
  std::mt19937_64 rng_;
};

}  // namespace sp::sim
