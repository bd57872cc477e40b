#include "smartproduct/store/shadow_repository.hpp"

#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using store::ShadowRecord;
using store::ShadowStamp;

Result<std::optional<ShadowRecord>> select_row(Connection& conn, std::string_view device_id) {
  auto s = conn.prepare(
      "SELECT device_id, state, metadata, version, updated_at, deleted FROM shadows "
      "WHERE device_id = ?1");
  if (!s) return forward(s);
  s->bind_all(device_id);
  auto row = s->step();
  if (!row) return forward(row);
  if (!*row) return std::optional<ShadowRecord>{};
  ShadowRecord out;
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
  return std::optional<ShadowRecord>(std::move(out));
}

class SqliteShadowRepository final : public store::ShadowRepository {
 public:
  explicit SqliteShadowRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::optional<ShadowRecord>> load(std::string_view device_id) override {
    return db_->read([&](Connection& conn) { return select_row(conn, device_id); });
  }

  Result<bool> save(const ShadowRecord& record,
                    const std::optional<ShadowStamp>& expected) override {
    bool won = false;
    auto r = db_->write([id = record.device_id, state = record.state.dump(),
                         metadata = record.metadata.dump(), version = record.version,
                         at = record.updated_at_s, deleted = record.deleted, expected,
                         &won](Connection& conn) -> Result<void> {
      // The single writer runs this statement atomically, and its WHERE (or ON CONFLICT) is the
      // compare: a writer that loaded an older row changes nothing and learns it lost, instead of
      // overwriting the winner (no check-then-write window).
      Result<void> e;
      if (!expected) {
        e = conn.execute(
            "INSERT INTO shadows (device_id, state, metadata, version, updated_at, deleted) "
            "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (device_id) DO NOTHING",
            id, state, metadata, version, at, deleted ? 1 : 0);
      } else {
        e = conn.execute(
            "UPDATE shadows SET state = ?2, metadata = ?3, version = ?4, updated_at = ?5, "
            "deleted = ?6 WHERE device_id = ?1 AND version = ?7 AND deleted = ?8",
            id, state, metadata, version, at, deleted ? 1 : 0, expected->version,
            expected->deleted ? 1 : 0);
      }
      if (e) won = conn.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return won;
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::ShadowRepository> make_shadow_repository(std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteShadowRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
