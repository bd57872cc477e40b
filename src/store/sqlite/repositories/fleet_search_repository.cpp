#include "smartproduct/store/fleet_search_repository.hpp"

#include <cmath>

#include "smartproduct/store/failure.hpp"
#include "store/sqlite/repositories/fleet_query_sql.hpp"
#include "store/sqlite/repositories/registration_rows.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/repositories/repository_helpers.hpp"

namespace sp::sqlite {
namespace {

using devices::query::Field;
using devices::query::Node;
using devices::query::Source;
using fleet::Sql;
using store::AggregateType;
using store::FleetAggregate;
using store::FleetPage;
using store::FleetScope;

// The live registrations in scope that match the query: "WHERE ..." over `registrations r`.
Sql scoped_where(const Node* query, const FleetScope& scope, const fleet::IsSparse& sparse) {
  Sql out;
  out.append(" WHERE r.status != 'deleted'");
  if (scope.user_id) {
    out.append(" AND r.user_id = ?");
    out.params.emplace_back(*scope.user_id);
  }
  if (query) {
    out.append(" AND ");
    out.append(fleet::predicate(*query, sparse));
  }
  return out;
}

Result<Statement> prepare(Connection& conn, const Sql& sql) {
  auto s = conn.prepare(sql.text);
  if (!s) return s;
  int index = 0;
  for (const auto& p : sql.params) {
    ++index;
    if (const auto* text = std::get_if<std::string>(&p)) {
      s->bind(index, *text);
    } else if (const auto* number = std::get_if<double>(&p)) {
      s->bind(index, *number);
    } else {
      s->bind(index, std::get<std::int64_t>(p));
    }
  }
  return s;
}

// Counts a term's devices up to `cap` on `conn`: below the cap the set is small enough to compute
// whole. An estimate that fails counts as small (the query then runs as if unestimated).
fleet::IsSparse estimator(Connection& conn, std::int64_t cap) {
  return [&conn, cap](const devices::query::Term& term) {
    Sql sql;
    sql.append("SELECT count(*) FROM (");
    sql.append(fleet::term_devices(term));
    sql.append(" LIMIT ?)");
    sql.params.emplace_back(cap);
    auto s = prepare(conn, sql);
    if (!s) return true;
    auto row = s->step();
    return !row || !*row || s->column<std::int64_t>(0) < cap;
  };
}

class SqliteFleetSearchRepository final : public store::FleetSearchRepository {
 public:
  SqliteFleetSearchRepository(std::shared_ptr<Database> db, std::int64_t sparse_rows)
      : db_(std::move(db)), sparse_rows_(sparse_rows) {}

  Result<FleetPage> search(const Node* query, const FleetScope& scope, int limit,
                           const std::optional<std::string>& after) override {
    if (limit < 1) {
      return store::fail(store::Failure::kInvalidArgument, "a page needs at least one row");
    }
    return db_->read([&](Connection& conn) -> Result<FleetPage> {
      Sql sql;
      sql.append(kDeviceSummarySelect);
      sql.append(scoped_where(query, scope, estimator(conn, sparse_rows_)));
      if (after) {
        sql.append(" AND r.device_id > ?");
        sql.params.emplace_back(*after);
      }
      // Device id order: the live-registration index gives it without a sort, and a matching
      // subquery's ephemeral index is in the same order.
      sql.append(" ORDER BY r.device_id LIMIT ?");
      sql.params.emplace_back(static_cast<std::int64_t>(limit) + 1);  // one more: another page?
      auto s = prepare(conn, sql);
      if (!s) return forward(s);
      FleetPage page;
      while (true) {
        auto row = s->step();
        if (!row) return forward(row);
        if (!*row) break;
        if (static_cast<int>(page.items.size()) == limit) {
          page.next_after = page.items.back().registration.device_id;
          break;
        }
        auto d = read_device_summary(*s);
        if (!d) return forward(d);
        page.items.push_back(std::move(*d));
      }
      return page;
    });
  }

  Result<FleetAggregate> aggregate(const Node* query, const FleetScope& scope, AggregateType type,
                                   const Field* field) override {
    if (type != AggregateType::kCount && field == nullptr) {
      return store::fail(store::Failure::kInvalidArgument, "stats and cardinality need a field");
    }
    return db_->read([&](Connection& conn) -> Result<FleetAggregate> {
      const Sql where = scoped_where(query, scope, estimator(conn, sparse_rows_));
      Sql sql;
      if (type == AggregateType::kCount) {
        sql.append("SELECT count(*) FROM registrations r");
        sql.append(where);
      } else if (field->source == Source::kIndexed) {
        // Drive from the field's values (index on path) and keep the devices that match.
        sql.append(type == AggregateType::kStats
                       ? "SELECT count(f.num), sum(f.num), min(f.num), max(f.num), "
                         "sum(f.num * f.num) FROM fleet_index f WHERE f.path = ? AND f.num IS NOT "
                         "NULL"
                       : "SELECT count(DISTINCT coalesce(f.str, f.num)) FROM fleet_index f "
                         "WHERE f.path = ?");
        sql.params.emplace_back(fleet::index_path(*field));
        sql.append(" AND f.device_id IN (SELECT r.device_id FROM registrations r");
        sql.append(where);
        sql.append(")");
      } else if (type == AggregateType::kStats) {
        return store::fail(store::Failure::kInvalidArgument, "stats need a numeric field");
      } else if (field->source == Source::kConnected) {
        sql.append(
            "SELECT count(DISTINCT coalesce(p.connected, 0)) FROM registrations r "
            "LEFT JOIN device_presence p ON p.device_id = r.device_id");
        sql.append(where);
      } else {
        sql.append("SELECT count(DISTINCT ");
        sql.append(fleet::column_of(field->source));
        sql.append(") FROM registrations r");
        sql.append(where);
      }
      auto s = prepare(conn, sql);
      if (!s) return forward(s);
      auto row = s->step();
      if (!row) return forward(row);
      FleetAggregate out;
      if (!*row) return out;
      if (type == AggregateType::kCount) {
        out.count = s->column<std::int64_t>(0);
      } else if (type == AggregateType::kCardinality) {
        out.cardinality = s->column<std::int64_t>(0);
      } else {
        out.count = s->column<std::int64_t>(0);
        if (out.count > 0) {
          const double n = static_cast<double>(out.count);
          out.sum = s->column<double>(1);
          out.minimum = s->column<double>(2);
          out.maximum = s->column<double>(3);
          out.sum_of_squares = s->column<double>(4);
          out.average = *out.sum / n;
          // Population variance, as AWS's GetStatistics; never negative from rounding.
          out.variance = std::max(0.0, *out.sum_of_squares / n - *out.average * *out.average);
          out.std_deviation = std::sqrt(*out.variance);
        }
      }
      return out;
    });
  }

 private:
  std::shared_ptr<Database> db_;
  std::int64_t sparse_rows_;
};

}  // namespace

std::unique_ptr<store::FleetSearchRepository> make_fleet_search_repository(
    std::shared_ptr<Database> main_db, std::int64_t sparse_rows) {
  return std::make_unique<SqliteFleetSearchRepository>(std::move(main_db), sparse_rows);
}

}  // namespace sp::sqlite
