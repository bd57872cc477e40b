// mosquitto_smartproduct.so: the mosquitto 2.0 (plugin API v5) glue around
// sp::broker_plugin::Policy. Every callback converts broker data into core types, calls the core,
// and performs the effects the core asks for (publish, set username, kick, persist). No exception
// leaves a callback.

#include <openssl/x509.h>
#include <unistd.h>
#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <ctime>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

extern "C" {
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
}

#include "cert_info.hpp"
#include "policy.hpp"
#include "smartproduct/broker/spool.hpp"
#include "smartproduct/core/openssl_ptr.hpp"
#include "trust.hpp"

namespace {

using sp::broker_plugin::Access;
using sp::broker_plugin::AclResult;
using sp::broker_plugin::AuthOutcome;
using sp::broker_plugin::Policy;
using sp::broker_plugin::Publication;

// The ingest tap: the spool writer (mosquitto's thread) and its fdatasync timer thread.
struct Tap {
  std::unique_ptr<sp::spool::Writer> writer;
  std::thread syncer;
  std::mutex mutex;
  std::condition_variable wake;
  bool stopping = false;
  std::atomic<bool> sync_failed{false};
  std::uint64_t appended = 0;
  std::uint64_t refused = 0;
  std::string announced_state;  // last state published on kSpoolTopic
  std::int64_t last_refusal_log_ms = 0;

  void stop() {
    {
      std::lock_guard lock(mutex);
      stopping = true;
    }
    wake.notify_all();
    if (syncer.joinable()) syncer.join();
    writer.reset();  // syncs what is left
  }
};

struct PluginContext {
  mosquitto_plugin_id_t* id = nullptr;
  std::unique_ptr<Policy> policy;
  sp::broker_plugin::TrustStore trust;
  bool broker_started_sent = false;
  std::unique_ptr<Tap> tap;
  ~PluginContext() {
    if (tap) tap->stop();
  }
};

// Retained status of the tap: {"state":"ok|full|error","usedBytes":..,"quotaBytes":..,...}.
constexpr const char* kSpoolTopic = "$SYS/smartproduct/spool";

// The CONTROL registration is keyed by this exact topic string, for register and unregister.
const std::string kControlTopic(sp::broker_plugin::kControlTopic);

void log_line(int level, const std::string& msg) {
  mosquitto_log_printf(level, "smartproduct: %s", msg.c_str());
}

void log_sink(sp::broker_plugin::LogLevel level, const std::string& msg) {
  switch (level) {
    case sp::broker_plugin::LogLevel::kInfo:
      log_line(MOSQ_LOG_INFO, msg);
      break;
    case sp::broker_plugin::LogLevel::kWarning:
      log_line(MOSQ_LOG_WARNING, msg);
      break;
    case sp::broker_plugin::LogLevel::kError:
      log_line(MOSQ_LOG_ERR, msg);
      break;
  }
}

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

void publish(const Publication& p, const char* to_client = nullptr) {
  const int rc =
      mosquitto_broker_publish_copy(to_client, p.topic.c_str(), static_cast<int>(p.payload.size()),
                                    p.payload.data(), 1, p.retain, nullptr);
  if (rc != MOSQ_ERR_SUCCESS) log_line(MOSQ_LOG_ERR, "publish to " + p.topic + " failed");
}

void log_exception(const char* where) {
  try {
    throw;
  } catch (const std::exception& e) {
    log_line(MOSQ_LOG_ERR, std::string(where) + ": " + e.what());
  } catch (...) {
    log_line(MOSQ_LOG_ERR, std::string(where) + ": unknown exception");
  }
}

int on_basic_auth(int, void* event_data, void* userdata) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    auto* ed = static_cast<mosquitto_evt_basic_auth*>(event_data);
    // mosquitto_client_certificate returns a new reference.
    const sp::ossl::X509Ptr cert(static_cast<X509*>(mosquitto_client_certificate(ed->client)));
    if (!cert) {
      log_line(MOSQ_LOG_WARNING, "refused a client without a certificate");
      return MOSQ_ERR_AUTH;
    }
    auto identity = sp::broker_plugin::extract_identity(cert.get());
    // The issuer is the anchor whose key verifies the signature, never what the AKI claims.
    using sp::broker_plugin::IssuerKind;
    const bool service = ctx->policy->is_service_user(identity.cn);
    auto ca = service ? ctx->trust.verify_service(cert.get(), identity.fingerprint)
                      : ctx->trust.verify_device(cert.get(), identity.fingerprint);
    if (ca) {
      identity.issuer_kind = service ? IssuerKind::kService : IssuerKind::kDevice;
      identity.ca_id = std::move(*ca);
    }

