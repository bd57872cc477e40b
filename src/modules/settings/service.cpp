#include "smartproduct/settings/service.hpp"

#include <set>

#include "smartproduct/http/errors.hpp"

namespace sp::settings {
namespace {

tl::unexpected<Error> invalid(std::string message) {
  return fail(errors::kInvalidSetting, std::move(message));
}

}  // namespace

nlohmann::json default_user_setting() {
  return {{"alertLevel", {"error", "warning"}}, {"sendNotification", false}};
}

Result<nlohmann::json> validate_user_setting(const nlohmann::json& setting) {
  static const std::set<std::string, std::less<>> kLevels = {"error", "warning", "info",
                                                             "diagnostic"};
  if (!setting.is_object()) return invalid("The setting must be a JSON object.");
  const auto levels = setting.find("alertLevel");
  if (levels == setting.end() || !levels->is_array()) {
    return invalid("alertLevel must be an array of error, warning, info, diagnostic.");
  }
  nlohmann::json out_levels = nlohmann::json::array();
  std::set<std::string> seen;
  for (const auto& level : *levels) {
    if (!level.is_string() || !kLevels.count(level.get_ref<const std::string&>())) {
      return invalid("alertLevel may contain only error, warning, info and diagnostic.");
    }
    // Duplicates are harmless to readers but would grow the row on every round trip.
    if (seen.insert(level.get<std::string>()).second) out_levels.push_back(level);
  }
  const auto notify = setting.find("sendNotification");
  if (notify == setting.end() || !notify->is_boolean()) {
    return invalid("sendNotification must be true or false.");
  }
  return nlohmann::json{{"alertLevel", std::move(out_levels)}, {"sendNotification", *notify}};
}

SettingsService::SettingsService(store::SettingsRepository& repo, const Clock& clock)
    : repo_(repo), clock_(clock) {}

namespace {

// Owners and admins pass; the check comes before the lookup so that a non-admin cannot probe
// which ids exist (always 403 for someone else's id).
Result<void> authorize(const Caller& caller, std::string_view setting_id) {
  if (caller.admin || (!caller.user_id.empty() && caller.user_id == setting_id)) return {};
  return fail(errors::kForbidden, "You may only access your own settings.");
}

tl::unexpected<Error> missing(std::string_view id) {
  return fail(errors::kMissingSetting, "The setting " + std::string(id) + " does not exist.");
}

}  // namespace

Result<store::SettingRow> SettingsService::get(const Caller& caller, std::string_view setting_id) {
  if (auto r = authorize(caller, setting_id); !r) return tl::unexpected(r.error());
  auto row = repo_.find(setting_id);
  if (!row) return tl::unexpected(row.error());
  if (!*row) return missing(setting_id);
  return std::move(**row);
}

Result<store::SettingRow> SettingsService::put(const Caller& caller, std::string_view setting_id,
                                               const nlohmann::json& setting) {
  if (auto r = authorize(caller, setting_id); !r) return tl::unexpected(r.error());
  nlohmann::json value;
  if (setting_id == kAppConfigId) {
    if (!setting.is_object()) return invalid("The setting must be a JSON object.");
    value = setting;
  } else {
    auto checked = validate_user_setting(setting);
    if (!checked) return tl::unexpected(checked.error());
    value = std::move(*checked);
  }
  auto row = repo_.replace(setting_id, value, clock_.now_ms());
  if (!row) return tl::unexpected(row.error());
  if (!*row) return missing(setting_id);
  return std::move(**row);
}

Result<void> SettingsService::ensure_user_defaults(std::string_view user_id) {
  auto r = repo_.insert_user_defaults(user_id, default_user_setting(), clock_.now_ms());
  if (!r) return tl::unexpected(r.error());
  return {};
}

nlohmann::json to_json(const store::SettingRow& row) {
  return {{"settingId", row.setting_id},
          {"setting", row.setting},
          {"createdAt", iso8601_ms(row.created_at_ms)},
          {"updatedAt", iso8601_ms(row.updated_at_ms)}};
}

}  // namespace sp::settings
