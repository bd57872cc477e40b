#include "client.hpp"

#include <mosquitto.h>
#include <mqtt_protocol.h>
#include <spdlog/spdlog.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <condition_variable>
#include <cstring>
#include <future>
#include <mutex>
#include <optional>
#include <random>
#include <thread>

namespace sp::mqtt {
namespace asio = boost::asio;

namespace {

std::once_flag g_lib_init;

// One wake-up of the socket reads at most this many packets before committing and acknowledging
// them: large enough that a burst becomes one group commit, small enough that a flood cannot
// starve the timers (keepalive) and the publish queue on this thread.
constexpr int kMaxReadsPerWakeup = 1024;
// libmosquitto's keepalive and retry timers only advance in mosquitto_loop_misc. The keepalive is
// in seconds, so a quarter second is ample resolution and costs nothing measurable.
constexpr std::chrono::milliseconds kMiscInterval{250};
// stop() re-checks outstanding commits this often while it waits for them (bounded by `grace`).
constexpr std::chrono::milliseconds kStopPollInterval{20};

// The counters of Stats, written on the MQTT thread and read by metrics from any thread.
struct AtomicStats {
  std::atomic<uint64_t> received{0};
  std::atomic<uint64_t> published{0};
  std::atomic<uint64_t> connects{0};
  std::atomic<uint64_t> connection_losses{0};
  std::atomic<uint64_t> unstored_drops{0};

  Stats snapshot() const {
    return Stats{received.load(), published.load(), connects.load(), connection_losses.load(),
                 unstored_drops.load()};
  }
};

std::string error_text(int rc) {
  if (rc == MOSQ_ERR_ERRNO) return std::string("system error: ") + std::strerror(errno);
  return mosquitto_strerror(rc);
}

}  // namespace

struct Client::Impl {
  ClientConfig config;
  MessageHandler handler;
  std::function<void(bool, bool)> connection_callback;

  asio::io_context io;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> work;
  std::thread thread;
  asio::steady_timer misc_timer{io};
  asio::steady_timer reconnect_timer{io};
  std::optional<asio::posix::stream_descriptor> socket;
  bool read_waiting = false;
  bool write_waiting = false;

  mosquitto* mosq = nullptr;
  std::atomic<bool> is_connected{false};
  bool stopping = false;
  bool ever_connected = false;
  std::chrono::milliseconds backoff{0};
  std::mt19937_64 rng{std::random_device{}()};

  // Messages handed to the handler whose `done` has not been called yet. While non-zero, queued
  // packets (which include their PUBACKs) are held back.
  std::size_t pending_acks = 0;
  // Set when a message could not be stored: once nothing is pending, the connection is cut instead
  // of writing the queued PUBACKs (reconnect discards them), so the broker redelivers.
  bool drop_unacknowledged = false;
  // set_paused(true): stay disconnected (the broker keeps our session and queues for it).
  bool paused = false;

  mutable std::mutex status_mutex;
  std::string status_text = "not connected yet";
  AtomicStats stats;

  Impl(ClientConfig c, MessageHandler h) : config(std::move(c)), handler(std::move(h)) {}

  void set_status(std::string text) {
    std::lock_guard lock(status_mutex);
    status_text = std::move(text);
  }