    sp::broker_plugin::ConnectAttempt attempt;
    attempt.key = ed->client;
    if (const char* id = mosquitto_client_id(ed->client); id != nullptr) attempt.client_id = id;
    if (const char* addr = mosquitto_client_address(ed->client); addr != nullptr) {
      attempt.address = addr;
    }
    attempt.protocol_version = mosquitto_client_protocol_version(ed->client);

    auto decision = ctx->policy->authenticate(attempt, identity, now_ms());
    switch (decision.outcome) {
      case AuthOutcome::kRejected:
        if (decision.presence) publish(*decision.presence);
        return MOSQ_ERR_AUTH;
      case AuthOutcome::kReauthAccepted:
        return MOSQ_ERR_SUCCESS;
      case AuthOutcome::kAccepted:
        // The username the client sent is ignored: ACLs and logs must see the certificate's CN.
        if (mosquitto_set_username(ed->client, decision.username.c_str()) != MOSQ_ERR_SUCCESS) {
          ctx->policy->on_disconnect(ed->client, now_ms());
          log_line(MOSQ_LOG_ERR, "cannot set username for '" + decision.username + "'");
          return MOSQ_ERR_AUTH;
        }
        if (decision.presence) publish(*decision.presence);
        return MOSQ_ERR_SUCCESS;
    }
    return MOSQ_ERR_AUTH;
  } catch (...) {
    log_exception("basic_auth");
    return MOSQ_ERR_AUTH;
  }
}

int on_acl_check(int, void* event_data, void* userdata) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    auto* ed = static_cast<mosquitto_evt_acl_check*>(event_data);
    Access access{};
    switch (ed->access) {
      case MOSQ_ACL_READ:
        access = Access::kRead;
        break;
      case MOSQ_ACL_WRITE:
        access = Access::kWrite;
        break;
      case MOSQ_ACL_SUBSCRIBE:
        access = Access::kSubscribe;
        break;
      case MOSQ_ACL_UNSUBSCRIBE:
        access = Access::kUnsubscribe;
        break;
      default:
        return MOSQ_ERR_ACL_DENIED;
    }
    const char* username = mosquitto_client_username(ed->client);
    if (username == nullptr || ed->topic == nullptr) return MOSQ_ERR_ACL_DENIED;
    switch (ctx->policy->check_acl(ed->client, username, ed->topic, access)) {
      case AclResult::kAllow:
        return MOSQ_ERR_SUCCESS;
      case AclResult::kDefer:
        return MOSQ_ERR_PLUGIN_DEFER;
      case AclResult::kDeny:
        return MOSQ_ERR_ACL_DENIED;
    }
    return MOSQ_ERR_ACL_DENIED;
  } catch (...) {
    log_exception("acl_check");
    return MOSQ_ERR_ACL_DENIED;
  }
}

int on_disconnect(int, void* event_data, void* userdata) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    auto* ed = static_cast<mosquitto_evt_disconnect*>(event_data);
    // Also fires for connections refused at auth; the core ignores those (never announced).
    if (auto ev = ctx->policy->on_disconnect(ed->client, now_ms())) publish(*ev);
  } catch (...) {
    log_exception("disconnect");
  }
  return MOSQ_ERR_SUCCESS;
}

// The daemon changes the capath before it tells the plugin (setState): re-read it, so a removed
// CA stops verifying at once (mosquitto's own TLS store forgets it only on restart).
void reload_trust(PluginContext& ctx) {
  if (auto r = ctx.trust.reload_devices(); !r) {
    log_line(MOSQ_LOG_ERR, "keeping the previous device CAs: " + r.error());
    return;
  }
  for (const auto& w : ctx.trust.warnings()) log_line(MOSQ_LOG_WARNING, w);
  log_line(MOSQ_LOG_INFO,
           "device CAs: " + std::to_string(ctx.trust.device_anchor_count()) + " loaded");
}

