#pragma once
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/presence/types.hpp"

namespace sp::store {

class PresenceRepository {
 public:
  virtual ~PresenceRepository() = default;
  using Done = std::function<void(Result<void>)>;

  /// Appends the event to the device's history and updates its state in one transaction:
  ///  - kConnected: the state becomes connected with the event's (epoch, conn_seq), unless the
  ///    stored state already has a newer (epoch, conn_seq) (a late replay);
  ///  - kDisconnected: the state becomes disconnected only if it still belongs to the same
  ///    connection (same epoch and conn_seq). A takeover's `connected` arrives before the old
  ///    connection's `disconnected`, which must then not mark the device offline;
  ///  - kRejected: history only.
  virtual void apply(presence::ConnectionEvent event, Done done) = 0;

  /// A new broker process: every device connected through an older broker epoch is offline as of
  /// `at_ms`; the epoch is remembered.
  virtual void broker_restarted(int64_t epoch, int64_t at_ms, Done done) = 0;
  virtual Result<std::optional<int64_t>> broker_epoch() = 0;

  virtual Result<std::optional<presence::PresenceState>> state(const std::string& device_id) = 0;
  /// Newest first.
  virtual Result<std::vector<presence::ConnectionEvent>> history(const std::string& device_id,
                                                                 int limit) = 0;
  virtual Result<int64_t> connected_count() = 0;
};

}  // namespace sp::store
