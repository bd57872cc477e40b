#pragma once
// In-memory AccountRepository over a FakeUserRepository's users (profiles kept aside).

#include <map>

#include "../fake_user_repository.hpp"
#include "smartproduct/store/account_repository.hpp"

namespace sp::identity::test {

class FakeAccountRepository : public store::AccountRepository {
 public:
  explicit FakeAccountRepository(FakeUserRepository& users) : users_(users) {}

  Result<void> set_profile(std::string_view id, const store::UserProfile& p) override {
    if (!users_.users_.count(std::string(id))) {
      return fail(ErrorKind::kNotFound, "UserNotFound", "no such user");
    }
    profiles_[std::string(id)] = p;
    return {};
  }
  Result<std::optional<store::UserWithProfile>> find_user_with_profile(
      std::string_view id) override {
    auto it = users_.users_.find(std::string(id));
    if (it == users_.users_.end()) return std::optional<store::UserWithProfile>{};
    return std::optional<store::UserWithProfile>(
        store::UserWithProfile{it->second, profiles_[std::string(id)]});
  }
  Result<store::UserPage> list_users(int, const std::optional<store::UserCursor>&) override {
    store::UserPage page;
    for (const auto& [id, u] : users_.users_) page.items.push_back({u, profiles_[id]});
    return page;
  }
  Result<bool> delete_user(std::string_view id) override {
    return users_.users_.erase(std::string(id)) > 0;
  }
  Result<store::AuditPage> list_audit(int, std::optional<std::int64_t>) override {
    store::AuditPage page;
    std::int64_t n = 0;
    for (const auto& e : users_.audit_) page.items.push_back({++n, e, ""});
    return page;
  }

  std::map<std::string, store::UserProfile> profiles_;

 private:
  FakeUserRepository& users_;
};

}  // namespace sp::identity::test