  // --- setup -------------------------------------------------------------------------------
  bool create() {
    std::call_once(g_lib_init, [] { mosquitto_lib_init(); });
    mosq = mosquitto_new(config.client_id.c_str(), /*clean_session=*/false, this);
    if (!mosq) {
      spdlog::error("mqtt: mosquitto_new failed: {}", std::strerror(errno));
      return false;
    }
    mosquitto_int_option(mosq, MOSQ_OPT_PROTOCOL_VERSION, MQTT_PROTOCOL_V5);
    mosquitto_int_option(mosq, MOSQ_OPT_RECEIVE_MAXIMUM, config.receive_maximum);
    mosquitto_int_option(mosq, MOSQ_OPT_TCP_NODELAY, 1);
    // "Threaded" tells libmosquitto that someone else drives the socket: queued packets are then
    // written only by mosquitto_loop_write, which is what lets us delay PUBACKs until commit.
    mosquitto_threaded_set(mosq, true);
    mosquitto_max_inflight_messages_set(mosq, static_cast<unsigned>(config.max_inflight_messages));
    int rc = mosquitto_tls_set(mosq, config.ca_file.c_str(), nullptr, config.cert.c_str(),
                               config.key.c_str(), nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      spdlog::error("mqtt: TLS setup with ca {} cert {} failed: {}", config.ca_file.string(),
                    config.cert.string(), error_text(rc));
      return false;
    }
    mosquitto_tls_opts_set(mosq, 1, "tlsv1.2", nullptr);
    mosquitto_connect_v5_callback_set(
        mosq, [](mosquitto*, void* self, int rc, int flags, const mosquitto_property*) {
          static_cast<Impl*>(self)->on_connect(rc, flags);
        });
    mosquitto_disconnect_v5_callback_set(
        mosq, [](mosquitto*, void* self, int rc, const mosquitto_property*) {
          static_cast<Impl*>(self)->on_disconnect(rc);
        });
    mosquitto_message_v5_callback_set(
        mosq, [](mosquitto*, void* self, const mosquitto_message* m, const mosquitto_property*) {
          static_cast<Impl*>(self)->on_message(m);
        });
    mosquitto_subscribe_v5_callback_set(mosq, [](mosquitto*, void*, int mid, int count,
                                                 const int* granted, const mosquitto_property*) {
      for (int i = 0; i < count; ++i) {
        if (granted[i] >= 0x80) {
          spdlog::error("mqtt: subscription (mid {}) #{} refused by the broker: reason {}", mid, i,
                        granted[i]);
        }
      }
    });
    mosquitto_log_callback_set(mosq, [](mosquitto*, void*, int level, const char* text) {
      if (level & (MOSQ_LOG_ERR)) {
        spdlog::warn("mqtt: libmosquitto: {}", text);
      } else {
        spdlog::trace("mqtt: libmosquitto: {}", text);
      }
    });
    return true;
  }

  // --- connection management ---------------------------------------------------------------
  void connect() {
    if (stopping) return;
    // Paused: stay away, except to create the session once (its subscriptions are what makes
    // the broker keep our messages while we are away); on_connect then pauses again.
    if (paused && ever_connected) {
      set_status("paused: intake refused, messages wait at the broker");
      return;
    }
    mosquitto_property* props = nullptr;
    mosquitto_property_add_int32(&props, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                 config.session_expiry_s);
    // Blocking TCP connect; acceptable because MQTT has this thread to itself.
    int rc = ever_connected ? mosquitto_reconnect(mosq)
                            : mosquitto_connect_bind_v5(mosq, config.host.c_str(), config.port,
                                                        config.keepalive_s, nullptr, props);
    mosquitto_property_free_all(&props);
    if (rc != MOSQ_ERR_SUCCESS) {
      set_status(fmt::format("cannot connect to broker {}:{}: {}", config.host, config.port,
                             error_text(rc)));
      spdlog::warn("mqtt: connect to {}:{} failed: {}", config.host, config.port, error_text(rc));
      schedule_reconnect();
      return;
    }
    ever_connected = true;  // from now on mosquitto_reconnect reuses host/port/properties
    set_status("connecting (waiting for CONNACK)");
    attach_socket();
  }

