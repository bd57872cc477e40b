// The only Beast translation unit of sp_http: TLS, HTTP/1.1 parsing and writing, timeouts and the
// connection lifecycle. Routing, files and JSON live in Beast-free files (dispatcher.cpp, ...).
//
// Threading: each connection's I/O runs on its own strand of the I/O context; handlers run on the
// worker pool (they may block) and their response is posted back to the connection's strand.

#include "net/http/server.hpp"

#include <atomic>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include <openssl/ssl.h>
#include <spdlog/spdlog.h>
#include <boost/asio/bind_executor.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>

#include "net/http/dispatcher.hpp"
#include "net/http/target.hpp"
#include "smartproduct/core/logging.hpp"
#include "smartproduct/http/websocket.hpp"

namespace sp::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace ssl = boost::asio::ssl;
namespace websocket = boost::beast::websocket;
using tcp = boost::asio::ip::tcp;
using error_code = boost::system::error_code;

// Mozilla "intermediate" TLS 1.2 suites (forward secrecy, AEAD only); TLS 1.3 uses OpenSSL's list.
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

constexpr std::chrono::seconds kTlsShutdownTimeout{2};
constexpr std::size_t kFirstReadBytes = 4096;
// Lingering close (as nginx's): after an early error (413 before the body was read, a malformed
// head) the client may still be sending. Closing at once makes the kernel answer its data with a
// reset, and clients that send the whole body before reading (Python's http.client, requests)
// report "connection reset" instead of the 413. So read and discard, bounded in bytes and time.
// A client that stops sending is let go after kLingerIdle.
constexpr std::size_t kLingerMaxBytes = 16 * 1024 * 1024;
constexpr std::chrono::seconds kLingerTime{5};
constexpr std::chrono::seconds kLingerIdle{1};

Error tls_error(std::string message, std::string detail = {}) {
  return Error{ErrorKind::kInternal, "TlsConfigError", std::move(message), std::move(detail)};
}

Result<std::shared_ptr<ssl::context>> make_tls_context(const ServerConfig& config) {
  try {
    auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
    SSL_CTX* native = ctx->native_handle();
    ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                     ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 |
                     ssl::context::single_dh_use);
    if (SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION) != 1 ||
        SSL_CTX_set_cipher_list(native, kTls12Ciphers) != 1) {
      return tl::unexpected(tls_error("cannot configure TLS protocol versions or ciphers"));
    }
    SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);

    error_code ec;
    ctx->use_certificate_chain_file(config.cert.string(), ec);
    if (ec) {
      return tl::unexpected(tls_error(fmt::format("cannot load TLS certificate chain '{}': {}",
                                                  config.cert.string(), ec.message())));
    }
    ctx->use_private_key_file(config.key.string(), ssl::context::pem, ec);
    if (ec) {
      // The key path is not secret; its contents never reach a message.
      return tl::unexpected(tls_error(
          fmt::format("cannot load TLS private key '{}': {}", config.key.string(), ec.message())));
    }
    if (SSL_CTX_check_private_key(native) != 1) {
      return tl::unexpected(tls_error("the TLS private key does not match the certificate"));
    }
    return ctx;
  } catch (const std::exception& e) {
    return tl::unexpected(tls_error("cannot create the TLS context", e.what()));
  }
}

bool is_http_error(const error_code& ec) {
  return &ec.category() == &bhttp::make_error_code(bhttp::error::bad_method).category();
}

bool iequals(std::string_view a, std::string_view b) { return beast::iequals(a, b); }

std::string_view trim_spaces(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  return v;
}

// Header names/values from handlers go on the wire verbatim: refuse anything that could split
// the header (CR, LF, NUL).
bool is_safe_header(std::string_view name, std::string_view value) {
  if (name.empty()) return false;
  for (char c : name) {
    if (c == '\r' || c == '\n' || c == '\0' || c == ':' || c == ' ') return false;
  }
  for (char c : value) {
    if (c == '\r' || c == '\n' || c == '\0') return false;
  }
  return true;
}

Response header_too_large() {
  return Response::json(431, {{"code", 431},
                              {"error", "RequestHeaderFieldsTooLarge"},
                              {"message", "request header fields too large"}});
}

}  // namespace

class Session;
class WsSession;

// Everything the server shares with its sessions. Defined outside HttpServer so that sessions can
// name it (HttpServer::Impl is private).
struct ServerState {
  ServerState(ServerConfig cfg, Router& r, ReadinessProbe probe)
      : config(std::move(cfg)), router(r), dispatcher(config, r, std::move(probe)) {}

  std::shared_ptr<ssl::context> current_tls() {
    std::lock_guard lock(tls_mu);
    return tls;
  }

  void register_session(Session* raw, std::weak_ptr<Session> weak) {
    std::lock_guard lock(sessions_mu);
    sessions.emplace(raw, std::move(weak));
  }
  void unregister_session(Session* raw) {
    std::lock_guard lock(sessions_mu);
    sessions.erase(raw);
    sessions_cv.notify_all();
  }
  template <class F>
  void for_each_session(F&& f);

