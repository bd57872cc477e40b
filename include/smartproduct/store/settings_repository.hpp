#pragma once
// Storage of the settings module: the seed's Settings table. A row is keyed by settingId (a user
// id, or a well-known id such as "app-config") and holds one JSON document. Times: epoch ms.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"

namespace sp::store {

struct SettingRow {
  std::string setting_id;
  nlohmann::json setting;
  std::int64_t created_at_ms = 0;
  std::int64_t updated_at_ms = 0;
};

class SettingsRepository {
 public:
  virtual ~SettingsRepository() = default;

  virtual Result<std::optional<SettingRow>> find(std::string_view setting_id) = 0;
  /// Inserts the row unless one exists with this id (then nothing changes). Returns true if it
  /// inserted.
  virtual Result<bool> insert_if_absent(std::string_view setting_id, const nlohmann::json& setting,
                                        std::int64_t now_ms) = 0;
  /// insert_if_absent for a user's own settings row, but only while the user exists: the
  /// defaults are created from the bus after the user verified, and a user deleted meanwhile must
  /// not get a row back.
  virtual Result<bool> insert_user_defaults(std::string_view user_id, const nlohmann::json& setting,
                                            std::int64_t now_ms) = 0;
  /// Replaces `setting` and updated_at of an existing row; returns the updated row, or nullopt if
  /// there is no row with this id.
  virtual Result<std::optional<SettingRow>> replace(std::string_view setting_id,
                                                    const nlohmann::json& setting,
                                                    std::int64_t now_ms) = 0;
  /// Returns false if there was no such row.
  virtual Result<bool> remove(std::string_view setting_id) = 0;
};

}  // namespace sp::store