  void schedule_reconnect() {
    if (stopping) return;
    backoff =
        backoff.count() == 0 ? config.reconnect_min : std::min(backoff * 2, config.reconnect_max);
    // Full jitter in [backoff/2, backoff]: many daemons (or a restart storm) do not reconnect in
    // step.
    std::uniform_int_distribution<int64_t> dist(backoff.count() / 2, backoff.count());
    auto delay = std::chrono::milliseconds(dist(rng));
    spdlog::info("mqtt: reconnecting in {} ms", delay.count());
    reconnect_timer.expires_after(delay);
    reconnect_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) connect();
    });
  }

  void attach_socket() {
    int fd = mosquitto_socket(mosq);
    if (fd < 0) {
      schedule_reconnect();
      return;
    }
    socket.emplace(io, fd);
    read_waiting = write_waiting = false;
    wait_readable();
    flush();
  }

  // libmosquitto owns the fd and closes it itself; the descriptor must let go without closing.
  void detach_socket() {
    if (!socket) return;
    boost::system::error_code ignored;
    socket->cancel(ignored);
    socket->release();
    socket.reset();
    read_waiting = write_waiting = false;
  }

  void wait_readable() {
    if (!socket || read_waiting) return;
    read_waiting = true;
    socket->async_wait(asio::posix::stream_descriptor::wait_read,
                       [this, s = &*socket](const boost::system::error_code& ec) {
                         read_waiting = false;
                         if (ec || !socket || s != &*socket) return;
                         on_readable();
                       });
  }

  void on_readable() {
    // Drain what is available (bounded) so a burst of messages is handled, committed and
    // acknowledged together.
    for (int i = 0; i < kMaxReadsPerWakeup; ++i) {
      int rc = mosquitto_loop_read(mosq, 1);
      if (rc != MOSQ_ERR_SUCCESS) {
        handle_loop_error("read", rc);
        return;
      }
      if (!socket) return;  // disconnected from inside a callback
      int available = 0;
      if (ioctl(mosquitto_socket(mosq), FIONREAD, &available) != 0 || available <= 0) break;
    }
    wait_readable();
    flush();
  }

  /// Writes queued packets unless a received message is still waiting for its commit.
  void flush() {
    if (!socket || pending_acks > 0) return;
    if (drop_unacknowledged) {
      drop_unacknowledged = false;
      stats.unstored_drops++;
      spdlog::error(
          "mqtt: a message could not be stored; dropping the connection without "
          "acknowledging so the broker redelivers it");
      ::shutdown(mosquitto_socket(mosq), SHUT_RDWR);
      wait_readable();  // the read error path reconnects
      return;
    }
    if (!mosquitto_want_write(mosq)) return;
    int rc = mosquitto_loop_write(mosq, 1);
    if (rc != MOSQ_ERR_SUCCESS) {
      handle_loop_error("write", rc);
      return;
    }
    if (mosquitto_want_write(mosq) && socket && !write_waiting) {
      write_waiting = true;
      socket->async_wait(asio::posix::stream_descriptor::wait_write,
                         [this, s = &*socket](const boost::system::error_code& ec) {
                           write_waiting = false;
                           if (ec || !socket || s != &*socket) return;
                           flush();
                         });
    }
  }

  // Ends the connection once every received message is committed (its PUBACK written), keeping the
  // broker-side session; connect() then stays idle until resume.
  void pause_when_idle() {
    if (!paused || stopping) return;
    if (pending_acks > 0) {
      auto t = std::make_shared<asio::steady_timer>(io, kStopPollInterval);
      t->async_wait([this, t](const boost::system::error_code&) { pause_when_idle(); });
      return;
    }
    reconnect_timer.cancel();
    if (!socket) return;
    if (drop_unacknowledged) {
      flush();  // cuts the connection without acknowledging; the reconnect then stays idle
      return;
    }
    flush();
    mosquitto_disconnect_v5(mosq, 0, nullptr);
    if (socket && pending_acks == 0) mosquitto_loop_write(mosq, 1);
    detach_socket();
    if (is_connected.exchange(false) && connection_callback) connection_callback(false, false);
    set_status("paused: intake refused, messages wait at the broker");
    spdlog::info("mqtt: {} paused (disconnected; the broker keeps the session)", config.client_id);
  }

  void handle_loop_error(const char* what, int rc) {
    spdlog::warn("mqtt: connection to {}:{} lost during {}: {}", config.host, config.port, what,
                 error_text(rc));
    detach_socket();
    if (is_connected.exchange(false)) {
      stats.connection_losses++;
      if (connection_callback) connection_callback(false, false);
    }
    set_status(fmt::format("connection lost: {}", error_text(rc)));
    schedule_reconnect();
  }

  void start_misc_timer() {
    misc_timer.expires_after(kMiscInterval);
    misc_timer.async_wait([this](const boost::system::error_code& ec) {
      if (ec) return;
      if (socket) {
        int rc = mosquitto_loop_misc(mosq);
        if (rc != MOSQ_ERR_SUCCESS && rc != MOSQ_ERR_NO_CONN) {
          handle_loop_error("keepalive", rc);
        } else {
          flush();
        }
      }
      start_misc_timer();
    });
  }

  // --- libmosquitto callbacks (run inside loop_read on this thread) --------------------------
  void on_connect(int rc, int flags) {
    if (rc != 0) {
      spdlog::error("mqtt: broker refused the connection: {} ({})", mosquitto_reason_string(rc),
                    rc);
      set_status(fmt::format("broker refused connection: {}", mosquitto_reason_string(rc)));
      // The broker closes the socket; the read error path schedules the reconnect.
      return;
    }
    bool session_present = (flags & 1) != 0;
    backoff = std::chrono::milliseconds(0);
    stats.connects++;
    is_connected = true;
    set_status("connected");
    spdlog::info("mqtt: connected to {}:{} as {} (session present: {})", config.host, config.port,
                 config.client_id, session_present);
    // Subscribing again on a resumed session is harmless and picks up subscriptions added since.
    for (auto& s : config.subscriptions) {
      int options = s.no_local ? MQTT_SUB_OPT_NO_LOCAL : 0;
      int src = mosquitto_subscribe_v5(mosq, nullptr, s.filter.c_str(), s.qos, options, nullptr);
      if (src != MOSQ_ERR_SUCCESS) {
        spdlog::error("mqtt: subscribe {} failed: {}", s.filter, error_text(src));
      }
    }
    for (auto& filter : config.unsubscribe) {
      int urc = mosquitto_unsubscribe_v5(mosq, nullptr, filter.c_str(), nullptr);
      if (urc != MOSQ_ERR_SUCCESS) {
        spdlog::error("mqtt: unsubscribe {} failed: {}", filter, error_text(urc));
      }
    }
    if (connection_callback) connection_callback(true, session_present);
    if (paused) {
      // The SUBSCRIBEs above reach the broker before our DISCONNECT (one ordered stream).
      asio::post(io, [this] { pause_when_idle(); });
    }
  }

  void on_disconnect(int rc) {
    if (stopping) return;
    spdlog::warn("mqtt: disconnected: {} ({})", rc == 0 ? "requested" : error_text(rc), rc);
  }

  void on_message(const mosquitto_message* m) {
    stats.received++;
    Message msg;
    msg.topic = m->topic ? m->topic : "";
    if (m->payload && m->payloadlen > 0) {
      msg.payload.assign(static_cast<const char*>(m->payload), static_cast<size_t>(m->payloadlen));
    }
    msg.qos = m->qos;
    msg.retain = m->retain;
    msg.mid = m->mid;
    ++pending_acks;
    auto done_once = std::make_shared<std::atomic<bool>>(false);
    Done done = [this, done_once](bool handled) {
      if (done_once->exchange(true)) return;
      asio::post(io, [this, handled] {
        --pending_acks;
        if (!handled) drop_unacknowledged = true;
        flush();
      });
    };
    try {
      handler(std::move(msg), std::move(done));
    } catch (const std::exception& e) {
      // A handler bug must not kill the MQTT thread; the message counts as handled.
      spdlog::error("mqtt: message handler threw: {}", e.what());
      if (!done_once->exchange(true)) --pending_acks;
    }
  }
};

