#include "smartproduct/store/settings_repository.hpp"

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using store::SettingRow;

Result<std::optional<SettingRow>> select_row(Connection& conn, std::string_view id) {
  auto s = conn.prepare(
      "SELECT setting_id, setting, created_at, updated_at FROM settings WHERE setting_id = ?1");
  if (!s) return forward(s);
  s->bind_all(id);
  auto row = s->step();
  if (!row) return forward(row);
  if (!*row) return std::optional<SettingRow>{};
  SettingRow out;
  out.setting_id = s->column<std::string>(0);
  // The column is CHECKed with json_valid(), so a parse failure means a corrupted file.
  out.setting = nlohmann::json::parse(s->column<std::string>(1), nullptr, false);
  if (out.setting.is_discarded()) {
    return store::fail(store::Failure::kCorrupt, "a stored setting is not valid JSON",
                       out.setting_id);
  }
  out.created_at_ms = s->column<std::int64_t>(2);
  out.updated_at_ms = s->column<std::int64_t>(3);
  return std::optional<SettingRow>(std::move(out));
}

class SqliteSettingsRepository final : public store::SettingsRepository {
 public:
  explicit SqliteSettingsRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::optional<SettingRow>> find(std::string_view setting_id) override {
    return db_->read([&](Connection& conn) { return select_row(conn, setting_id); });
  }

  Result<bool> insert_if_absent(std::string_view setting_id, const nlohmann::json& setting,
                                std::int64_t now_ms) override {
    return insert_row(
        "INSERT INTO settings (setting_id, setting, created_at, updated_at) "
        "VALUES (?1, ?2, ?3, ?3) ON CONFLICT (setting_id) DO NOTHING",
        setting_id, setting, now_ms);
  }

  Result<bool> insert_user_defaults(std::string_view user_id, const nlohmann::json& setting,
                                    std::int64_t now_ms) override {
    return insert_row(
        "INSERT INTO settings (setting_id, setting, created_at, updated_at) "
        "SELECT ?1, ?2, ?3, ?3 WHERE EXISTS (SELECT 1 FROM users WHERE id = ?1) "
        "ON CONFLICT (setting_id) DO NOTHING",
        user_id, setting, now_ms);
  }

  Result<std::optional<SettingRow>> replace(std::string_view setting_id,
                                            const nlohmann::json& setting,
                                            std::int64_t now_ms) override {
    std::optional<SettingRow> updated;
    auto r = db_->write([id = std::string(setting_id), text = setting.dump(), now_ms,
                         &updated](Connection& conn) -> Result<void> {
      auto e = conn.execute(
          "UPDATE settings SET setting = ?2, updated_at = max(?3, created_at) "
          "WHERE setting_id = ?1",
          id, text, now_ms);
      if (!e) return e;
      if (conn.changes() == 0) return {};
      // Read back inside the same job so the answer is exactly what was committed.
      auto row = select_row(conn, id);
      if (!row) return forward(row);
      updated = std::move(*row);
      return {};
    });
    if (!r) return forward(r);
    return updated;
  }

  Result<bool> remove(std::string_view setting_id) override {
    bool removed = false;
    auto r = db_->write([id = std::string(setting_id), &removed](Connection& conn) {
      auto e = conn.execute("DELETE FROM settings WHERE setting_id = ?1", id);
      if (e) removed = conn.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return removed;
  }

 private:
  // Runs an INSERT of (?1 id, ?2 setting text, ?3 time); true when it added the row.
  Result<bool> insert_row(const char* sql, std::string_view setting_id,
                          const nlohmann::json& setting, std::int64_t now_ms) {
    bool inserted = false;
    auto r = db_->write([sql, id = std::string(setting_id), text = setting.dump(), now_ms,
                         &inserted](Connection& conn) {
      auto e = conn.execute(sql, id, text, now_ms);
      if (e) inserted = conn.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return inserted;
  }

  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::SettingsRepository> make_settings_repository(
    std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteSettingsRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
