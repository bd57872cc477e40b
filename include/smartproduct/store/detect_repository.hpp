#pragma once
// Storage of detection (module detect): security profiles, violations, quarantined devices and
// learned baselines, in the main database. Times are epoch ms.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/core/result.hpp"

namespace sp::store {

struct StoredProfile {
  std::string name;
  std::optional<std::string> model;
  std::string rules;  // JSON array, as the service wrote it
};

struct Violation {
  std::int64_t id = 0;
  std::string device_id;
  std::string profile;
  std::string rule;
  std::string metric;
  double value = 0;
  double threshold = 0;
  std::optional<std::string> statistic;  // p90 | p99; empty for a static rule
  std::string action;                    // notify | quarantine | revoke
  std::string status;                    // active | cleared
  std::int64_t started_at_ms = 0;
  std::int64_t last_violation_at_ms = 0;
  std::optional<std::int64_t> cleared_at_ms;
};

struct OpenedViolation {
  Violation violation;
  bool created = true;  // false: the device + profile + rule already had an active one
};

struct ViolationFilter {
  std::optional<std::string> status;
  std::optional<std::string> device_id;
};

struct Quarantine {
  std::string device_id;
  std::string reason;
  std::string source;  // detect | admin | audit
  std::optional<std::int64_t> violation_id;
  std::int64_t created_at_ms = 0;
  std::string created_by;
};

struct StoredBaseline {
  std::string device_id;
  std::string metric;
  int duration_s = 0;
  std::string data;
};

class DetectRepository {
 public:
  virtual ~DetectRepository() = default;

  virtual Result<std::vector<StoredProfile>> profiles() = 0;
  /// Replaces every profile in one transaction.
  virtual Result<void> replace_profiles(const std::vector<StoredProfile>& profiles,
                                        std::int64_t now_ms) = 0;

  /// Records a new active violation (its id set), or, when the device + profile + rule already
  /// has one, returns that one unchanged (a restart that lost the engine's memory).
  virtual Result<OpenedViolation> open_violation(const Violation& v) = 0;
  /// An active violation's window closed violating: its value (the largest seen) and time.
  virtual Result<void> continue_violation(const std::string& device_id, const std::string& profile,
                                          const std::string& rule, double value,
                                          std::int64_t at_ms) = 0;
  /// Clears the device + profile + rule's active violation: its id, nullopt when none was active.
  virtual Result<std::optional<std::int64_t>> clear_violation(const std::string& device_id,
                                                              const std::string& profile,
                                                              const std::string& rule,
                                                              std::int64_t at_ms) = 0;
  virtual Result<std::vector<Violation>> active_violations() = 0;
  /// Newest first; `before_id` continues a page.
  virtual Result<std::vector<Violation>> violations(const ViolationFilter& filter, int limit,
                                                    std::optional<std::int64_t> before_id) = 0;

  virtual Result<std::optional<Quarantine>> quarantine(const std::string& device_id) = 0;
  /// Adds the device; false (and nothing changed) when it is already quarantined.
  virtual Result<bool> add_quarantine(const Quarantine& q) = 0;
  /// false when it was not quarantined.
  virtual Result<bool> release(const std::string& device_id) = 0;
  /// By device id; `after` continues a page.
  virtual Result<std::vector<Quarantine>> quarantined(int limit,
                                                      std::optional<std::string> after) = 0;
  virtual Result<std::int64_t> quarantined_count() = 0;

  virtual Result<std::optional<std::string>> baseline(const std::string& device_id,
                                                      const std::string& metric,
                                                      int duration_s) = 0;
  virtual Result<void> save_baselines(const std::vector<StoredBaseline>& baselines,
                                      std::int64_t now_ms) = 0;
};

}  // namespace sp::store