  // Upgraded WebSocket connections: counted against max_connections and closed on stop().
  void register_ws(WsSession* raw, std::weak_ptr<WsSession> weak) {
    std::lock_guard lock(sessions_mu);
    ws_sessions.emplace(raw, std::move(weak));
  }
  void unregister_ws(WsSession* raw) {
    std::lock_guard lock(sessions_mu);
    ws_sessions.erase(raw);
    sessions_cv.notify_all();
  }
  void close_websockets();
  // Request duration histograms, connection counts and WebSocket send queues.
  void report_metrics(std::vector<MetricSample>& out);

  void do_accept();
  void on_accept(error_code ec, tcp::socket socket);
  void shutdown_threads();

  // Declared before io_context and the pool: sessions destroyed while those are torn down still
  // unregister themselves here.
  ServerConfig config;
  Router& router;
  Dispatcher dispatcher;

  std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::unordered_map<Session*, std::weak_ptr<Session>> sessions;
  std::unordered_map<WsSession*, std::weak_ptr<WsSession>> ws_sessions;
  std::atomic<bool> stopping{false};

  std::mutex tls_mu;
  std::shared_ptr<ssl::context> tls;

  std::mutex lifecycle_mu;
  bool started = false;
  bool stopped = false;
  std::uint16_t bound_port = 0;

  asio::io_context ioc;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  asio::strand<asio::io_context::executor_type> accept_strand{asio::make_strand(ioc)};
  tcp::acceptor acceptor{accept_strand};
  asio::steady_timer accept_retry{accept_strand};
  std::unique_ptr<asio::thread_pool> pool;
  std::vector<std::thread> io_threads;
};

// One upgraded WebSocket connection (Router::add_websocket). Reads run continuously so control
// frames (ping, pong, close) are always answered; writes drain a bounded queue one message at a
// time. Everything but send()/close() runs on the connection's strand; the queue has its own
// mutex so that send() from a bus lane never waits for the socket.
class WsSession : public WebSocketConnection, public std::enable_shared_from_this<WsSession> {
 public:
  using Stream = websocket::stream<beast::ssl_stream<beast::tcp_stream>>;

  WsSession(ServerState& server, asio::any_io_executor strand, std::string remote,
            const WebSocketLimits& limits)
      : server_(server),
        strand_(std::move(strand)),
        remote_(std::move(remote)),
        limits_(limits),
        close_timer_(strand_) {}

  ~WsSession() override {
    if (registered_) server_.unregister_ws(this);
  }

