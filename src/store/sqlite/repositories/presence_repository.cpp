#include "smartproduct/store/presence_repository.hpp"

#include "store/sqlite/repositories/repositories.hpp"

namespace sp::sqlite {
namespace {

using presence::ConnectionEvent;
using presence::PresenceState;

class SqlitePresenceRepository final : public store::PresenceRepository {
 public:
  explicit SqlitePresenceRepository(std::shared_ptr<Database> db) : db_(std::move(db)) {}

  void apply(ConnectionEvent e, Done done) override {
    db_->write_async(
        [e = std::move(e)](Connection& conn) -> Result<void> {
          auto history = conn.execute(
              "INSERT INTO presence_history (device_id, event, client_id, cert_fingerprint, "
              "issuer, serial, address, protocol_version, broker_epoch, conn_seq, at, reason) "
              "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
              e.device_id, std::string(presence::to_string(e.kind)), e.client_id,
              e.cert_fingerprint, e.issuer, e.serial, e.address, e.protocol_version, e.broker_epoch,
              e.conn_seq, e.at_ms, e.reason);
          if (!history) return history;
          switch (e.kind) {
            case ConnectionEvent::Kind::kConnected:
              // Newer (epoch, seq) wins; a replayed older `connected` changes nothing.
              return conn.execute(
                  "INSERT INTO device_presence (device_id, connected, since, last_seen, address, "
                  "broker_epoch, conn_seq, cert_fingerprint) VALUES (?1, 1, ?2, ?2, ?3, ?4, ?5, "
                  "?6) "
                  "ON CONFLICT (device_id) DO UPDATE SET connected = 1, since = excluded.since, "
                  "last_seen = max(last_seen, excluded.last_seen), address = excluded.address, "
                  "broker_epoch = excluded.broker_epoch, conn_seq = excluded.conn_seq, "
                  "cert_fingerprint = excluded.cert_fingerprint "
                  "WHERE (excluded.broker_epoch, excluded.conn_seq) > (broker_epoch, conn_seq)",
                  e.device_id, e.at_ms, e.address, e.broker_epoch, e.conn_seq, e.cert_fingerprint);
            case ConnectionEvent::Kind::kDisconnected:
              return conn.execute(
                  "UPDATE device_presence SET connected = 0, since = ?2, "
                  "last_seen = max(last_seen, ?2) "
                  "WHERE device_id = ?1 AND broker_epoch = ?3 AND conn_seq = ?4 AND connected = 1",
                  e.device_id, e.at_ms, e.broker_epoch, e.conn_seq);
            case ConnectionEvent::Kind::kRejected:
              return {};
          }
          return {};
        },
        std::move(done));
  }

  void broker_restarted(int64_t epoch, int64_t at_ms, Done done) override {
    db_->write_async(
        [epoch, at_ms](Connection& conn) -> Result<void> {
          auto r = conn.execute(
              "UPDATE device_presence SET connected = 0, since = ?2 "
              "WHERE connected = 1 AND broker_epoch < ?1",
              epoch, at_ms);
          if (!r) return r;
          return conn.execute(
              "INSERT INTO instance_meta (key, value) VALUES ('broker_epoch', ?1) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
              std::to_string(epoch));
        },
        std::move(done));
  }

  Result<std::optional<int64_t>> broker_epoch() override {
    return db_->read([](Connection& conn) -> Result<std::optional<int64_t>> {
      auto v = conn.query_value<std::string>(
          "SELECT value FROM instance_meta WHERE key = 'broker_epoch'");
      if (!v) return tl::unexpected(v.error());
      if (!*v) return std::optional<int64_t>{};
      return std::optional<int64_t>{std::stoll(**v)};
    });
  }

  Result<std::optional<PresenceState>> state(const std::string& device_id) override {
    return db_->read([&](Connection& conn) -> Result<std::optional<PresenceState>> {
      auto stmt = conn.prepare(
          "SELECT device_id, connected, since, last_seen, address, broker_epoch, conn_seq, "
          "cert_fingerprint FROM device_presence WHERE device_id = ?1");
      if (!stmt) return tl::unexpected(stmt.error());
      stmt->bind_all(device_id);
      auto row = stmt->step();
      if (!row) return tl::unexpected(row.error());
      if (!*row) return std::optional<PresenceState>{};
      PresenceState s;
      s.device_id = stmt->column<std::string>(0);
      s.connected = stmt->column<bool>(1);
      s.since_ms = stmt->column<int64_t>(2);
      s.last_seen_ms = stmt->column<int64_t>(3);
      s.address = stmt->column<std::string>(4);
      s.broker_epoch = stmt->column<int64_t>(5);
      s.conn_seq = stmt->column<int64_t>(6);
      s.cert_fingerprint = stmt->column<std::string>(7);
      return std::optional<PresenceState>{std::move(s)};
    });
  }

  Result<std::vector<ConnectionEvent>> history(const std::string& device_id, int limit) override {
    return db_->read([&](Connection& conn) -> Result<std::vector<ConnectionEvent>> {
      auto stmt = conn.prepare(
          "SELECT event, client_id, cert_fingerprint, issuer, serial, address, protocol_version, "
          "broker_epoch, conn_seq, at, reason FROM presence_history WHERE device_id = ?1 "
          "ORDER BY id DESC LIMIT ?2");
      if (!stmt) return tl::unexpected(stmt.error());
      stmt->bind_all(device_id, limit);
      std::vector<ConnectionEvent> out;
      for (;;) {
        auto row = stmt->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        ConnectionEvent e;
        auto kind = stmt->column<std::string>(0);
        e.kind = kind == "connected"      ? ConnectionEvent::Kind::kConnected
                 : kind == "disconnected" ? ConnectionEvent::Kind::kDisconnected
                                          : ConnectionEvent::Kind::kRejected;
        e.device_id = device_id;
        e.client_id = stmt->column<std::string>(1);
        e.cert_fingerprint = stmt->column<std::string>(2);
        e.issuer = stmt->column<std::string>(3);
        e.serial = stmt->column<std::string>(4);
        e.address = stmt->column<std::string>(5);
        e.protocol_version = stmt->column<int>(6);
        e.broker_epoch = stmt->column<int64_t>(7);
        e.conn_seq = stmt->column<int64_t>(8);
        e.at_ms = stmt->column<int64_t>(9);
        e.reason = stmt->column<std::string>(10);
        out.push_back(std::move(e));
      }
      return out;
    });
  }

  Result<int64_t> connected_count() override {
    return db_->read([](Connection& conn) -> Result<int64_t> {
      auto v =
          conn.query_value<int64_t>("SELECT count(*) FROM device_presence WHERE connected = 1");
      if (!v) return tl::unexpected(v.error());
      return v->value_or(0);
    });
  }

 private:
  std::shared_ptr<Database> db_;
};

}  // namespace

std::unique_ptr<store::PresenceRepository> make_presence_repository(
    std::shared_ptr<Database> main_db) {
  return std::make_unique<SqlitePresenceRepository>(std::move(main_db));
}

}  // namespace sp::sqlite
