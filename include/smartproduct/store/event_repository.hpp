#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/events/types.hpp"

namespace sp::store {

class EventRepository {
 public:
  virtual ~EventRepository() = default;
  /// Appends durably (group-committed); `done` runs after commit, or with kDuplicate when the
  /// device already delivered this event (same dedup key), or with an error.
  virtual void append(events::EventRecord record,
                      std::function<void(Result<events::AppendOutcome>)> done) = 0;
  virtual Result<std::optional<events::EventRecord>> find(const std::string& device_id,
                                                          const std::string& event_id) = 0;
  /// Newest first (by device timestamp).
  virtual Result<std::vector<events::EventRecord>> recent(const std::string& device_id,
                                                          int limit) = 0;
  virtual Result<int64_t> count(const std::string& device_id) = 0;
};

}  // namespace sp::store