int on_control(int, void* event_data, void* userdata) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    auto* ed = static_cast<mosquitto_evt_control*>(event_data);
    const char* username = mosquitto_client_username(ed->client);
    const char* requester = mosquitto_client_id(ed->client);
    const std::string_view payload =
        ed->payload != nullptr
            ? std::string_view(static_cast<const char*>(ed->payload), ed->payloadlen)
            : std::string_view();
    auto outcome = ctx->policy->handle_control(username != nullptr ? username : "", payload);
    if (!outcome.authorized) return MOSQ_ERR_SUCCESS;
    if (outcome.trust_changed) reload_trust(*ctx);
    if (outcome.state_changed) {
      const auto& path = ctx->policy->options().state_file;
      if (auto saved = sp::broker_plugin::save_state_file(path, ctx->policy->state()); !saved) {
        log_line(MOSQ_LOG_ERR, "cannot persist state: " + saved.error());
      }
    }
    if (requester != nullptr) {
      publish(Publication{std::string(sp::broker_plugin::kControlResponseTopic), outcome.response,
                          false},
              requester);
    }
    // Kicking runs the DISCONNECT callback re-entrantly; the core is not iterating anything here.
    for (const auto& id : outcome.kick_client_ids) {
      log_line(MOSQ_LOG_NOTICE, "kicking '" + id + "' (control)");
      mosquitto_kick_client_by_clientid(id.c_str(), false);
    }
  } catch (...) {
    log_exception("control");
  }
  return MOSQ_ERR_SUCCESS;
}

int on_reload(int, void*, void* userdata) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    const auto& path = ctx->policy->options().state_file;
    auto st = sp::broker_plugin::load_state_file(path);
    if (!st) {
      log_line(MOSQ_LOG_ERR, "reload: keeping the previous state: " + st.error());
    } else {
      ctx->policy->replace_state(std::move(*st));
      log_line(MOSQ_LOG_NOTICE, "reload: state re-read from " + path);
    }
    reload_trust(*ctx);
  } catch (...) {
    log_exception("reload");
  }
  return MOSQ_ERR_SUCCESS;
}

// The tap (MOSQ_EVT_MESSAGE runs after the ACL check and before mosquitto stores the message or
// sends the PUBACK, handle_publish.c in 2.0.11): a device message on its own telemetry or event
// topic is write()n to the spool first. If it cannot be, the publish is refused by an error that
// makes mosquitto close the connection WITHOUT a PUBACK: the device keeps the message and sends it
// again after reconnecting. (2.0.11 ignores the reason code a MESSAGE callback sets, and
// MOSQ_ERR_ACL_DENIED would send a PUBACK, which an MQTT 3.1.1 device reads as success.)
int on_message(int, void* event_data, void* userdata) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    auto* ed = static_cast<mosquitto_evt_message*>(event_data);
    // Behaviour counters (messagesSent, bytesSent, maxMessageBytes): one pointer-keyed lookup.
    ctx->policy->count_message(ed->client, ed->payloadlen);
    if (!ctx->tap || ed->topic == nullptr) return MOSQ_ERR_SUCCESS;
    const char* username = mosquitto_client_username(ed->client);
    if (username == nullptr || ctx->policy->is_service_user(username)) return MOSQ_ERR_SUCCESS;
    const auto& o = ctx->policy->options();
    const std::string_view topic(ed->topic);
    const std::string_view user(username);
    auto is_own = [&](const std::string& prefix) {
      return topic.size() == prefix.size() + 1 + user.size() && topic.starts_with(prefix) &&
             topic[prefix.size()] == '/' && topic.substr(prefix.size() + 1) == user;
    };
    if (!is_own(o.telemetry_topic) && !is_own(o.event_topic)) return MOSQ_ERR_SUCCESS;

    sp::spool::Record rec;
    rec.received_ms = now_ms();
    if (const char* id = mosquitto_client_id(ed->client); id != nullptr) rec.client_id = id;
    rec.topic.assign(topic);
    rec.qos = ed->qos;
    rec.retain = ed->retain;
    rec.payload.assign(static_cast<const char*>(ed->payload), ed->payloadlen);
    auto& tap = *ctx->tap;
    const auto status = tap.writer->append(std::move(rec));
    if (status == sp::spool::AppendStatus::kOk) {
      tap.appended++;
      return MOSQ_ERR_SUCCESS;
    }
    tap.refused++;
    const auto now = now_ms();
    if (now - tap.last_refusal_log_ms >= 1000) {
      tap.last_refusal_log_ms = now;
      log_line(MOSQ_LOG_WARNING,
               std::string("spool ") +
                   (status == sp::spool::AppendStatus::kQuotaExceeded
                        ? "full (" + std::to_string(tap.writer->used_bytes()) + " bytes)"
                        : "write failed: " + tap.writer->last_error()) +
                   ": closing '" + std::string(user) + "' without PUBACK (" +
                   std::to_string(tap.refused) + " refused so far)");
    }
    return MOSQ_ERR_ADMINISTRATIVE_ACTION;
  } catch (...) {
    log_exception("message");
    return MOSQ_ERR_ADMINISTRATIVE_ACTION;
  }
}