Client::Client(ClientConfig config, MessageHandler handler)
    : impl_(std::make_unique<Impl>(std::move(config), std::move(handler))) {}

Client::~Client() { stop(std::chrono::milliseconds(0)); }

void Client::on_connection_change(std::function<void(bool, bool)> callback) {
  impl_->connection_callback = std::move(callback);
}

void Client::start() {
  auto* d = impl_.get();
  if (d->thread.joinable()) return;
  if (!d->create()) {
    d->set_status("MQTT client could not be created (see log)");
    return;
  }
  d->work.emplace(d->io.get_executor());
  asio::post(d->io, [d] {
    d->start_misc_timer();
    d->connect();
  });
  d->thread = std::thread([d] {
    try {
      d->io.run();
    } catch (const std::exception& e) {
      spdlog::critical("mqtt: event loop stopped by an exception: {}", e.what());
    }
  });
}

void Client::stop(std::chrono::milliseconds grace) {
  auto* d = impl_.get();
  if (!d->thread.joinable()) {
    if (d->mosq) {
      mosquitto_destroy(d->mosq);
      d->mosq = nullptr;
    }
    return;
  }
  std::promise<void> stopped;
  auto deadline = std::chrono::steady_clock::now() + grace;
  // Poll on the MQTT thread until every received message is committed (and its PUBACK written),
  // or the grace period ends; then disconnect without ending the broker-side session.
  std::function<void()> try_stop;
  try_stop = [d, deadline, &try_stop, &stopped] {
    if (d->pending_acks > 0 && std::chrono::steady_clock::now() < deadline) {
      auto t = std::make_shared<asio::steady_timer>(d->io, kStopPollInterval);
      t->async_wait([t, &try_stop](const boost::system::error_code&) { try_stop(); });
      return;
    }
    d->stopping = true;
    if (d->socket) {
      d->flush();
      mosquitto_disconnect_v5(d->mosq, 0, nullptr);
      if (d->socket && d->pending_acks == 0) mosquitto_loop_write(d->mosq, 1);
    }
    d->detach_socket();
    d->is_connected = false;
    d->misc_timer.cancel();
    d->reconnect_timer.cancel();
    d->work.reset();
    stopped.set_value();
  };
  asio::post(d->io, [&try_stop] { try_stop(); });
  stopped.get_future().wait();
  d->io.stop();
  d->thread.join();
  mosquitto_destroy(d->mosq);
  d->mosq = nullptr;
}

