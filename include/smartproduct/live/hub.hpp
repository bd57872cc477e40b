#pragma once
// Live updates: the hub between the event bus and the console's WebSocket connections. It knows
// nothing of the transport (a Peer queues a text message or closes) nor of the bus (the module
// maps domain events onto publish_device / publish_telemetry / publish_user).
//
// Rules it enforces:
//  - a connection must authenticate with its access token as the first message within
//    auth_timeout, else it is closed (kCloseUnauthenticated); it is closed at the token's expiry
//    (kCloseTokenExpired) unless it sent a newer token of the same user before;
//  - a device's messages go to its owner's connections and to admins' connections only;
//    telemetry only to connections that subscribed to the device (ownership checked on subscribe
//    and again on every push, so a device that changes hands stops reaching its old owner);
//  - limits: connections in total (open() refuses), per user (at auth), subscriptions per
//    connection, client messages waiting to be handled per connection;
//  - publishing never blocks on a client: Peer::send only queues (a full queue closes that peer),
//    and the message is serialised once for all its recipients.
// Client messages are handled on the executor given to the hub (the module's worker thread), never
// on the transport's I/O thread: authentication reads the user row.

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/result.hpp"

namespace sp::telemetry {
class TelemetryWatch;
}

namespace sp::live {

/// [live] settings.
struct LiveConfig {
  bool enabled = true;
  std::size_t max_connections = 1000;         // in total; more are refused with 429
  std::size_t max_connections_per_user = 10;  // more are closed at auth (kCloseTooManyConnections)
  std::size_t queue_messages = 256;           // outgoing messages queued per connection
  std::size_t max_message_bytes = 4096;       // a client message (the token is the largest)
  std::size_t max_subscriptions = 50;         // telemetry subscriptions per connection
  std::size_t max_pending_messages = 32;      // client messages not yet handled per connection
  std::chrono::seconds auth_timeout{5};
  std::chrono::seconds idle_timeout{30};  // no frame from the client: closed (pings at half)
  std::chrono::milliseconds close_grace{2000};
  std::size_t socket_send_buffer = 0;  // SO_SNDBUF of upgraded sockets (0: kernel default)
};

/// Close codes of /api/ws (besides the transport's 1001 going away, 1009 too big, 4008 too slow).
inline constexpr std::uint16_t kCloseUnauthenticated = 4001;
inline constexpr std::uint16_t kCloseTokenExpired = 4002;
inline constexpr std::uint16_t kCloseForbidden = 4003;  // re-auth as another user
inline constexpr std::uint16_t kCloseFlooding = 4009;   // too many client messages pending
inline constexpr std::uint16_t kCloseTooManyConnections = 4029;

/// The hub's view of one client connection (implemented over the WebSocket transport).
class Peer {
 public:
  virtual ~Peer() = default;
  /// Queues a message; never blocks, never calls back into the hub. False when refused.
  virtual bool send(std::shared_ptr<const std::string> text) = 0;
  virtual void close(std::uint16_t code, std::string reason) = 0;
};

/// Who a valid access token belongs to.
struct Identity {
  std::string user_id;
  bool admin = false;
  std::int64_t expires_at_ms = 0;
};

using Authenticate = std::function<Result<Identity>(std::string_view token)>;
/// The owner (user id) of a device's live registration; nullopt when none. May read the store.
using OwnerLookup = std::function<std::optional<std::string>(const std::string& device_id)>;
/// Runs work off the caller's thread, in order (tests pass one that runs at once).
using Executor = std::function<void(std::function<void()>)>;

class Hub {
 public:
  class Connection;

  /// `watch` (nullable) learns which devices' telemetry is subscribed.
  Hub(LiveConfig config, const Clock& clock, Authenticate authenticate, OwnerLookup owner_lookup,
      Executor executor, telemetry::TelemetryWatch* watch);
  ~Hub();
  Hub(const Hub&) = delete;
  Hub& operator=(const Hub&) = delete;

  /// A new client, not yet authenticated. Fails with TooManyConnections at max_connections.
  Result<std::shared_ptr<Connection>> open(std::shared_ptr<Peer> peer);