  // On the strand: takes over the TLS stream of the HTTP session and answers the handshake.
  void attach(beast::ssl_stream<beast::tcp_stream>&& stream, std::shared_ptr<ssl::context> tls,
              bhttp::request<bhttp::string_body> upgrade,
              std::shared_ptr<WebSocketSession> handler) {
    tls_ = std::move(tls);
    handler_ = std::move(handler);
    registered_ = true;
    server_.register_ws(this, weak_from_this());
    beast::get_lowest_layer(stream).expires_never();  // the websocket timeouts take over
    ws_.emplace(std::move(stream));
    if (limits_.socket_send_buffer > 0) {
      error_code ignored;
      beast::get_lowest_layer(*ws_).socket().set_option(
          asio::socket_base::send_buffer_size(static_cast<int>(limits_.socket_send_buffer)),
          ignored);
    }
    websocket::stream_base::timeout timeout{};
    timeout.handshake_timeout = limits_.handshake_timeout;
    timeout.idle_timeout = limits_.idle_timeout;
    timeout.keep_alive_pings = true;
    ws_->set_option(timeout);
    ws_->read_message_max(limits_.max_message_bytes);
    ws_->auto_fragment(false);
    ws_->set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(bhttp::field::server, "smartproduct"); }));
    upgrade_ = std::move(upgrade);
    ws_->async_accept(*upgrade_, [self = shared_from_this()](error_code ec) {
      self->upgrade_.reset();
      if (ec) {
        spdlog::debug("http: websocket handshake from {} failed: {}", self->remote_, ec.message());
        return self->end();
      }
      self->open_ = true;
      self->read();
      self->write_next();
    });
  }

  bool send(std::shared_ptr<const std::string> text) override {
    if (!text) return false;
    std::lock_guard lock(mu_);
    if (closing_) return false;
    if (queue_.size() >= limits_.queue_messages) {
      closing_ = true;
      queue_.clear();
      asio::post(strand_, [self = shared_from_this()] {
        spdlog::info("http: websocket client {} does not keep up (queue full), closing",
                     self->remote_);
        self->begin_close(kCloseTooSlow, "too slow");
      });
      return false;
    }
    queue_.push_back(std::move(text));
    if (!write_scheduled_) {
      write_scheduled_ = true;
      asio::post(strand_, [self = shared_from_this()] { self->write_next(); });
    }
    return true;
  }

  void close(std::uint16_t code, std::string reason) override {
    {
      std::lock_guard lock(mu_);
      closing_ = true;  // what is queued still goes out first, within the close grace
    }
    asio::post(strand_, [self = shared_from_this(), code, reason = std::move(reason)]() mutable {
      self->begin_close(code, std::move(reason));
    });
  }

  const std::string& remote_address() const override { return remote_; }

  /// Messages waiting in the send queue (for the metrics).
  std::size_t queued() {
    std::lock_guard lock(mu_);
    return queue_.size();
  }

 private:
  void read() {
    ws_->async_read(read_buffer_, [self = shared_from_this()](error_code ec, std::size_t) {
      if (ec) {
        if (ec == websocket::error::message_too_big) {
          spdlog::debug("http: websocket message from {} too large", self->remote_);
        }
        return self->end();
      }
      if (!self->ws_->got_text()) {
        self->begin_close(1003, "text messages only");
      } else if (self->handler_ && !self->close_requested_) {
        const auto data = self->read_buffer_.cdata();
        std::string_view text(static_cast<const char*>(data.data()), data.size());
        try {
          self->handler_->on_text(text);
        } catch (const std::exception& e) {
          spdlog::error("http: websocket handler threw: {}", e.what());
          self->begin_close(1011, "internal error");
        }
      }
      self->read_buffer_.consume(self->read_buffer_.size());
      self->read();
    });
  }

  void write_next() {
    if (!open_ || ended_ || writing_) return;
    std::shared_ptr<const std::string> message;
    {
      std::lock_guard lock(mu_);
      if (queue_.empty()) {
        write_scheduled_ = false;
      } else {
        message = std::move(queue_.front());
        queue_.pop_front();
      }
    }
    if (!message) {
      if (close_requested_ && !close_sent_) send_close();
      return;
    }
    writing_ = true;
    ws_->text(true);
    ws_->async_write(asio::buffer(*message),
                     [self = shared_from_this(), message](error_code ec, std::size_t) {
                       self->writing_ = false;
                       if (ec) return self->end();
                       self->write_next();
                     });
  }

  // The close frame waits for a write in flight; the timer cuts a client that reads nothing.
  void begin_close(std::uint16_t code, std::string reason) {
    if (close_requested_ || ended_) return;
    close_requested_ = true;
    close_code_ = code;
    close_reason_ = std::move(reason);
    {
      std::lock_guard lock(mu_);
      closing_ = true;
    }
    close_timer_.expires_after(limits_.close_grace);
    close_timer_.async_wait([self = shared_from_this()](error_code ec) {
      if (!ec) self->end();
    });
    if (!open_) {
      if (!ws_) end();  // never attached
      return;           // the handshake's completion ends or opens; opened, it sends the close
    }
    write_next();  // drains the queue, then sends the close frame
  }

  void send_close() {
    close_sent_ = true;
    ws_->async_close(
        websocket::close_reason(static_cast<websocket::close_code>(close_code_), close_reason_),
        [self = shared_from_this()](error_code) { self->end(); });
  }

  void end() {
    if (ended_) return;
    ended_ = true;
    close_timer_.cancel();
    {
      std::lock_guard lock(mu_);
      closing_ = true;
      queue_.clear();
    }
    if (ws_) {
      error_code ignored;
      beast::get_lowest_layer(*ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
      beast::get_lowest_layer(*ws_).close();
    }
    if (auto handler = std::move(handler_)) {
      try {
        handler->on_closed();
      } catch (const std::exception& e) {
        spdlog::error("http: websocket close handler threw: {}", e.what());
      }
    }
  }

  ServerState& server_;
  asio::any_io_executor strand_;
  std::string remote_;
  WebSocketLimits limits_;
  asio::steady_timer close_timer_;
  std::shared_ptr<ssl::context> tls_;
  std::optional<Stream> ws_;
  std::optional<bhttp::request<bhttp::string_body>> upgrade_;
  std::shared_ptr<WebSocketSession> handler_;
  beast::flat_buffer read_buffer_;

  std::mutex mu_;  // guards queue_, write_scheduled_, closing_
  std::deque<std::shared_ptr<const std::string>> queue_;
  bool write_scheduled_ = false;
  bool closing_ = false;

  // Strand only.
  bool registered_ = false;
  bool open_ = false;
  bool writing_ = false;
  bool close_requested_ = false;
  bool close_sent_ = false;
  bool ended_ = false;
  std::uint16_t close_code_ = 1000;
  std::string close_reason_;
};

void ServerState::report_metrics(std::vector<MetricSample>& out) {
  dispatcher.request_metrics().report(out);
  std::vector<std::shared_ptr<WsSession>> live;
  std::size_t http_connections = 0;
  {
    std::lock_guard lock(sessions_mu);
    http_connections = sessions.size();
    for (auto& [raw, weak] : ws_sessions) {
      if (auto ws = weak.lock()) live.push_back(std::move(ws));
    }
  }
  std::size_t queued = 0;
  std::size_t longest = 0;
  for (auto& ws : live) {
    const auto n = ws->queued();
    queued += n;
    longest = std::max(longest, n);
  }
  live.clear();  // may run ~WsSession, which takes sessions_mu: not held here
  add_gauge(out, "smartproduct_http_connections", "Open HTTPS connections (not upgraded)",
            static_cast<double>(http_connections));
  add_gauge(out, "smartproduct_websocket_send_queue_messages",
            "Messages waiting in WebSocket send queues, all connections together",
            static_cast<double>(queued));
  add_gauge(out, "smartproduct_websocket_send_queue_max_messages",
            "Messages waiting in the longest WebSocket send queue", static_cast<double>(longest));
}