void announce_spool(Tap& tap) {
  const char* state = tap.sync_failed.load()         ? "error"
                      : tap.writer->quota_exceeded() ? "full"
                                                     : "ok";
  if (state == tap.announced_state) return;
  tap.announced_state = state;
  const nlohmann::json j{{"state", state},
                         {"usedBytes", tap.writer->used_bytes()},
                         {"segment", tap.writer->current_segment()},
                         {"appended", tap.appended},
                         {"refused", tap.refused},
                         {"tsMs", now_ms()}};
  log_line(std::string_view(state) == "ok" ? MOSQ_LOG_INFO : MOSQ_LOG_WARNING,
           "spool " + std::string(state));
  publish(Publication{kSpoolTopic, j.dump(), true});
}

int on_tick(int, void*, void* userdata) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    if (!ctx->broker_started_sent) {
      ctx->broker_started_sent = true;
      publish(ctx->policy->broker_started(static_cast<long>(::getpid())));
    }
    if (ctx->tap) announce_spool(*ctx->tap);
    for (const auto& p : ctx->policy->behaviour_tick(now_ms())) publish(p);
  } catch (...) {
    log_exception("tick");
  }
  return MOSQ_ERR_SUCCESS;
}

struct Registration {
  int event;
  MOSQ_FUNC_generic_callback cb;
  const void* event_data;
};

std::vector<Registration> registrations() {
  return {{MOSQ_EVT_BASIC_AUTH, on_basic_auth, nullptr},
          {MOSQ_EVT_ACL_CHECK, on_acl_check, nullptr},
          {MOSQ_EVT_DISCONNECT, on_disconnect, nullptr},
          {MOSQ_EVT_CONTROL, on_control, kControlTopic.c_str()},
          {MOSQ_EVT_RELOAD, on_reload, nullptr},
          {MOSQ_EVT_TICK, on_tick, nullptr},
          {MOSQ_EVT_MESSAGE, on_message, nullptr}};
}

}  // namespace

