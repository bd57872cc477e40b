#pragma once
// The identity module's account-mail outbox (table account_mail_outbox, migration 0017): routes
// queue a message and answer; the mail worker sends it off the request path.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "smartproduct/core/result.hpp"

namespace sp::store {

struct AccountMail {
  std::int64_t id = 0;
  std::string kind;  // verify-email | reset-password | signup-existing
  std::string email;
  std::string request_id;
  std::int64_t created_at = 0;
  int attempts = 0;
  std::int64_t next_attempt_at = 0;
};

class AccountMailOutbox {
 public:
  virtual ~AccountMailOutbox() = default;
  /// Queues a message due at once (next_attempt_at = created_at). Returns its id.
  virtual Result<std::int64_t> enqueue(const AccountMail& mail) = 0;
  /// Up to `limit` messages due at `now`, oldest first.
  virtual Result<std::vector<AccountMail>> due(std::int64_t now, int limit) = 0;
  virtual Result<void> remove(std::int64_t id) = 0;
  /// Counts a failed delivery and sets when to try again.
  virtual Result<void> retry_at(std::int64_t id, std::int64_t next_attempt_at) = 0;
  /// Seconds until the next message is due (nullopt: none queued).
  virtual Result<std::optional<std::int64_t>> next_due() = 0;
};

}  // namespace sp::store