void ServerState::close_websockets() {
  std::vector<std::shared_ptr<WsSession>> live;
  {
    std::lock_guard lock(sessions_mu);
    for (auto& [raw, weak] : ws_sessions) {
      if (auto ws = weak.lock()) live.push_back(std::move(ws));
    }
  }
  for (auto& ws : live) ws->close(kCloseGoingAway, "server shutting down");
}

// One TLS connection carrying HTTP/1.1 requests one after another.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerState& server, tcp::socket socket, std::shared_ptr<ssl::context> tls)
      : server_(server),
        tls_(std::move(tls)),
        stream_(std::move(socket), *tls_),
        executor_(stream_.get_executor()) {
    error_code ec;
    auto endpoint = beast::get_lowest_layer(stream_).socket().remote_endpoint(ec);
    if (!ec) remote_ = endpoint.address().to_string();
  }

  ~Session() { server_.unregister_session(this); }

  void start() {
    server_.register_session(this, weak_from_this());
    asio::dispatch(stream_.get_executor(), [self = shared_from_this()] { self->handshake(); });
  }

  // On the strand. Idle or half-read connections are closed; a request being handled is finished
  // and answered with Connection: close.
  void request_stop() {
    if (state_ == State::kHandshake || state_ == State::kIdle || state_ == State::kReading) {
      close();
    }
  }

  // On the strand, after the grace period.
  void force_close() { close(); }

  // Kept apart from the stream: an upgraded session has moved its stream to a WsSession.
  asio::any_io_executor executor() { return executor_; }

 private:
  enum class State { kHandshake, kIdle, kReading, kHandling, kWriting, kClosing };

  beast::tcp_stream& tcp() { return beast::get_lowest_layer(stream_); }

  void handshake() {
    state_ = State::kHandshake;
    tcp().expires_after(server_.config.read_timeout);
    stream_.async_handshake(ssl::stream_base::server, [self = shared_from_this()](error_code ec) {
      if (ec) {
        spdlog::debug("http: TLS handshake from {} failed: {}", self->remote_, ec.message());
        return self->close();
      }
      self->first_request_ = true;
      self->wait_request();
    });
  }

  // Waits for the first byte of the next request under the idle timeout, so that the read timeout
  // below measures only the time a client takes to send one request (slowloris bound).
  void wait_request() {
    if (server_.stopping) return shutdown_tls();
    state_ = State::kIdle;
    if (buffer_.size() > 0) return read_header();  // a pipelined request is already here
    tcp().expires_after(first_request_ ? server_.config.read_timeout : server_.config.idle_timeout);
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this()](error_code ec, std::size_t n) {
                              if (ec) return self->close();
                              self->buffer_.commit(n);
                              self->read_header();
                            });
  }

  void read_header() {
    state_ = State::kReading;
    first_request_ = false;
    started_ = std::chrono::steady_clock::now();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(server_.config.max_header_bytes));
    parser_->body_limit(server_.config.max_body_bytes);
    tcp().expires_after(server_.config.read_timeout);
    bhttp::async_read_header(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](error_code ec, std::size_t) { self->on_header(ec); });
  }

  void on_header(error_code ec) {
    if (ec) return on_read_error(ec);
    auto& req = parser_->get();
    // Refuse an oversized body from its declared length, before reading any of it.
    if (auto length = parser_->content_length();
        length && *length > server_.config.max_body_bytes) {
      return reply_error_and_close(Response::error(ErrorKind::kPayloadTooLarge, "PayloadTooLarge",
                                                   "the request body is too large"));
    }
    // RFC 9112 §3.2: an HTTP/1.1 request has exactly one Host; §6.1: a Transfer-Encoding other
    // than a bare "chunked" (the only coding a request may use here) is refused, not guessed at.
    if (req.version() >= 11 && req.count(bhttp::field::host) != 1) {
      return reply_error_and_close(Response::error(ErrorKind::kBadRequest, "BadRequest",
                                                   "an HTTP/1.1 request needs exactly one Host"));
    }
    if (const auto codings = req.count(bhttp::field::transfer_encoding); codings != 0) {
      const auto value = req[bhttp::field::transfer_encoding];
      if (codings != 1 || !iequals(trim_spaces(value), "chunked")) {
        return reply_error_and_close(Response::error(
            ErrorKind::kBadRequest, "BadRequest", "only Transfer-Encoding: chunked is accepted"));
      }
    }
    // A WebSocket upgrade on a path with an endpoint (Router::add_websocket) leaves HTTP here;
    // any other upgrade request is routed like a plain request.
    if (parser_->is_done() && websocket::is_upgrade(req) && !server_.stopping) {
      Request probe;
      probe.target = std::string(req.target());
      if (parse_target(probe)) {
        if (auto endpoint = find_websocket(server_.router, probe.path)) return upgrade(*endpoint);
      }
    }
    if (parser_->is_done()) return on_request();
    if (iequals(req[bhttp::field::expect], "100-continue")) {
      continue_.emplace(bhttp::status::continue_, req.version());
      return bhttp::async_write(stream_, *continue_,
                                [self = shared_from_this()](error_code ec, std::size_t) {
                                  if (ec) return self->close();
                                  self->read_body();
                                });
    }
    read_body();
  }

  void read_body() {
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (ec) return self->on_read_error(ec);
                        self->on_request();
                      });
  }

  void on_read_error(error_code ec) {
    if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
      return reply_error_and_close(header_too_large());
    }
    if (ec == bhttp::error::body_limit) {
      return reply_error_and_close(Response::error(ErrorKind::kPayloadTooLarge, "PayloadTooLarge",
                                                   "the request body is too large"));
    }
    if (is_http_error(ec) && ec != bhttp::error::end_of_stream &&
        ec != bhttp::error::partial_message && ec != bhttp::error::short_read) {
      return reply_error_and_close(
          Response::error(ErrorKind::kBadRequest, "BadRequest", "malformed HTTP request"));
    }
    if (ec == beast::error::timeout) {
      spdlog::debug("http: read timeout from {}, closing", remote_);
    }
    close();
  }

  void reply_error_and_close(Response response) {
    linger_ = true;  // the rest of the request may still be on its way
    // No request was parsed, so no client id to keep.
    response.set_header("x-request-id", new_request_id());
    apply_security_headers(response);
    method_.clear();
    path_.clear();
    write_response(std::move(response), /*keep_alive=*/false, /*head=*/false);
  }

  Request to_request(bhttp::request<bhttp::string_body>& message) const {
    Request request;
    request.method = std::string(message.method_string());
    request.target = std::string(message.target());
    request.remote_address = remote_;
    for (const auto& field : message) {
      std::string name(field.name_string());
      for (auto& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      request.headers.emplace_back(std::move(name), std::string(field.value()));
    }
    request.body = std::move(message.body());
    return request;
  }

  // The endpoint decides (without blocking: we are on the I/O thread) whether to take the
  // connection; if it does, the TLS stream moves to a WsSession and this session ends quietly.
  void upgrade(const WebSocketEndpoint& endpoint) {
    state_ = State::kHandling;
    tcp().expires_never();
    auto message = parser_->release();
    parser_.reset();
    Request request = to_request(message);
    method_ = request.method;
    path_ = std::string(encoded_path_of(request.target));
    (void)parse_target(request);
    auto ws = std::make_shared<WsSession>(server_, executor_, remote_, endpoint.limits);
    Result<std::shared_ptr<WebSocketSession>> accepted =
        tl::unexpected(errors::kInternalError.error());
    try {
      accepted = endpoint.accept(ws, request);
    } catch (const std::exception& e) {
      spdlog::error("http: websocket accept threw: {}", e.what());
    }
    if (!accepted || !*accepted) {
      auto response =
          accepted ? Response::error(errors::kInternalError) : Response::error(accepted.error());
      response.set_header("x-request-id", request_id_for(request));
      apply_security_headers(response);
      return write_response(std::move(response), /*keep_alive=*/false, /*head=*/false);
    }
    spdlog::debug("http: websocket {} from {}", path_, remote_);
    state_ = State::kClosing;
    closed_ = true;  // the socket is the WsSession's now
    ws->attach(std::move(stream_), tls_, std::move(message), std::move(*accepted));
  }

  void on_request() {
    state_ = State::kHandling;
    tcp().expires_never();
    auto message = parser_->release();
    parser_.reset();

    Request request = to_request(message);
    const bool keep_alive = message.keep_alive();
    const bool head = message.method() == bhttp::verb::head;
    method_ = request.method;
    path_ = std::string(encoded_path_of(request.target));  // logged: never the query string

    if (auto parsed = parse_target(request); !parsed) {
      auto response = Response::error(parsed.error());
      response.set_header("x-request-id", request_id_for(request));
      apply_security_headers(response);
      const bool bad = parsed.error().kind == ErrorKind::kBadRequest;
      return write_response(std::move(response), keep_alive && !bad, head);
    }

    asio::post(*server_.pool, [self = shared_from_this(), request = std::move(request), keep_alive,
                               head]() mutable {
      Response response = self->server_.dispatcher.handle(request);
      asio::post(self->stream_.get_executor(),
                 [self, response = std::move(response), keep_alive, head]() mutable {
                   self->write_response(std::move(response), keep_alive, head);
                 });
    });
  }

  void write_response(Response response, bool keep_alive, bool head) {
    if (server_.stopping) keep_alive = false;
    if (response.stream) {
      const int status = response.status;
      if (status / 100 != 1 && status != 204 && status != 304) {
        return write_streamed_response(std::move(response), keep_alive, head);
      }
      response.stream.reset();  // these statuses carry no body
    }
    std::optional<std::uint64_t> file_size;
    if (!response.file.empty()) {
      error_code ec;
      bhttp::file_body::value_type file;
      file.open(response.file.c_str(), beast::file_mode::scan, ec);
      if (ec) {
        spdlog::error("http: {} {}: cannot open {}: {}", method_, path_, response.file.string(),
                      ec.message());
        auto failed = Response::error(errors::kInternalError);
        for (auto& [name, value] : response.headers) {
          if (name == "x-request-id") failed.set_header(name, value);
        }
        response = std::move(failed);
      } else if (!head) {
        return write_file_response(std::move(response), std::move(file), keep_alive);
      } else {
        file_size = file.size();
      }
    }
    state_ = State::kWriting;
    response_.emplace();
    auto& res = *response_;
    const std::string request_id = set_head(res, response);
    const int status = response.status;
    if (status / 100 == 1 || status == 204 || status == 304) {
      // These carry no body and no Content-Length.
    } else {
      res.content_length(file_size.value_or(response.body.size()));
      if (!head) res.body() = std::move(response.body);
    }
    res.keep_alive(keep_alive);

    auto elapsed = std::chrono::duration_cast<std::chrono::microseconds>(
        std::chrono::steady_clock::now() - started_);
    logging::RequestIdScope scope(request_id);  // the access line carries the id too
    spdlog::debug("http: {} {} {} {:.1f}ms {}", method_.empty() ? "-" : method_,
                  path_.empty() ? "-" : path_, status, elapsed.count() / 1000.0, remote_);

    tcp().expires_after(server_.config.read_timeout);
    bhttp::async_write(stream_, res, [self = shared_from_this()](error_code ec, std::size_t) {
      const bool keep = self->response_->keep_alive();
      self->response_.reset();
      if (ec) return self->close();
      if (!keep) return self->linger_ ? self->linger() : self->shutdown_tls();
      self->wait_request();
    });
  }

  // Status line and the handler's headers; returns the request id among them.
  template <class Message>
  std::string set_head(Message& res, const Response& response) {
    res.version(11);
    res.result(static_cast<unsigned>(response.status));
    std::string request_id;
    for (const auto& [name, value] : response.headers) {
      if (!is_safe_header(name, value)) {
        spdlog::warn("http: dropped an unsafe response header from {} {}", method_, path_);
        continue;
      }
      res.set(name, value);
      if (name == "x-request-id") request_id = value;
    }
    return request_id;
  }

  // A file body, written a piece at a time with a fresh deadline for each: one deadline for the
  // whole write (as for string bodies) would cut a large download on a slow link.
  void write_file_response(Response response, bhttp::file_body::value_type file, bool keep_alive) {
    state_ = State::kWriting;
    file_response_.emplace();
    auto& res = *file_response_;
    set_head(res, response);
    res.body() = std::move(file);
    res.prepare_payload();
    res.keep_alive(keep_alive);
    spdlog::debug("http: {} {} {} file {} bytes {}", method_, path_, response.status,
                  res.body().size(), remote_);
    file_serializer_.emplace(res);
    write_file_piece();
  }

  void write_file_piece() {
    tcp().expires_after(server_.config.read_timeout);
    bhttp::async_write_some(stream_, *file_serializer_,
                            [self = shared_from_this()](error_code ec, std::size_t) {
                              if (ec) {
                                self->file_serializer_.reset();
                                self->file_response_.reset();
                                return self->close();
                              }
                              if (!self->file_serializer_->is_done())
                                return self->write_file_piece();
                              const bool keep = self->file_response_->keep_alive();
                              self->file_serializer_.reset();
                              self->file_response_.reset();
                              if (!keep)
                                return self->linger_ ? self->linger() : self->shutdown_tls();
                              self->wait_request();
                            });
  }

  // A streamed body (Response::stream): the headers with Transfer-Encoding: chunked, then one
  // chunk per piece. A piece is asked for on the worker pool (sources may block on SQLite) only
  // once the previous one is written, and each write gets a fresh deadline, as for files.
  void write_streamed_response(Response response, bool keep_alive, bool head) {
    state_ = State::kWriting;
    stream_header_.emplace();
    auto& res = *stream_header_;
    stream_request_id_ = set_head(res, response);
    res.chunked(true);
    res.keep_alive(keep_alive);
    stream_keep_alive_ = keep_alive;
    source_ = head ? nullptr : std::move(response.stream);
    {
      logging::RequestIdScope scope(stream_request_id_);
      spdlog::debug("http: {} {} {} streamed {}", method_, path_, response.status, remote_);
    }
    stream_serializer_.emplace(res);
    tcp().expires_after(server_.config.read_timeout);
    bhttp::async_write_header(stream_, *stream_serializer_,
                              [self = shared_from_this()](error_code ec, std::size_t) {
                                self->stream_serializer_.reset();
                                self->stream_header_.reset();
                                if (ec) return self->end_stream_and_close();
                                if (!self->source_) return self->finish_stream();  // HEAD
                                self->next_piece();
                              });
  }

  void next_piece() {
    asio::post(*server_.pool, [self = shared_from_this(), source = source_] {
      std::string piece;
      Result<BodySource::Piece> step = tl::unexpected(errors::kInternalError.error());
      try {
        step = source->next(piece);
      } catch (const std::exception& e) {
        step = tl::unexpected(
            Error{ErrorKind::kInternal, "InternalError", "the body source threw", e.what()});
      } catch (...) {
        // step keeps the internal error
      }
      asio::post(self->executor_,
                 [self, piece = std::move(piece), step = std::move(step)]() mutable {
                   self->on_piece(std::move(piece), std::move(step));
                 });
    });
  }

  void on_piece(std::string piece, Result<BodySource::Piece> step) {
    if (closed_) return end_stream_and_close();  // force_close() during a slow piece
    if (!step) {
      logging::RequestIdScope scope(stream_request_id_);
      spdlog::error(
          "http: {} {}: the streamed body failed after its headers, closing without "
          "its end: {}{}{}",
          method_, path_, step.error().message, step.error().detail.empty() ? "" : ": ",
          step.error().detail);
      return end_stream_and_close();
    }
    const bool last = *step == BodySource::Piece::kLast;
    // An empty chunk would read as the end of the body: skip it.
    if (piece.empty()) return last ? write_last_chunk() : next_piece();
    piece_ = std::move(piece);
    tcp().expires_after(server_.config.read_timeout);
    asio::async_write(stream_, bhttp::make_chunk(asio::buffer(piece_)),
                      [self = shared_from_this(), last](error_code ec, std::size_t) {
                        self->piece_ = {};  // memory stays bounded by one piece
                        if (ec) return self->end_stream_and_close();
                        if (last) return self->write_last_chunk();
                        self->next_piece();
                      });
  }

  void write_last_chunk() {
    source_.reset();
    tcp().expires_after(server_.config.read_timeout);
    asio::async_write(stream_, bhttp::make_chunk_last(),
                      [self = shared_from_this()](error_code ec, std::size_t) {
                        if (ec) return self->end_stream_and_close();
                        self->finish_stream();
                      });
  }

  void finish_stream() {
    source_.reset();
    if (!stream_keep_alive_) return linger_ ? linger() : shutdown_tls();
    wait_request();
  }

  // Without the terminating chunk (and without TLS close_notify) the client sees a truncated
  // transfer, never a complete-looking body.
  void end_stream_and_close() {
    source_.reset();
    piece_ = {};
    close();
  }

  // Discards what the client still sends, then closes (see kLingerMaxBytes).
  void linger() {
    state_ = State::kClosing;
    linger_ = false;
    buffer_.consume(buffer_.size());
    linger_until_ = std::chrono::steady_clock::now() + kLingerTime;
    linger_read(0);
  }

  void linger_read(std::size_t discarded) {
    const auto now = std::chrono::steady_clock::now();
    if (discarded >= kLingerMaxBytes || now >= linger_until_) return shutdown_tls();
    tcp().expires_after(
        std::min<std::chrono::steady_clock::duration>(kLingerIdle, linger_until_ - now));
    stream_.async_read_some(buffer_.prepare(kFirstReadBytes),
                            [self = shared_from_this(), discarded](error_code ec, std::size_t n) {
                              self->buffer_.consume(self->buffer_.size());
                              // EOF, the client's close_notify, the deadline: done either way.
                              if (ec) return self->close();
                              self->linger_read(discarded + n);
                            });
  }

  void shutdown_tls() {
    state_ = State::kClosing;
    tcp().expires_after(kTlsShutdownTimeout);
    stream_.async_shutdown([self = shared_from_this()](error_code) { self->close(); });
  }

  void close() {
    if (closed_) return;
    closed_ = true;
    error_code ec;
    tcp().socket().shutdown(tcp::socket::shutdown_both, ec);
    tcp().close();
  }

  ServerState& server_;
  std::shared_ptr<ssl::context> tls_;  // keeps the certificate this connection started with
  beast::ssl_stream<beast::tcp_stream> stream_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  std::optional<bhttp::response<bhttp::empty_body>> continue_;
  std::optional<bhttp::response<bhttp::string_body>> response_;
  std::optional<bhttp::response<bhttp::file_body>> file_response_;
  std::optional<bhttp::response_serializer<bhttp::file_body>> file_serializer_;
  std::optional<bhttp::response<bhttp::empty_body>> stream_header_;
  std::optional<bhttp::response_serializer<bhttp::empty_body>> stream_serializer_;
  std::shared_ptr<BodySource> source_;  // the streamed body being written, if any
  std::string piece_;                   // its piece being written
  std::string stream_request_id_;
  bool stream_keep_alive_ = false;
  asio::any_io_executor executor_;
  std::string remote_;
  std::string method_;
  std::string path_;
  std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  State state_ = State::kHandshake;
  bool first_request_ = true;
  bool linger_ = false;
  std::chrono::steady_clock::time_point linger_until_;
  bool closed_ = false;
};

