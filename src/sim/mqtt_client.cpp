#include "mqtt_client.hpp"

#include <fmt/format.h>
#include <mqtt_protocol.h>

#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <stdexcept>

namespace {
// Set while this thread is inside mosquitto_new (which opens the pair in 2.0.11) or
// mosquitto_connect/reconnect (which re-open it in other versions).
thread_local bool t_in_mosquitto_setup = false;
std::atomic<std::uint64_t> g_refused_socketpairs{0};

struct SetupScope {
  SetupScope() { t_in_mosquitto_setup = true; }
  ~SetupScope() { t_in_mosquitto_setup = false; }
  SetupScope(const SetupScope&) = delete;
  SetupScope& operator=(const SetupScope&) = delete;
};
}  // namespace

// Measured (/proc/<pid>/fd): every connected libmosquitto 2.0.11 client held three descriptors,
// its socket and the two ends of a socketpair that mosquitto_new opens so that a
// publish from another thread can wake mosquitto_loop()'s select(). The simulator never calls
// mosquitto_loop (the poll loop drives loop_read/loop_write itself, on the one thread that also
// publishes), so the pair only cost two descriptors per device: a limit of 20,000 ran out at 6,600
// devices (3 x 6,600). libmosquitto treats a failed socketpair as non-fatal (it logs "outgoing
// publish commands may be delayed", which concerns mosquitto_loop only) and leaves both ends
// invalid. This definition takes precedence over libc's for libmosquitto (its calls go through the
// PLT) and refuses the pair only while this thread is inside those calls; every other caller
// (libcurl's wakeup pair, ...) gets the real system call.
extern "C" int socketpair(int domain, int type, int protocol, int fds[2]) noexcept {
  if (t_in_mosquitto_setup) {
    g_refused_socketpairs.fetch_add(1, std::memory_order_relaxed);
    errno = EOPNOTSUPP;
    return -1;
  }
  return static_cast<int>(::syscall(SYS_socketpair, domain, type, protocol, fds));
}

