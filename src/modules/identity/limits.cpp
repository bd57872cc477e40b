#include "smartproduct/identity/limits.hpp"

#include <algorithm>
#include <cmath>

namespace sp::identity {

void TokenBucket::refill(const RateLimit& limit, double now) {
  if (now > updated) tokens = std::min(limit.burst, tokens + (now - updated) * limit.per_second);
  updated = std::max(updated, now);
}

double TokenBucket::wait(const RateLimit& limit) const {
  if (tokens >= 1) return 0;
  return (1 - tokens) / limit.per_second;
}

RequestLimiter::RequestLimiter(RateLimit per_address, RateLimit global, std::size_t max_addresses)
    : per_address_(per_address),
      global_(global),
      max_addresses_(std::max<std::size_t>(1, max_addresses)),
      global_bucket_{global.burst, 0},
      overflow_{per_address.burst, 0} {}

void RequestLimiter::prune(double now_s) {
  // A bucket that has refilled to its burst is the same as no bucket.
  for (auto it = buckets_.begin(); it != buckets_.end();) {
    it->second.refill(per_address_, now_s);
    it = it->second.tokens >= per_address_.burst ? buckets_.erase(it) : std::next(it);
  }
}

std::int64_t RequestLimiter::admit(const std::string& address_key, double now_s) {
  std::lock_guard lock(mu_);
  TokenBucket* found = nullptr;
  if (auto it = buckets_.find(address_key); it != buckets_.end()) {
    found = &it->second;
  } else {
    if (buckets_.size() >= max_addresses_) prune(now_s);
    // Still full: the newcomers share one bucket rather than growing the map without bound.
    found = buckets_.size() >= max_addresses_
                ? &overflow_
                : &buckets_.try_emplace(address_key, TokenBucket{per_address_.burst, now_s})
                       .first->second;
  }
  TokenBucket& mine = *found;
  mine.refill(per_address_, now_s);
  global_bucket_.refill(global_, now_s);
  const double wait = std::max(mine.wait(per_address_), global_bucket_.wait(global_));
  if (wait > 0) return std::max<std::int64_t>(1, static_cast<std::int64_t>(std::ceil(wait)));
  mine.tokens -= 1;
  global_bucket_.tokens -= 1;
  return 0;
}

std::size_t RequestLimiter::tracked_addresses() const {
  std::lock_guard lock(mu_);
  return buckets_.size();
}

WorkGate::WorkGate(int concurrency, int queue, std::chrono::milliseconds max_wait)
    : concurrency_(std::max(1, concurrency)), queue_(std::max(0, queue)), max_wait_(max_wait) {}

WorkGate::Permit::~Permit() {
  if (gate_) gate_->leave();
}

std::optional<WorkGate::Permit> WorkGate::enter() {
  std::unique_lock lock(mu_);
  if (running_ < concurrency_ && waiting_ == 0) {
    ++running_;
    return std::optional<Permit>(std::in_place, this);
  }
  if (waiting_ >= queue_) return std::nullopt;
  ++waiting_;
  const bool got = cv_.wait_for(lock, max_wait_, [this] { return running_ < concurrency_; });
  --waiting_;
  if (!got) return std::nullopt;
  ++running_;
  return std::optional<Permit>(std::in_place, this);
}

void WorkGate::leave() {
  {
    std::lock_guard lock(mu_);
    --running_;
  }
  cv_.notify_one();
}

std::int64_t WorkGate::retry_after_s() const {
  return std::max<std::int64_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(max_wait_ + std::chrono::seconds(1))
             .count());
}

int WorkGate::running() const {
  std::lock_guard lock(mu_);
  return running_;
}

int WorkGate::waiting() const {
  std::lock_guard lock(mu_);
  return waiting_;
}

}  // namespace sp::identity