  /// To the device's owner and to admins (connectivity, events, shadow, commands).
  void publish_device(const std::string& device_id, const nlohmann::json& message);
  /// To connections subscribed to the device and still entitled to it.
  void publish_telemetry(const std::string& device_id, const nlohmann::json& message);
  /// To one user's connections (e.g. alert counts).
  void publish_user(const std::string& user_id, const nlohmann::json& message);
  /// To every authenticated connection: `{"type":"resync"}` after the bus dropped events for the
  /// live lane, so consoles reload from the API what they may have missed.
  void publish_all(const nlohmann::json& message);

  /// Owner cache upkeep (DeviceRegistered / DeviceDeleted).
  void device_registered(const std::string& device_id, const std::string& user_id);
  void device_deleted(const std::string& device_id);

  /// Closes connections past their auth deadline or token expiry. Call about every 250 ms.
  void tick();
  /// Closes every connection (shutdown).
  void close_all(std::uint16_t code, std::string reason);

  struct Stats {
    std::size_t connections = 0;
    std::size_t authenticated = 0;
    std::size_t subscriptions = 0;
    std::uint64_t pushed = 0;         // messages queued to clients
    std::uint64_t refused = 0;        // messages a full queue refused (that client was closed)
    std::uint64_t rejected_auth = 0;  // bad or missing tokens, auth timeouts
    std::uint64_t expired = 0;        // closed at token expiry
    std::uint64_t refused_connections = 0;
    std::uint64_t owner_lookups = 0;  // owner cache misses that read the store
    std::uint64_t owner_hits = 0;
  };
  Stats stats() const;

  /// The protocol of one connection; the transport forwards its calls here.
  class Connection : public std::enable_shared_from_this<Connection> {
   public:
    ~Connection();
    /// A text message from the client (any thread; handled on the hub's executor).
    void on_text(std::string_view text);
    /// The transport closed (once).
    void on_closed();

   private:
    friend class Hub;
    Connection(Hub& hub, std::shared_ptr<Peer> peer, std::int64_t opened_at_ms);
    Hub& hub_;
    std::shared_ptr<Peer> peer_;
    // Guarded by the hub's mutex.
    std::int64_t opened_at_ms_;
    bool authenticated_ = false;
    bool closing_ = false;
    std::string user_id_;
    bool admin_ = false;
    std::int64_t expires_at_ms_ = 0;
    std::unordered_set<std::string> subscriptions_;
    std::atomic<std::size_t> pending_{0};
  };

 private:
  void handle(const std::shared_ptr<Connection>& c, const std::string& text);
  void handle_auth(const std::shared_ptr<Connection>& c, const nlohmann::json& m);
  void handle_subscribe(const std::shared_ptr<Connection>& c, const nlohmann::json& m, bool on);
  void reply(Connection& c, const nlohmann::json& message);
  void reply_error(Connection& c, const Error& error);
  /// Under unique lock: no more pushes; the peer is asked to close.
  void close_locked(Connection& c, std::uint16_t code, std::string reason);
  void forget_locked(Connection& c);
  void push_locked(Connection& c, const std::shared_ptr<const std::string>& text);
  std::optional<std::string> owner_of(const std::string& device_id);
  void remove(Connection* c);

  LiveConfig config_;
  const Clock& clock_;
  Authenticate authenticate_;
  OwnerLookup owner_lookup_;
  Executor executor_;
  telemetry::TelemetryWatch* watch_;

  mutable std::shared_mutex mutex_;
  std::unordered_map<Connection*, std::shared_ptr<Connection>> all_;
  std::unordered_map<std::string, std::vector<Connection*>> by_user_;  // authenticated
  std::vector<Connection*> admins_;
  std::unordered_map<std::string, std::vector<Connection*>> by_device_;  // telemetry subscribers
  std::size_t subscriptions_ = 0;

  mutable std::shared_mutex owners_mutex_;
  std::unordered_map<std::string, std::optional<std::string>> owners_;

  std::atomic<std::size_t> authenticated_count_{0};
  std::atomic<std::uint64_t> pushed_{0}, refused_{0}, rejected_auth_{0}, expired_{0},
      refused_connections_{0}, owner_lookups_{0}, owner_hits_{0};
};

}  // namespace sp::live