namespace sp::sim {

std::uint64_t refused_socketpairs() { return g_refused_socketpairs.load(); }

MosquittoLibrary::MosquittoLibrary() { mosquitto_lib_init(); }
MosquittoLibrary::~MosquittoLibrary() { mosquitto_lib_cleanup(); }

std::string error_text(int rc) { return fmt::format("{} ({})", mosquitto_strerror(rc), rc); }

std::string reason_text(int reason_code) {
  return fmt::format("{} (0x{:02x})", mosquitto_reason_string(reason_code), reason_code);
}

namespace {

MqttListener& listener_of(void* obj) { return *static_cast<MqttListener*>(obj); }

void check(int rc, const std::string& what) {
  if (rc != MOSQ_ERR_SUCCESS) throw std::runtime_error(what + ": " + error_text(rc));
}

}  // namespace

MqttClient::MqttClient(const BrokerOptions& broker, const ClientSettings& settings,
                       MqttListener& listener)
    : broker_(broker), settings_(settings), listener_(listener) {
  {
    SetupScope scope;
    mosq_ = mosquitto_new(settings_.client_id.c_str(), settings_.clean_start, &listener_);
  }
  if (!mosq_) throw std::runtime_error("mosquitto_new failed for " + settings_.client_id);
  const bool v5 = broker_.protocol == Protocol::kV5;
  check(mosquitto_int_option(mosq_, MOSQ_OPT_PROTOCOL_VERSION,
                             v5 ? MQTT_PROTOCOL_V5 : MQTT_PROTOCOL_V311),
        "protocol version");
  // Small packets are the whole workload: do not let Nagle hold them back.
  check(mosquitto_int_option(mosq_, MOSQ_OPT_TCP_NODELAY, 1), "TCP_NODELAY");
  if (v5) {
    check(mosquitto_int_option(mosq_, MOSQ_OPT_SEND_MAXIMUM, settings_.send_maximum),
          "send maximum");
    check(mosquitto_int_option(mosq_, MOSQ_OPT_RECEIVE_MAXIMUM, settings_.receive_maximum),
          "receive maximum");
    if (settings_.session_expiry_s > 0) {
      check(mosquitto_property_add_int32(&connect_props_, MQTT_PROP_SESSION_EXPIRY_INTERVAL,
                                         settings_.session_expiry_s),
            "session expiry property");
    }
  } else {
    check(mosquitto_max_inflight_messages_set(mosq_, static_cast<unsigned>(settings_.send_maximum)),
          "max inflight");
  }
  check(mosquitto_tls_set(mosq_, broker_.cafile.c_str(), nullptr, settings_.cert_file.c_str(),
                          settings_.key_file.c_str(), nullptr),
        fmt::format("TLS files for {} ({}, {})", settings_.client_id, settings_.cert_file,
                    settings_.key_file));
  check(mosquitto_tls_opts_set(mosq_, 1, "tlsv1.2", nullptr), "TLS options");
  if (broker_.insecure) check(mosquitto_tls_insecure_set(mosq_, true), "TLS insecure");

  mosquitto_connect_v5_callback_set(
      mosq_, [](mosquitto*, void* obj, int rc, int, const mosquitto_property*) {
        listener_of(obj).on_connect(rc);
      });
  mosquitto_disconnect_v5_callback_set(
      mosq_, [](mosquitto*, void* obj, int rc, const mosquitto_property*) {
        listener_of(obj).on_disconnect(rc);
      });
  mosquitto_publish_v5_callback_set(
      mosq_, [](mosquitto*, void* obj, int mid, int reason, const mosquitto_property*) {
        listener_of(obj).on_publish(mid, reason);
      });
  mosquitto_message_v5_callback_set(
      mosq_, [](mosquitto*, void* obj, const mosquitto_message* m, const mosquitto_property*) {
        listener_of(obj).on_message(*m);
      });
  mosquitto_subscribe_v5_callback_set(
      mosq_, [](mosquitto*, void* obj, int mid, int count, const int* granted,
                const mosquitto_property*) { listener_of(obj).on_subscribe(mid, count, granted); });
}

MqttClient::~MqttClient() {
  mosquitto_property_free_all(&connect_props_);
  if (mosq_) mosquitto_destroy(mosq_);
}

int MqttClient::connect() {
  ++connection_attempts_;
  SetupScope scope;
  return mosquitto_connect_bind_v5(mosq_, broker_.host.c_str(), broker_.port, broker_.keepalive_s,
                                   nullptr, connect_props_);
}

int MqttClient::reconnect() {
  ++connection_attempts_;
  SetupScope scope;
  return mosquitto_reconnect(mosq_);
}

int MqttClient::disconnect() { return mosquitto_disconnect(mosq_); }

int MqttClient::publish(const std::string& topic, const std::string& payload, int qos, int* mid) {
  return mosquitto_publish_v5(mosq_, mid, topic.c_str(), static_cast<int>(payload.size()),
                              payload.data(), qos, false, nullptr);
}

int MqttClient::subscribe(const std::string& filter, int qos, int* mid, bool no_local) {
  const int options = no_local && broker_.protocol == Protocol::kV5 ? MQTT_SUB_OPT_NO_LOCAL : 0;
  return mosquitto_subscribe_v5(mosq_, mid, filter.c_str(), qos, options, nullptr);
}

int MqttClient::socket() const { return mosquitto_socket(mosq_); }
bool MqttClient::want_write() const { return mosquitto_want_write(mosq_); }
int MqttClient::loop_read() { return mosquitto_loop_read(mosq_, 1); }
int MqttClient::loop_write() { return mosquitto_loop_write(mosq_, 1); }
int MqttClient::loop_misc() { return mosquitto_loop_misc(mosq_); }

}  // namespace sp::sim
