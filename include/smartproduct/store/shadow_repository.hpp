#pragma once
// Storage of the shadow module: one row per device holding its classic shadow. Writes are
// compare-and-set on (version, deleted) so that of two concurrent updates that read the same row
// exactly one wins; the loser reloads and recomputes. A deleted shadow stays as a tombstone row
// (deleted = true, empty state) because AWS continues the version of a shadow that is created
// again after a delete. Times: epoch SECONDS (the shadow is an AWS contract).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::store {

struct ShadowRecord {
  std::string device_id;
  /// {"desired":{...},"reported":{...}} (both objects, possibly empty).
  nlohmann::json state = nlohmann::json::object();
  /// Same shape as `state`, with {"timestamp": s} at the leaves.
  nlohmann::json metadata = nlohmann::json::object();
  std::int64_t version = 0;
  /// Last write (update or delete), epoch s.
  std::int64_t updated_at_s = 0;
  bool deleted = false;
};

/// What a writer saw when it loaded the row; save() succeeds only if the row still matches.
struct ShadowStamp {
  std::int64_t version = 0;
  bool deleted = false;

  bool operator==(const ShadowStamp&) const = default;
};

class ShadowRepository {
 public:
  virtual ~ShadowRepository() = default;

  /// The row (live or tombstone), or nullopt if the device never had a shadow.
  virtual Result<std::optional<ShadowRecord>> load(std::string_view device_id) = 0;

  /// Writes `record` in one transaction if the stored row still carries `expected` (nullopt: only
  /// if there is no row at all). Returns false, changing nothing, when another writer got there
  /// first.
  virtual Result<bool> save(const ShadowRecord& record,
                            const std::optional<ShadowStamp>& expected) = 0;
};

}  // namespace sp::store