template <class F>
void ServerState::for_each_session(F&& f) {
  // Collect strong references under the lock but post and release them outside it: dropping the
  // last reference runs ~Session, which takes sessions_mu itself.
  std::vector<std::shared_ptr<Session>> live;
  {
    std::lock_guard lock(sessions_mu);
    live.reserve(sessions.size());
    for (auto& [raw, weak] : sessions) {
      if (auto session = weak.lock()) live.push_back(std::move(session));
    }
  }
  for (auto& session : live) {
    asio::post(session->executor(), [session, f] { f(*session); });
  }
}

void ServerState::do_accept() {
  acceptor.async_accept(asio::make_strand(ioc), [this](error_code ec, tcp::socket socket) {
    on_accept(ec, std::move(socket));
  });
}

void ServerState::on_accept(error_code ec, tcp::socket socket) {
  if (stopping || !acceptor.is_open()) return;
  if (ec) {
    // EMFILE and friends: back off instead of spinning on a failing accept.
    spdlog::warn("http: accept failed: {}", ec.message());
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](error_code wait_ec) {
      if (!wait_ec && !stopping) do_accept();
    });
    return;
  }
  std::size_t active = 0;
  {
    std::lock_guard lock(sessions_mu);
    active = sessions.size() + ws_sessions.size();
  }
  if (active >= config.max_connections) {
    spdlog::warn("http: connection limit ({}) reached, refusing a connection",
                 config.max_connections);
    error_code ignored;
    socket.close(ignored);
  } else {
    error_code nodelay_ec;
    socket.set_option(tcp::no_delay(true), nodelay_ec);
    std::make_shared<Session>(*this, std::move(socket), current_tls())->start();
  }
  do_accept();
}

