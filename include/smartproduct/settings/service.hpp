#pragma once
// The settings module: the seed's Settings rows (GET/PUT /api/admin/settings/config/{settingId}),
// with real authorisation: a user reads and writes only the row whose settingId is their own user
// id; admins any row, including "app-config". No HTTP, no SQL.
//
// Error names: Forbidden (403), MissingSetting (404), InvalidSetting (422).

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/result.hpp"
#include "smartproduct/store/settings_repository.hpp"

namespace sp::settings {

inline constexpr std::string_view kAppConfigId = "app-config";

/// {"alertLevel":["error","warning"],"sendNotification":false}, the seed's per-user default.
nlohmann::json default_user_setting();

/// Validates a per-user setting: an object with "alertLevel" (array of distinct strings drawn from
/// error, warning, info, diagnostic) and "sendNotification" (boolean). Returns the normalized
/// setting (known keys only); kUnprocessable "InvalidSetting" otherwise.
Result<nlohmann::json> validate_user_setting(const nlohmann::json& setting);

/// Who is asking.
struct Caller {
  std::string user_id;
  bool admin = false;
};

class SettingsService {
 public:
  /// Both must outlive the service.
  SettingsService(store::SettingsRepository& repo, const Clock& clock);

  Result<store::SettingRow> get(const Caller& caller, std::string_view setting_id);
  /// Replaces the row's setting. User rows are validated as above; other rows (admins only) take
  /// any JSON object.
  Result<store::SettingRow> put(const Caller& caller, std::string_view setting_id,
                                const nlohmann::json& setting);
  /// Creates the defaults row for a newly verified user (no-op when it exists).
  Result<void> ensure_user_defaults(std::string_view user_id);

 private:
  store::SettingsRepository& repo_;
  const Clock& clock_;
};

/// {"settingId","setting","createdAt","updatedAt"} with ISO-8601 times.
nlohmann::json to_json(const store::SettingRow& row);

}  // namespace sp::settings
