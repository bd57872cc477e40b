#include "store/sqlite/repositories/shadow_rows.hpp"

#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {

Result<std::optional<store::ShadowRecord>> select_shadow_row(Connection& conn,
                                                             std::string_view device_id) {
  auto s = conn.prepare(
      "SELECT device_id, state, metadata, version, updated_at, deleted FROM shadows "
      "WHERE device_id = ?1");
  if (!s) return forward(s);
  s->bind_all(device_id);
  auto row = s->step();
  if (!row) return forward(row);
  if (!*row) return std::optional<store::ShadowRecord>{};
  store::ShadowRecord out;
  out.device_id = s->column<std::string>(0);
  // Both columns are CHECKed with json_valid(), so a parse failure means a corrupted file.
  out.state = nlohmann::json::parse(s->column<std::string>(1), nullptr, false);
  out.metadata = nlohmann::json::parse(s->column<std::string>(2), nullptr, false);
  if (!out.state.is_object() || !out.metadata.is_object()) {
    return fail(ErrorKind::kInternal, "ShadowCorrupted", "The stored shadow is not valid JSON.",
                "device " + out.device_id);
  }
  out.version = s->column<std::int64_t>(3);
  out.updated_at_s = s->column<std::int64_t>(4);
  out.deleted = s->column<bool>(5);
  return std::optional<store::ShadowRecord>(std::move(out));
}

Result<bool> write_shadow_row(Connection& conn, const store::ShadowRecord& record,
                              const std::optional<store::ShadowStamp>& expected) {
  const std::string state = record.state.dump();
  const std::string metadata = record.metadata.dump();
  const int deleted = record.deleted ? 1 : 0;
  Result<void> e;
  if (!expected) {
    e = conn.execute(
        "INSERT INTO shadows (device_id, state, metadata, version, updated_at, deleted) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (device_id) DO NOTHING",
        record.device_id, state, metadata, record.version, record.updated_at_s, deleted);
  } else {
    e = conn.execute(
        "UPDATE shadows SET state = ?2, metadata = ?3, version = ?4, updated_at = ?5, "
        "deleted = ?6 WHERE device_id = ?1 AND version = ?7 AND deleted = ?8",
        record.device_id, state, metadata, record.version, record.updated_at_s, deleted,
        expected->version, expected->deleted ? 1 : 0);
  }
  if (!e) return forward(e);
  return conn.changes() > 0;
}

}  // namespace sp::sqlite
