#include "smartproduct/store/shadow_repository.hpp"

#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"
#include "store/sqlite/repositories/shadow_rows.hpp"

namespace sp::sqlite {
namespace {

using store::ShadowRecord;
using store::ShadowStamp;

class SqliteShadowRepository final : public store::ShadowRepository {
 public:
  explicit SqliteShadowRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::optional<ShadowRecord>> load(std::string_view device_id) override {
    return db_->read([&](Connection& conn) { return select_shadow_row(conn, device_id); });
  }

  Result<bool> save(const ShadowRecord& record,
                    const std::optional<ShadowStamp>& expected) override {
    bool won = false;
    // A writer that loaded an older row changes nothing and learns it lost, instead of
    // overwriting the winner (no check-then-write window).
    auto r = db_->write([&record, &expected, &won](Connection& conn) -> Result<void> {
      auto saved = write_shadow_row(conn, record, expected);
      if (!saved) return forward(saved);
      won = *saved;
      return {};
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
