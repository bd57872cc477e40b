#pragma once
// Claim-code policy of device registration (issue 10, finding 5): whether every claim needs a
// code, and the limit on wrong codes per serial number across all users, kept in the store so a
// restart does not reset it. No SQL here: the counter is an interface.

#include <chrono>
#include <cstdint>
#include <string_view>

#include "smartproduct/core/result.hpp"

namespace sp::devices {

struct ClaimPolicy {
  /// false: a claim needs the code when the catalog row has one; true: every claim needs one (rows
  /// without a code cannot be claimed until the manufacturer sets one).
  bool require_claim_code = false;
  int max_failures_per_serial = 20;  // within failure_window, over all users
  std::chrono::seconds failure_window{3600};
};

struct ClaimCount {
  int count = 0;
  std::int64_t window_start = 0;  // epoch seconds
};

/// Claim attempts per serial in fixed windows.
class ClaimAttemptCounter {
 public:
  virtual ~ClaimAttemptCounter() = default;
  /// Atomically adds one attempt for `device_id` and returns the count (one statement: concurrent
  /// claims each get their own number); a window older than `window_s` restarts at 1.
  virtual Result<ClaimCount> add(std::string_view device_id, std::int64_t now_s,
                                 std::int64_t window_s) = 0;
  virtual Result<ClaimCount> get(std::string_view device_id) = 0;
  virtual Result<void> clear(std::string_view device_id) = 0;
};

}  // namespace sp::devices