void ServerState::shutdown_threads() {
  if (pool) pool->join();
  work.reset();
  ioc.stop();
  for (auto& thread : io_threads) {
    if (thread.joinable()) thread.join();
  }
  io_threads.clear();
}

struct HttpServer::Impl : ServerState {
  using ServerState::ServerState;
};

HttpServer::HttpServer(ServerConfig config, Router& router, ReadinessProbe probe)
    : impl_(std::make_unique<Impl>(std::move(config), router, std::move(probe))) {}

HttpServer::~HttpServer() { stop(std::chrono::milliseconds(0)); }

Result<void> HttpServer::start() {
  std::lock_guard lifecycle(impl_->lifecycle_mu);
  Impl& s = *impl_;
  if (s.started) return fail(ErrorKind::kInternal, "AlreadyStarted", "the server was started");

  auto tls = make_tls_context(s.config);
  if (!tls) return tl::unexpected(tls.error());
  {
    std::lock_guard lock(s.tls_mu);
    s.tls = *tls;
  }

  error_code ec;
  auto address = asio::ip::make_address(s.config.listen, ec);
  if (ec) {
    return fail(ErrorKind::kInternal, "ListenError",
                fmt::format("invalid listen address '{}'", s.config.listen));
  }
  tcp::endpoint endpoint(address, s.config.port);
  auto listen_error = [&](std::string_view what) {
    std::string where = address.is_v6() ? fmt::format("[{}]:{}", s.config.listen, s.config.port)
                                        : fmt::format("{}:{}", s.config.listen, s.config.port);
    error_code ignored;
    s.acceptor.close(ignored);
    return fail(ErrorKind::kInternal, "ListenError",
                fmt::format("cannot {} {}: {}", what, where, ec.message()));
  };
  s.acceptor.open(endpoint.protocol(), ec);
  if (ec) return listen_error("open a socket for");
  s.acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (ec) return listen_error("configure");
  s.acceptor.bind(endpoint, ec);
  if (ec) return listen_error("bind");
  s.acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return listen_error("listen on");
  s.bound_port = s.acceptor.local_endpoint(ec).port();

  if (s.config.console_enabled &&
      (s.config.web_root.empty() || !std::filesystem::is_directory(s.config.web_root))) {
    spdlog::warn(
        "http: console enabled but web root '{}' is not a directory; console paths give 404",
        s.config.web_root.string());
  }

  s.pool = std::make_unique<asio::thread_pool>(std::max(1u, s.config.worker_threads));
  s.work.emplace(s.ioc.get_executor());
  asio::post(s.accept_strand, [&s] { s.do_accept(); });
  const unsigned io_threads = std::max(1u, s.config.io_threads);
  for (unsigned i = 0; i < io_threads; ++i) {
    s.io_threads.emplace_back([&s] {
      // Keeps the loop alive if a completion handler throws (none should).
      for (;;) {
        try {
          s.ioc.run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("http: exception escaped an I/O handler: {}", e.what());
        }
      }
    });
  }
  s.started = true;
  spdlog::info("http: listening on {}:{}", s.config.listen, s.bound_port);
  return {};
}

