#pragma once
// In-memory UserRepository for service tests. Mirrors the contract of the SQLite store,
// including case-insensitive unique emails and the compare-and-set of mark_refresh_token_used.

#include <algorithm>
#include <map>
#include <vector>

#include "smartproduct/store/user_repository.hpp"

namespace sp::identity::test {

class FakeUserRepository : public store::UserRepository {
 public:
  static std::string lower(std::string_view s) {
    std::string out(s);
    std::transform(out.begin(), out.end(), out.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return out;
  }

  Result<void> insert_user(const User& user) override {
    if (users_.count(user.id) != 0) return conflict();
    for (const auto& [id, u] : users_) {
      if (lower(u.email) == lower(user.email)) return conflict();
    }
    users_[user.id] = user;
    return {};
  }
  Result<void> update_user(const User& user) override {
    auto it = users_.find(user.id);
    if (it == users_.end()) return fail(ErrorKind::kNotFound, "UserNotFound", "no such user");
    const std::int64_t generation = it->second.token_generation;  // not written by update_user
    it->second = user;
    it->second.token_generation = generation;
    return {};
  }
  Result<std::int64_t> advance_token_generation(std::string_view user_id) override {
    auto it = users_.find(std::string(user_id));
    if (it == users_.end()) return fail(ErrorKind::kNotFound, "UserNotFound", "no such user");
    return ++it->second.token_generation;
  }
  Result<std::optional<User>> find_user_by_id(std::string_view id) override {
    auto it = users_.find(std::string(id));
    if (it == users_.end()) return std::optional<User>{};
    return std::optional<User>(it->second);
  }
  Result<std::optional<User>> find_user_by_email(std::string_view email) override {
    for (const auto& [id, u] : users_) {
      if (lower(u.email) == lower(email)) return std::optional<User>(u);
    }
    return std::optional<User>{};
  }

  Result<void> put_code(const OneTimeCode& code) override {
    codes_[{code.user_id, code.purpose}] = code;
    return {};
  }
  Result<std::optional<OneTimeCode>> find_code(std::string_view user_id,
                                               CodePurpose purpose) override {
    auto it = codes_.find({std::string(user_id), purpose});
    if (it == codes_.end()) return std::optional<OneTimeCode>{};
    return std::optional<OneTimeCode>(it->second);
  }
  Result<std::optional<OneTimeCode>> add_code_attempt(std::string_view user_id,
                                                      CodePurpose purpose) override {
    auto it = codes_.find({std::string(user_id), purpose});
    if (it == codes_.end()) return std::optional<OneTimeCode>{};
    ++it->second.attempts;
    return std::optional<OneTimeCode>(it->second);
  }
  Result<void> delete_code(std::string_view user_id, CodePurpose purpose) override {
    codes_.erase({std::string(user_id), purpose});
    return {};
  }
  Result<int> delete_user_codes(std::string_view user_id) override {
    int n = 0;
    for (auto it = codes_.begin(); it != codes_.end();) {
      if (it->first.first == user_id) {
        it = codes_.erase(it);
        ++n;
      } else {
        ++it;
      }
    }
    return n;
  }

  Result<void> insert_refresh_token(const RefreshTokenRecord& record) override {
    tokens_[record.token_hash] = record;
    return {};
  }
  Result<std::optional<RefreshTokenRecord>> find_refresh_token(
      std::string_view token_hash) override {
    auto it = tokens_.find(std::string(token_hash));
    if (it == tokens_.end()) return std::optional<RefreshTokenRecord>{};
    return std::optional<RefreshTokenRecord>(it->second);
  }
  Result<bool> mark_refresh_token_used(std::string_view token_hash, std::int64_t at) override {
    auto it = tokens_.find(std::string(token_hash));
    if (it == tokens_.end() || it->second.used_at || it->second.revoked) return false;
    it->second.used_at = at;
    return true;
  }
  Result<void> revoke_refresh_family(std::string_view family_id) override {
    for (auto& [h, t] : tokens_) {
      if (t.family_id == family_id) t.revoked = true;
    }
    return {};
  }
  Result<void> revoke_user_refresh_tokens(std::string_view user_id) override {
    for (auto& [h, t] : tokens_) {
      if (t.user_id == user_id) t.revoked = true;
    }
    return {};
  }

  Result<LoginFailures> login_failures(std::string_view key) override {
    auto it = failures_.find(std::string(key));
    return it == failures_.end() ? LoginFailures{} : it->second;
  }
  Result<void> set_login_failures(std::string_view key, const LoginFailures& value) override {
    failures_[std::string(key)] = value;
    return {};
  }
  Result<void> clear_login_failures(std::string_view key) override {
    failures_.erase(std::string(key));
    return {};
  }

  Result<LoginFailures> bump_counter(std::string_view key, std::int64_t now,
                                    std::int64_t window_s) override {
    auto& f = failures_[std::string(key)];
    if (f.count == 0 || now - f.window_start >= window_s) f = {0, now};
    ++f.count;
    return f;
  }

  Result<void> append_audit(const AuditEntry& entry) override {
    audit_.push_back(entry);
    return {};
  }

  bool has_audit(std::string_view action) const {
    return std::any_of(audit_.begin(), audit_.end(),
                       [&](const AuditEntry& e) { return e.action == action; });
  }

  std::map<std::string, User> users_;
  std::map<std::pair<std::string, CodePurpose>, OneTimeCode> codes_;
  std::map<std::string, RefreshTokenRecord> tokens_;
  std::map<std::string, LoginFailures> failures_;
  std::vector<AuditEntry> audit_;

 private:
  static tl::unexpected<Error> conflict() {
    return fail(ErrorKind::kConflict, "UserAlreadyExists", "exists");
  }
};

}  // namespace sp::identity::test
