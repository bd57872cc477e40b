#include "backoff.hpp"

#include <algorithm>

namespace sp::sim {

Backoff::Backoff(std::chrono::milliseconds initial, std::chrono::milliseconds max,
                 std::uint64_t seed)
    : initial_(std::max(initial, std::chrono::milliseconds(1))),
      max_(std::max(max, initial_)),
      rng_(seed) {}

std::chrono::milliseconds Backoff::next() {
  // Cap the exponent so the shift cannot overflow however long the broker stays away.
  const unsigned exponent = std::min(attempt_, 20U);
  const auto ceiling_ms =
      std::min<std::int64_t>(max_.count(), initial_.count() * (std::int64_t{1} << exponent));
  ++attempt_;
  std::uniform_int_distribution<std::int64_t> dist(ceiling_ms / 2, ceiling_ms);
  return std::chrono::milliseconds(dist(rng_));
}

}  // namespace sp::sim