void Client::publish(std::string topic, std::string payload, int qos, bool retain) {
  auto* d = impl_.get();
  asio::post(d->io, [d, topic = std::move(topic), payload = std::move(payload), qos, retain] {
    if (!d->mosq) return;
    int rc = mosquitto_publish_v5(d->mosq, nullptr, topic.c_str(), static_cast<int>(payload.size()),
                                  payload.data(), qos, retain, nullptr);
    if (rc != MOSQ_ERR_SUCCESS) {
      spdlog::warn("mqtt: publish to {} failed: {}", topic, error_text(rc));
      return;
    }
    d->stats.published++;
    d->flush();
  });
}

void Client::set_paused(bool paused) {
  auto* d = impl_.get();
  asio::post(d->io, [d, paused] {
    if (d->paused == paused) return;
    d->paused = paused;
    if (paused) {
      d->pause_when_idle();
      return;
    }
    spdlog::info("mqtt: {} resumed", d->config.client_id);
    d->backoff = std::chrono::milliseconds(0);
    if (!d->socket && d->mosq) {
      d->reconnect_timer.cancel();
      d->connect();
    }
  });
}

bool Client::connected() const { return impl_->is_connected.load(); }

std::string Client::status() const {
  std::lock_guard lock(impl_->status_mutex);
  return impl_->status_text;
}

Stats Client::stats() const {
  // Each counter is exact; together they may be a moment apart, which is fine for metrics.
  return impl_->stats.snapshot();
}

}  // namespace sp::mqtt
