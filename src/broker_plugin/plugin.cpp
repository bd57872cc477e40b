// mosquitto_smartproduct.so: the mosquitto 2.0 (plugin API v5) glue around
// sp::broker_plugin::Policy. Every callback converts broker data into core types, calls the core,
// and performs the effects the core asks for (publish, set username, kick, persist). No exception
// leaves a callback.

#include <openssl/x509.h>
#include <unistd.h>

#include <chrono>
#include <ctime>
#include <exception>
#include <memory>
#include <string>
#include <utility>
#include <vector>

extern "C" {
#include <mosquitto.h>
#include <mosquitto_broker.h>
#include <mosquitto_plugin.h>
}

#include "cert_info.hpp"
#include "policy.hpp"
#include "smartproduct/core/openssl_ptr.hpp"

namespace {

using sp::broker_plugin::Access;
using sp::broker_plugin::AclResult;
using sp::broker_plugin::AuthOutcome;
using sp::broker_plugin::Policy;
using sp::broker_plugin::Publication;

struct PluginContext {
  mosquitto_plugin_id_t* id = nullptr;
  std::unique_ptr<Policy> policy;
  bool broker_started_sent = false;
};

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
    const auto identity = sp::broker_plugin::extract_identity(cert.get());

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
  } catch (...) {
    log_exception("reload");
  }
  return MOSQ_ERR_SUCCESS;
}

int on_tick(int, void*, void* userdata) {
  try {
    auto* ctx = static_cast<PluginContext*>(userdata);
    if (!ctx->broker_started_sent) {
      ctx->broker_started_sent = true;
      publish(ctx->policy->broker_started(static_cast<long>(::getpid())));
    }
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
          {MOSQ_EVT_TICK, on_tick, nullptr}};
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
    auto ctx = std::make_unique<PluginContext>();
    ctx->id = identifier;
    const auto epoch = static_cast<std::int64_t>(std::time(nullptr));
    ctx->policy = std::make_unique<Policy>(std::move(*opts), std::move(*state), epoch, log_sink);
    if (ctx->policy->options().service_issuer_akis.empty()) {
      log_line(
          MOSQ_LOG_WARNING,
          "service_issuer_akis is not set: any trusted CA can issue service-user certificates");
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
                 std::to_string(st.activated_fingerprints.size()) + " activations, activation " +
                 (ctx->policy->options().require_activation ? "required" : "not required") + ")");
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