void HttpServer::stop(std::chrono::milliseconds grace) {
  std::lock_guard lifecycle(impl_->lifecycle_mu);
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  s.stopped = true;
  s.stopping = true;

  asio::post(s.accept_strand, [&s] {
    error_code ignored;
    s.acceptor.close(ignored);
    s.accept_retry.cancel();
  });
  s.for_each_session([](Session& session) { session.request_stop(); });
  s.close_websockets();

  auto drained = [&s] { return s.sessions.empty() && s.ws_sessions.empty(); };
  {
    std::unique_lock lock(s.sessions_mu);
    s.sessions_cv.wait_for(lock, grace, drained);
  }
  s.for_each_session([](Session& session) { session.force_close(); });
  {
    std::unique_lock lock(s.sessions_mu);
    s.sessions_cv.wait_for(lock, std::chrono::seconds(1), drained);
  }
  s.shutdown_threads();
  spdlog::info("http: stopped");
}

Result<void> HttpServer::reload_certificates() {
  auto tls = make_tls_context(impl_->config);
  if (!tls) {
    spdlog::error("http: certificate reload failed, keeping the old certificate: {}",
                  tls.error().message);
    return tl::unexpected(tls.error());
  }
  std::lock_guard lock(impl_->tls_mu);
  impl_->tls = *tls;
  spdlog::info("http: TLS certificate reloaded");
  return {};
}

std::uint16_t HttpServer::port() const { return impl_->bound_port; }

void HttpServer::report_metrics(std::vector<MetricSample>& out) const {
  impl_->report_metrics(out);
}

}  // namespace sp::http
