#pragma once
// Transport-neutral WebSocket endpoints (no Beast here). A module registers an endpoint on a path
// with Router::add_websocket(); the HTTPS server (src/net/http/server.cpp) upgrades a GET on that
// path, on the same port and TLS connection, and from then on talks to the module only through
// these two interfaces:
//  - WebSocketConnection: the server's side, given to the module. send() never blocks: it appends
//    to the connection's bounded queue; when the queue is full the message is refused and the
//    server closes the connection with kCloseTooSlow, so a client that stops reading costs a
//    bounded amount of memory and never slows the caller (a bus lane, ingest).
//  - WebSocketSession: the module's side. Calls come on the connection's strand, one at a time.
// Keepalive (ping/pong), the incoming message size limit and the handshake timeout are the
// server's; every other rule (authentication, what is pushed) is the module's.

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "smartproduct/core/result.hpp"

namespace sp::http {

struct Request;
class Router;

/// Close codes the server itself uses (RFC 6455 §7.4; 4000-4999 are the application's).
inline constexpr std::uint16_t kCloseGoingAway = 1001;  // server shutting down
inline constexpr std::uint16_t kCloseTooBig = 1009;     // a message over max_message_bytes
inline constexpr std::uint16_t kCloseTooSlow = 4008;    // the send queue overflowed

/// The server's side of one accepted WebSocket. Thread-safe; may outlive the connection (calls are
/// then ignored).
class WebSocketConnection {
 public:
  virtual ~WebSocketConnection() = default;
  /// Queues a text message. Never blocks and never calls back into the session. False when the
  /// connection is closing or its queue is full (the server then closes it with kCloseTooSlow).
  virtual bool send(std::shared_ptr<const std::string> text) = 0;
  /// Sends what is queued, then a close frame with `code` and `reason`; nothing more is accepted.
  /// The TCP connection is cut if this has not happened within the close grace.
  virtual void close(std::uint16_t code, std::string reason) = 0;
  /// The peer's IP address (for logs).
  virtual const std::string& remote_address() const = 0;
};

/// The module's side of one connection.
class WebSocketSession {
 public:
  virtual ~WebSocketSession() = default;
  /// A complete text message from the client (binary messages are refused by the server).
  virtual void on_text(std::string_view message) = 0;
  /// Called once when the connection has ended, whatever the reason; no call follows.
  virtual void on_closed() = 0;
};

/// What the server applies to every connection of an endpoint.
struct WebSocketLimits {
  std::size_t max_message_bytes = 4096;  // incoming; a larger one closes with kCloseTooBig
  std::size_t queue_messages = 256;      // outgoing messages queued at most
  /// No frame from the client for this long closes the connection; a ping goes out at half of it.
  std::chrono::seconds idle_timeout{30};
  std::chrono::seconds handshake_timeout{10};
  /// How long a close frame may wait behind a write the client does not read.
  std::chrono::milliseconds close_grace{2000};
  /// SO_SNDBUF for the upgraded socket (0: the kernel's default). Small values make a client that
  /// stops reading show up in the queue sooner and bound kernel memory per connection.
  std::size_t socket_send_buffer = 0;
};

/// Creates the session for an upgrade request, or refuses it with an API error (sent as the HTTP
/// answer, e.g. 429 TooManyConnections). Runs on an I/O thread: it must not block.
using WebSocketAccept = std::function<Result<std::shared_ptr<WebSocketSession>>(
    std::shared_ptr<WebSocketConnection> connection, const Request& request)>;

struct WebSocketEndpoint {
  WebSocketLimits limits;
  WebSocketAccept accept;
};

/// Registers a WebSocket endpoint on an exact path of `router` (at startup, like Router::add):
/// a GET there with "Upgrade: websocket" is handed to `endpoint`; other requests on the path go to
/// the router's routes as usual. Throws std::logic_error for a duplicate path.
void add_websocket(Router& router, std::string path, WebSocketEndpoint endpoint);
/// The endpoint on `path` of `router`, or null.
std::shared_ptr<const WebSocketEndpoint> find_websocket(const Router& router,
                                                        std::string_view path);
/// Forgets the router's endpoints (~Router calls it).
void drop_websockets(const Router& router);

}  // namespace sp::http
