#pragma once
// Account administration storage of the identity module, next to UserRepository: profile fields
// (name, phone), paged listings, deletion and the audit log listing. The SQLite implementation is
// one object implementing both interfaces (sp::sqlite::make_user_repository). Times: epoch seconds.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/types.hpp"

namespace sp::store {

/// Contact data of an account; empty strings mean "not set".
struct UserProfile {
  std::string name;
  std::string phone;  // E.164, e.g. "+15551234567"
};

struct UserWithProfile {
  identity::User user;
  UserProfile profile;
};

/// Position after the last row of a page of users (ordered by created_at, then id).
struct UserCursor {
  std::int64_t created_at = 0;
  std::string id;
};

struct UserPage {
  std::vector<UserWithProfile> items;
  std::optional<UserCursor> next;  // set only when more rows exist
};

/// A stored audit entry with its sequence number and the actor's current email (empty when the
/// actor is anonymous or was deleted).
struct AuditRecord {
  std::int64_t id = 0;
  identity::AuditEntry entry;
  std::string actor_email;
};

struct AuditPage {
  std::vector<AuditRecord> items;    // newest first
  std::optional<std::int64_t> next;  // id to pass as `before_id` for the next page
};

class AccountRepository {
 public:
  virtual ~AccountRepository() = default;

  /// Sets name and phone of an existing user; kNotFound "UserNotFound" if absent.
  virtual Result<void> set_profile(std::string_view user_id, const UserProfile& profile) = 0;
  virtual Result<std::optional<UserWithProfile>> find_user_with_profile(std::string_view id) = 0;
  /// At most `limit` users after `after` (oldest first).
  virtual Result<UserPage> list_users(int limit, const std::optional<UserCursor>& after) = 0;
  /// Deletes the user with its codes and refresh tokens (and its settings row, which is keyed by
  /// the user id). Returns false if there was no such user.
  virtual Result<bool> delete_user(std::string_view id) = 0;
  /// At most `limit` audit entries with id < before_id (all when absent), newest first.
  virtual Result<AuditPage> list_audit(int limit, std::optional<std::int64_t> before_id) = 0;
};

}  // namespace sp::store
