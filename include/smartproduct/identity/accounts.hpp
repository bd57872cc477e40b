#pragma once
// Account administration on top of IdentityService: profiles (name, phone), the admin API
// (list, get, enable/disable, role, delete) with its audit trail, and operator-created accounts
// (`smartproductctl user add`). No HTTP, no SQL.
//
// Error names: UserNotFound (404), InvalidName / InvalidPhone / InvalidRole (422),
// CannotModifySelf (409: an admin cannot disable, demote or delete their own account),
// UserAlreadyExists (409), InvalidEmail / InvalidPassword (422).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"
#include "smartproduct/identity/config.hpp"
#include "smartproduct/identity/jwt.hpp"
#include "smartproduct/identity/types.hpp"
#include "smartproduct/store/account_repository.hpp"
#include "smartproduct/store/user_repository.hpp"

namespace sp::identity {

inline constexpr std::size_t kMaxNameBytes = 200;

/// Trims ASCII whitespace; refuses empty (when `required`), over-long or control characters.
Result<std::string> check_name(std::string_view name, bool required);
/// Empty is allowed (no phone); otherwise E.164: '+', a non-zero digit, 6 to 14 more digits.
Result<std::string> check_phone(std::string_view phone);

/// What the admin API changes on an account.
struct AccountPatch {
  std::optional<bool> enabled;
  std::optional<Role> role;
};

class AccountService {
 public:
  /// The repositories must outlive the service.
  AccountService(store::UserRepository& users, store::AccountRepository& accounts,
                 EpochClock clock);

  Result<store::UserWithProfile> get(std::string_view user_id);
  /// Sets name and phone after validating them (name required).
  Result<void> set_profile(std::string_view user_id, std::string_view name, std::string_view phone);

  /// Admin API. `actor` is the admin's user id; every change is audited with it.
  Result<store::UserPage> list(int limit, const std::optional<store::UserCursor>& after);
  Result<store::UserWithProfile> patch(std::string_view actor, std::string_view user_id,
                                       const AccountPatch& patch);
  Result<void> remove(std::string_view actor, std::string_view user_id);
  Result<store::AuditPage> audit_log(int limit, std::optional<std::int64_t> before_id);

  /// Creates a verified, enabled account with a hashed password (the operator's CLI).
  Result<store::UserWithProfile> create_verified(const IdentityConfig& config,
                                                 std::string_view email, std::string_view password,
                                                 Role role, std::string_view name,
                                                 std::string_view phone, std::string_view actor);

 private:
  void audit(std::string actor, std::string action, std::string target, std::string detail);

  store::UserRepository& users_;
  store::AccountRepository& accounts_;
  EpochClock clock_;
};

}  // namespace sp::identity
