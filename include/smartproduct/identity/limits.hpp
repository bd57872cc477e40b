#pragma once
// Abuse limits in front of the unauthenticated routes (issue 10, findings 3 and 4): a request rate
// per client address and in total (token buckets, 429 + Retry-After), the bounded queue in front
// of Argon2id (503 + Retry-After when full). Plain C++: no HTTP, no SQL; thread-safe where stated.

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace sp::identity {

/// A sustained rate and the burst allowed above it (the bucket's size, at least 1).
struct RateLimit {
  double per_second = 1;
  double burst = 1;
};

/// One token bucket: `tokens` were available at time `updated` (seconds, any epoch).
struct TokenBucket {
  double tokens = 0;
  double updated = 0;

  /// Refills at limit.per_second up to limit.burst from `updated` to `now` (a clock going back
  /// refills nothing).
  void refill(const RateLimit& limit, double now);
  /// Seconds until one token is available after refill() (0 when one is).
  double wait(const RateLimit& limit) const;
};

/// Request limits of the unauthenticated routes: one bucket per client address key (see
/// address_key(): IPv6 per /64) and one for all of them. A request takes a token from both or
/// from neither, so a refused address does not use up the global allowance and the global
/// ceiling does not use up an address's. Thread-safe. At most `max_addresses` buckets are kept:
/// full (idle) ones are dropped first; past that, new addresses share one bucket.
class RequestLimiter {
 public:
  RequestLimiter(RateLimit per_address, RateLimit global, std::size_t max_addresses = 100000);

  /// 0 when admitted; else the whole seconds (>= 1) until it would be: the Retry-After.
  std::int64_t admit(const std::string& address_key, double now_s);

  std::size_t tracked_addresses() const;

 private:
  void prune(double now_s);

  RateLimit per_address_;
  RateLimit global_;
  std::size_t max_addresses_;
  mutable std::mutex mu_;
  TokenBucket global_bucket_;
  TokenBucket overflow_;
  std::unordered_map<std::string, TokenBucket> buckets_;
};

/// A bound on concurrent Argon2id work: at most `concurrency` hashes run, at most `queue` callers
/// wait (each at most `max_wait`); everyone else is refused at once. The threads that wait are the
/// HTTP workers that asked, so neither threads nor Argon2 memory (memlimit × concurrency) pile up.
class WorkGate {
 public:
  WorkGate(int concurrency, int queue, std::chrono::milliseconds max_wait);

  /// Holds one slot until destroyed.
  class Permit {
   public:
    explicit Permit(WorkGate* gate) : gate_(gate) {}
    Permit(Permit&& other) noexcept : gate_(other.gate_) { other.gate_ = nullptr; }
    Permit& operator=(Permit&&) = delete;
    Permit(const Permit&) = delete;
    ~Permit();

   private:
    WorkGate* gate_;
  };

  /// A permit, or nullopt when the queue is full or no slot freed within max_wait.
  std::optional<Permit> enter();
  /// Seconds a refused caller should wait before retrying (>= 1).
  std::int64_t retry_after_s() const;

  int running() const;
  int waiting() const;

 private:
  void leave();

  int concurrency_;
  int queue_;
  std::chrono::milliseconds max_wait_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  int running_ = 0;
  int waiting_ = 0;
};

}  // namespace sp::identity