extern "C" {

__attribute__((visibility("default"))) int mosquitto_plugin_version(int supported_version_count,
                                                                    const int* supported_versions) {
  for (int i = 0; i < supported_version_count; ++i) {
    if (supported_versions[i] == 5) return 5;
  }
  return -1;
}

__attribute__((visibility("default"))) int mosquitto_plugin_init(mosquitto_plugin_id_t* identifier,
                                                                 void** userdata,
                                                                 struct mosquitto_opt* options,
                                                                 int option_count) {
  try {
    std::vector<std::pair<std::string, std::string>> kv;
    for (int i = 0; i < option_count; ++i) {
      kv.emplace_back(options[i].key != nullptr ? options[i].key : "",
                      options[i].value != nullptr ? options[i].value : "");
    }
    auto opts = sp::broker_plugin::parse_options(kv);
    if (!opts) {
      log_line(MOSQ_LOG_ERR, "invalid options: " + opts.error());
      return MOSQ_ERR_INVAL;
    }
    auto state = sp::broker_plugin::load_state_file(opts->state_file);
    if (!state) {
      log_line(MOSQ_LOG_ERR, "refusing to start: " + state.error());
      return MOSQ_ERR_INVAL;
    }
    auto trust = sp::broker_plugin::TrustStore::load(opts->service_ca, opts->device_ca_dir);
    if (!trust) {
      log_line(MOSQ_LOG_ERR, "refusing to start: " + trust.error());
      return MOSQ_ERR_INVAL;
    }
    for (const auto& w : trust->warnings()) log_line(MOSQ_LOG_WARNING, w);
    auto ctx = std::make_unique<PluginContext>();
    ctx->id = identifier;
    ctx->trust = std::move(*trust);
    const auto epoch = static_cast<std::int64_t>(std::time(nullptr));
    ctx->policy = std::make_unique<Policy>(std::move(*opts), std::move(*state), epoch, log_sink);
    if (!ctx->policy->options().service_issuer_akis.empty()) {
      log_line(MOSQ_LOG_WARNING,
               "service_issuer_akis is deprecated (an AKI is chosen by the issuer): service "
               "identities are verified by signature against service_ca");
    }
    if (const auto& o = ctx->policy->options(); !o.spool_dir.empty()) {
      auto tap = std::make_unique<Tap>();
      tap->writer = std::make_unique<sp::spool::Writer>(
          sp::spool::WriterOptions{o.spool_dir, o.spool_segment_bytes, o.spool_quota_bytes});
      if (auto err = tap->writer->open(); !err.empty()) {
        log_line(MOSQ_LOG_ERR, "refusing to start: spool: " + err);
        return MOSQ_ERR_INVAL;
      }
      // The data is in the page cache once write() returned (it survives a broker crash); this
      // thread bounds what a power loss can take to one interval.
      tap->syncer = std::thread([t = tap.get(), ms = o.spool_sync_ms] {
        std::unique_lock lock(t->mutex);
        while (!t->stopping) {
          t->wake.wait_for(lock, std::chrono::milliseconds(ms));
          lock.unlock();
          t->sync_failed = !t->writer->sync();
          lock.lock();
        }
      });
      log_line(MOSQ_LOG_NOTICE, "spool: " + o.spool_dir + ", segment " +
                                    std::to_string(tap->writer->current_segment()) +
                                    ", fdatasync every " + std::to_string(o.spool_sync_ms) +
                                    " ms, quota " + std::to_string(o.spool_quota_bytes) + " bytes");
      ctx->tap = std::move(tap);
    }
    for (const auto& r : registrations()) {
      const int rc =
          mosquitto_callback_register(identifier, r.event, r.cb, r.event_data, ctx.get());
      if (rc != MOSQ_ERR_SUCCESS) {
        log_line(MOSQ_LOG_ERR, "cannot register callback for event " + std::to_string(r.event));
        for (const auto& u : registrations()) {
          mosquitto_callback_unregister(identifier, u.event, u.cb, u.event_data);
        }
        return rc;
      }
    }
    const auto& st = ctx->policy->state();
    log_line(MOSQ_LOG_NOTICE,
             "loaded (epoch " + std::to_string(epoch) + ", " +
                 std::to_string(st.revoked_fingerprints.size() + st.revoked_usernames.size()) +
                 " revocations, " + std::to_string(st.disabled_cas.size()) + " disabled CAs, " +
                 std::to_string(ctx->trust.service_anchor_count()) + " service and " +
                 std::to_string(ctx->trust.device_anchor_count()) + " device CA certificates, " +
                 std::to_string(st.activated_fingerprints.size()) + " activations, " +
                 std::to_string(st.quarantined_usernames.size()) + " quarantined, activation " +
                 (ctx->policy->options().require_activation ? "required" : "not required") +
                 ", behaviour reports " +
                 (ctx->policy->options().behaviour_interval_ms == 0
                      ? std::string("off")
                      : "every " + std::to_string(ctx->policy->options().behaviour_interval_ms) +
                            " ms") +
                 ")");
    *userdata = ctx.release();
    return MOSQ_ERR_SUCCESS;
  } catch (...) {
    log_exception("plugin_init");
    return MOSQ_ERR_UNKNOWN;
  }
}

__attribute__((visibility("default"))) int mosquitto_plugin_cleanup(void* userdata,
                                                                    struct mosquitto_opt*, int) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    if (ctx == nullptr) return MOSQ_ERR_SUCCESS;
    for (const auto& r : registrations()) {
      mosquitto_callback_unregister(ctx->id, r.event, r.cb, r.event_data);
    }
    delete ctx;
  } catch (...) {
    log_exception("plugin_cleanup");
  }
  return MOSQ_ERR_SUCCESS;
}

}  // extern "C"
