#include "smartproduct/store/catalog_repository.hpp"

#include <algorithm>

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using store::CatalogEntry;
using store::CatalogKey;
using store::CatalogPage;

constexpr const char* kColumns =
    "device_id, model_number, details, claim_code_hash, created_at, updated_at, ca_id";

Result<CatalogEntry> read_row(const Statement& s) {
  CatalogEntry e;
  e.device_id = s.column<std::string>(0);
  e.model_number = s.column<std::string>(1);
  // The column is CHECKed with json_valid(), so a parse failure means a corrupted file.
  e.details = nlohmann::json::parse(s.column<std::string>(2), nullptr, false);
  if (e.details.is_discarded()) {
    return store::fail(store::Failure::kCorrupt, "a stored catalog entry is not valid JSON",
                       e.device_id + " / " + e.model_number);
  }
  e.claim_code_hash = s.column<std::optional<std::string>>(3);
  e.created_at_ms = s.column<std::int64_t>(4);
  e.updated_at_ms = s.column<std::int64_t>(5);
  e.ca_id = s.column<std::optional<std::string>>(6);
  return e;
}

// The broker plugin pre-authorizes registered serials unless the catalog binds them to a CA
// (ca_repository's broker_state). A write that binds serials bumps the revision the daemon polls,
// so the plugin's state is resent within a poll interval, whether the daemon or the CLI wrote.
Result<void> bump_broker_state_revision(Connection& conn) {
  return conn.execute("UPDATE broker_state_revision SET revision = revision + 1 WHERE id = 1");
}

