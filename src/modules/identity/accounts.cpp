#include "smartproduct/identity/accounts.hpp"

#include <nlohmann/json.hpp>

#include "smartproduct/identity/password.hpp"
#include "smartproduct/identity/secrets.hpp"
#include "smartproduct/identity/service.hpp"

namespace sp::identity {
namespace {

template <class T>
tl::unexpected<Error> forward(const Result<T>& r) {
  return tl::unexpected<Error>(r.error());
}

tl::unexpected<Error> not_found() {
  return fail(ErrorKind::kNotFound, "UserNotFound", "No such user.");
}

std::string_view trim(std::string_view s) {
  const auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

Result<std::string> check_name(std::string_view name, bool required) {
  name = trim(name);
  if (name.empty()) {
    if (!required) return std::string();
    return fail(ErrorKind::kUnprocessable, "InvalidName", "Enter a name.");
  }
  if (name.size() > kMaxNameBytes) {
    return fail(ErrorKind::kUnprocessable, "InvalidName", "The name is too long.");
  }
  for (const char ch : name) {
    const auto c = static_cast<unsigned char>(ch);
    if (c < 0x20 || c == 0x7F) {
      return fail(ErrorKind::kUnprocessable, "InvalidName",
                  "The name must not contain control characters.");
    }
  }
  return std::string(name);
}

Result<std::string> check_phone(std::string_view phone) {
  phone = trim(phone);
  if (phone.empty()) return std::string();
  const auto bad = [] {
    return fail(ErrorKind::kUnprocessable, "InvalidPhone",
                "Enter the phone number in international format, e.g. +15551234567.");
  };
  // E.164: at most 15 digits after '+', no leading zero.
  if (phone.size() < 8 || phone.size() > 16 || phone[0] != '+' || phone[1] < '1' ||
      phone[1] > '9') {
    return bad();
  }
  for (std::size_t i = 2; i < phone.size(); ++i) {
    if (phone[i] < '0' || phone[i] > '9') return bad();
  }
  return std::string(phone);
}

AccountService::AccountService(store::UserRepository& users, store::AccountRepository& accounts,
                               EpochClock clock)
    : users_(users), accounts_(accounts), clock_(clock ? std::move(clock) : system_epoch_clock()) {}

void AccountService::audit(std::string actor, std::string action, std::string target,
                           std::string detail) {
  // Admin actions must leave a trace; a failed insert is logged by the store and the action
  // itself has already happened, so it is not undone.
  (void)users_.append_audit(AuditEntry{clock_(), std::move(actor), std::move(action),
                                       std::move(target), std::move(detail)});
}

Result<store::UserWithProfile> AccountService::get(std::string_view user_id) {
  auto found = accounts_.find_user_with_profile(user_id);
  if (!found) return forward(found);
  if (!*found) return not_found();
  return std::move(**found);
}

Result<void> AccountService::set_profile(std::string_view user_id, std::string_view name,
                                         std::string_view phone) {
  auto n = check_name(name, true);
  if (!n) return forward(n);
  auto p = check_phone(phone);
  if (!p) return forward(p);
  return accounts_.set_profile(user_id, store::UserProfile{std::move(*n), std::move(*p)});
}

Result<store::UserPage> AccountService::list(int limit,
                                             const std::optional<store::UserCursor>& after) {
  return accounts_.list_users(limit, after);
}

Result<store::UserWithProfile> AccountService::patch(std::string_view actor,
                                                     std::string_view user_id,
                                                     const AccountPatch& patch) {
  auto found = get(user_id);
  if (!found) return found;
  User user = found->user;
  const bool disabling = patch.enabled && !*patch.enabled && user.enabled;
  const bool demoting = patch.role && *patch.role != Role::kAdmin && user.role == Role::kAdmin;
  if (actor == user_id && (disabling || demoting)) {
    return fail(ErrorKind::kConflict, "CannotModifySelf",
                "You cannot disable or demote your own account.");
  }
  nlohmann::json detail = nlohmann::json::object();
  if (patch.enabled && *patch.enabled != user.enabled) {
    user.enabled = *patch.enabled;
    detail["enabled"] = user.enabled;
  }
  if (patch.role && *patch.role != user.role) {
    user.role = *patch.role;
    detail["role"] = std::string(role_name(user.role));
  }
  if (detail.empty()) return found;  // nothing changes: no write, no audit entry
  user.updated_at = clock_();
  if (auto r = users_.update_user(user); !r) return forward(r);
  if (disabling) {
    // Access tokens die at once through the per-request user check; refresh tokens here.
    if (auto r = users_.revoke_user_refresh_tokens(user.id); !r) return forward(r);
  }
  detail["email"] = user.email;
  audit(std::string(actor), "admin.user_updated", user.id, detail.dump());
  found->user = std::move(user);
  return found;
}

Result<void> AccountService::remove(std::string_view actor, std::string_view user_id) {
  if (actor == user_id) {
    return fail(ErrorKind::kConflict, "CannotModifySelf", "You cannot delete your own account.");
  }
  auto found = get(user_id);
  if (!found) return forward(found);
  auto removed = accounts_.delete_user(user_id);
  if (!removed) return forward(removed);
  if (!*removed) return not_found();
  audit(std::string(actor), "admin.user_deleted", std::string(user_id),
        nlohmann::json{{"email", found->user.email}}.dump());
  return {};
}

Result<store::AuditPage> AccountService::audit_log(int limit, std::optional<std::int64_t> before) {
  return accounts_.list_audit(limit, before);
}

Result<store::UserWithProfile> AccountService::create_verified(
    const IdentityConfig& config, std::string_view email, std::string_view password, Role role,
    std::string_view name, std::string_view phone, std::string_view actor) {
  const auto normalized = normalize_email(email);
  if (!normalized) {
    return fail(ErrorKind::kUnprocessable, "InvalidEmail", "The email address is not valid.");
  }
  if (auto r = check_password_policy(password, *normalized, config.min_password_length); !r) {
    return forward(r);
  }
  auto n = check_name(name, false);
  if (!n) return forward(n);
  auto p = check_phone(phone);
  if (!p) return forward(p);
  PasswordHasher hasher(config.password_hash);
  auto hash = hasher.hash(password);
  if (!hash) return forward(hash);
  const std::int64_t now = clock_();
  User user{generate_random_id(16), *normalized, std::move(*hash), role, true, true, now, now};
  if (auto r = users_.insert_user(user); !r) return forward(r);
  store::UserProfile profile{std::move(*n), std::move(*p)};
  if (auto r = accounts_.set_profile(user.id, profile); !r) return forward(r);
  audit(std::string(actor), "user.created", user.id,
        nlohmann::json{{"email", user.email}, {"role", std::string(role_name(role))}}.dump());
  return store::UserWithProfile{std::move(user), std::move(profile)};
}

}  // namespace sp::identity