class SqliteCatalogRepository final : public store::CatalogRepository {
 public:
  explicit SqliteCatalogRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  Result<std::optional<CatalogEntry>> find(std::string_view device_id,
                                           std::string_view model_number) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<CatalogEntry>> {
      auto s = conn.prepare(std::string("SELECT ") + kColumns +
                            " FROM catalog WHERE device_id = ?1 AND model_number = ?2");
      if (!s) return forward(s);
      s->bind_all(device_id, model_number);
      auto row = s->step();
      if (!row) return forward(row);
      if (!*row) return std::optional<CatalogEntry>{};
      auto e = read_row(*s);
      if (!e) return forward(e);
      return std::optional<CatalogEntry>(std::move(*e));
    });
  }

  Result<store::CatalogBinding> binding(std::string_view device_id) override {
    return db_->read([&](Connection& conn) -> Result<store::CatalogBinding> {
      auto s = conn.prepare("SELECT DISTINCT ca_id FROM catalog WHERE device_id = ?1 ORDER BY 1");
      if (!s) return forward(s);
      s->bind_all(device_id);
      // A serial listed under two model numbers, one row bound and one not, is bound: a binding
      // is a restriction, and an unbound row does not lift another row's.
      store::CatalogBinding out;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        out.listed = true;
        if (auto ca = s->column<std::optional<std::string>>(0))
          out.ca_ids.push_back(std::move(*ca));
      }
      return out;
    });
  }

  Result<bool> ca_bindable(std::string_view ca_id) override {
    return db_->read([&](Connection& conn) -> Result<bool> {
      auto s = conn.prepare(
          "SELECT 1 FROM certificate_authorities WHERE id = ?1 AND status != 'DEREGISTERED'");
      if (!s) return forward(s);
      s->bind_all(ca_id);
      auto row = s->step();
      if (!row) return forward(row);
      return *row;
    });
  }

  Result<bool> insert(const CatalogEntry& entry) override {
    bool inserted = false;
    auto r = db_->write([&entry, details = entry.details.dump(), &inserted](Connection& conn) {
      auto e = conn.execute(
          "INSERT INTO catalog (device_id, model_number, details, claim_code_hash, created_at, "
          "updated_at, ca_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) "
          "ON CONFLICT (device_id, model_number) DO NOTHING",
          entry.device_id, entry.model_number, details, entry.claim_code_hash, entry.created_at_ms,
          entry.updated_at_ms, entry.ca_id);
      if (!e) return e;
      inserted = conn.changes() > 0;
      if (inserted && entry.ca_id) return bump_broker_state_revision(conn);
      return e;
    });
    if (!r) return forward(r);
    return inserted;
  }

  Result<bool> remove(std::string_view device_id, std::string_view model_number) override {
    bool removed = false;
    auto r = db_->write([d = std::string(device_id), m = std::string(model_number),
                         &removed](Connection& conn) {
      auto e = conn.execute("DELETE FROM catalog WHERE device_id = ?1 AND model_number = ?2", d, m);
      if (e) removed = conn.changes() > 0;
      return e;
    });
    if (!r) return forward(r);
    return removed;
  }

  Result<CatalogPage> list(int limit, const std::optional<std::string>& model_number,
                           const std::optional<CatalogKey>& after) override {
    return db_->read([&](Connection& conn) -> Result<CatalogPage> {
      // Row-value comparison keeps the page query on the primary key (or the model index).
      std::string sql = std::string("SELECT ") + kColumns + " FROM catalog WHERE 1";
      if (model_number) sql += " AND model_number = ?1";
      if (after) sql += " AND (device_id, model_number) > (?2, ?3)";
      sql += " ORDER BY device_id, model_number LIMIT ?4";
      auto s = conn.prepare(sql);
      if (!s) return forward(s);
      if (model_number) s->bind(1, *model_number);
      if (after) s->bind(2, after->device_id).bind(3, after->model_number);
      s->bind(4, limit + 1);  // one extra row tells whether another page exists
      CatalogPage page;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        if (static_cast<int>(page.items.size()) == limit) {
          const auto& last = page.items.back();
          page.next = CatalogKey{last.device_id, last.model_number};
          break;
        }
        auto e = read_row(*s);
        if (!e) return forward(e);
        page.items.push_back(std::move(*e));
      }
      return page;
    });
  }

  Result<store::ImportCounts> import(const std::vector<CatalogEntry>& entries,
                                     store::ExistingEntries existing,
                                     const store::ImportProgress& progress) override {
    store::ImportCounts counts;
    // One write job = one transaction; the statements are prepared once for all rows.
    auto r = db_->write([&](Connection& conn) -> Result<void> {
      auto ins = conn.prepare(
          "INSERT INTO catalog (device_id, model_number, details, claim_code_hash, created_at, "
          "updated_at, ca_id) VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6) "
          "ON CONFLICT (device_id, model_number) DO NOTHING");
      if (!ins) return forward(ins);
      auto upd = conn.prepare(
          "UPDATE catalog SET details = ?3, claim_code_hash = ?4, updated_at = max(?5, "
          "created_at), "
          "ca_id = ?6 WHERE device_id = ?1 AND model_number = ?2");
      if (!upd) return forward(upd);
      counts = {};
      const std::size_t step = std::max<std::size_t>(1, entries.size() / 100);
      for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& e = entries[i];
        const std::string details = e.details.dump();
        ins->reset().bind_all(e.device_id, e.model_number, details, e.claim_code_hash,
                              e.updated_at_ms, e.ca_id);
        if (auto x = ins->run(); !x) return x;
        if (conn.changes() > 0) {
          ++counts.inserted;
        } else if (existing == store::ExistingEntries::kReplace) {
          upd->reset().bind_all(e.device_id, e.model_number, details, e.claim_code_hash,
                                e.updated_at_ms, e.ca_id);
          if (auto x = upd->run(); !x) return x;
          ++counts.replaced;
        } else {
          ++counts.skipped;
        }
        if (progress && ((i + 1) % step == 0 || i + 1 == entries.size())) {
          progress(i + 1, entries.size());
        }
      }
      // Replacing may also unbind; a resend is harmless then and keeps one rule.
      const bool binds = std::any_of(entries.begin(), entries.end(),
                                     [](const CatalogEntry& e) { return e.ca_id.has_value(); });
      if (binds || (existing == store::ExistingEntries::kReplace && counts.replaced > 0)) {
        return bump_broker_state_revision(conn);
      }
      return {};
    });
    if (!r) return forward(r);
    return counts;
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::CatalogRepository> make_catalog_repository(
    std::shared_ptr<Database> main_db) {
  return std::make_unique<SqliteCatalogRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
