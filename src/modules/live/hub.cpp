// The live hub: entitlement, fan-out and the client protocol of /api/ws (see live/hub.hpp).

#include "smartproduct/live/hub.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <mutex>

#include "smartproduct/http/errors.hpp"
#include "smartproduct/telemetry/watch.hpp"

namespace sp::live {
namespace {

using nlohmann::json;

// The owner cache forgets everything past this many devices (then refills on demand).
constexpr std::size_t kMaxCachedOwners = 200000;
constexpr std::size_t kMaxDeviceIdBytes = 128;

void erase_one(std::vector<Hub::Connection*>& v, Hub::Connection* c) {
  auto it = std::find(v.begin(), v.end(), c);
  if (it != v.end()) {
    *it = v.back();
    v.pop_back();
  }
}

std::shared_ptr<const std::string> serialise(const json& message) {
  return std::make_shared<const std::string>(
      message.dump(-1, ' ', false, json::error_handler_t::replace));
}

bool valid_device_id(const std::string& id) {
  if (id.empty() || id.size() > kMaxDeviceIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char ch) {
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == ':' || ch == '_' || ch == '-';
  });
}

}  // namespace

Hub::Connection::Connection(Hub& hub, std::shared_ptr<Peer> peer, std::int64_t opened_at_ms)
    : hub_(hub), peer_(std::move(peer)), opened_at_ms_(opened_at_ms) {}

Hub::Connection::~Connection() = default;

void Hub::Connection::on_text(std::string_view text) {
  // A client that sends faster than the hub handles is closed rather than queued without bound.
  if (pending_.fetch_add(1) >= hub_.config_.max_pending_messages) {
    pending_.fetch_sub(1);
    std::unique_lock lock(hub_.mutex_);
    hub_.close_locked(*this, kCloseFlooding, "too many messages");
    return;
  }
  hub_.executor_([self = shared_from_this(), text = std::string(text)] {
    self->hub_.handle(self, text);
    self->pending_.fetch_sub(1);
  });
}

void Hub::Connection::on_closed() { hub_.remove(this); }

Hub::Hub(LiveConfig config, const Clock& clock, Authenticate authenticate, OwnerLookup owner_lookup,
         Executor executor, telemetry::TelemetryWatch* watch)
    : config_(config),
      clock_(clock),
      authenticate_(std::move(authenticate)),
      owner_lookup_(std::move(owner_lookup)),
      executor_(std::move(executor)),
      watch_(watch) {}

Hub::~Hub() {
  std::unique_lock lock(mutex_);
  for (auto& [raw, c] : all_) forget_locked(*c);
}

Result<std::shared_ptr<Hub::Connection>> Hub::open(std::shared_ptr<Peer> peer) {
  std::unique_lock lock(mutex_);
  if (all_.size() >= config_.max_connections) {
    refused_connections_++;
    return fail(errors::kTooManyConnections);
  }
  std::shared_ptr<Connection> c(new Connection(*this, std::move(peer), clock_.now_ms()));
  all_.emplace(c.get(), c);
  return c;
}

void Hub::remove(Connection* c) {
  std::shared_ptr<Connection> keep;  // released after the lock
  std::unique_lock lock(mutex_);
  auto it = all_.find(c);
  if (it == all_.end()) return;
  keep = std::move(it->second);
  all_.erase(it);
  forget_locked(*c);
}

// Takes the connection out of every index (it receives nothing more).
void Hub::forget_locked(Connection& c) {
  if (c.authenticated_) {
    auto u = by_user_.find(c.user_id_);
    if (u != by_user_.end()) {
      erase_one(u->second, &c);
      if (u->second.empty()) by_user_.erase(u);
    }
    if (c.admin_) erase_one(admins_, &c);
    c.authenticated_ = false;
    authenticated_count_--;
  }
  for (const auto& device : c.subscriptions_) {
    auto d = by_device_.find(device);
    if (d != by_device_.end()) {
      erase_one(d->second, &c);
      if (d->second.empty()) by_device_.erase(d);
    }
    if (watch_) watch_->unwatch(device);
    subscriptions_--;
  }
  c.subscriptions_.clear();
}

void Hub::close_locked(Connection& c, std::uint16_t code, std::string reason) {
  if (c.closing_) return;
  c.closing_ = true;
  forget_locked(c);
  c.peer_->close(code, std::move(reason));
}

void Hub::push_locked(Connection& c, const std::shared_ptr<const std::string>& text) {
  if (c.closing_) return;
  if (c.peer_->send(text)) {
    pushed_++;
  } else {
    refused_++;  // the transport closes a peer whose queue is full
  }
}

void Hub::reply(Connection& c, const json& message) {
  auto text = serialise(message);
  std::shared_lock lock(mutex_);
  push_locked(c, text);
}

void Hub::reply_error(Connection& c, const Error& error) {
  reply(c, {{"type", "error"},
            {"code", http_status(error.kind)},
            {"error", error.name},
            {"message", error.message}});
}

void Hub::handle(const std::shared_ptr<Connection>& c, const std::string& text) {
  {
    std::shared_lock lock(mutex_);
    if (c->closing_) return;
  }
  auto message = json::parse(text, nullptr, false);
  const auto* type = message.is_object() && message.contains("type") && message["type"].is_string()
                         ? message["type"].get_ptr<const std::string*>()
                         : nullptr;
  bool authenticated = false;
  {
    std::shared_lock lock(mutex_);
    authenticated = c->authenticated_;
  }
  if (type && *type == "auth") return handle_auth(c, message);
  if (!authenticated) {
    // Nothing but the token is accepted first: close, so a client without one learns it at once.
    rejected_auth_++;
    reply_error(*c, errors::kUnauthorized.error("Send {\"type\":\"auth\",\"token\":...} first."));
    std::unique_lock lock(mutex_);
    close_locked(*c, kCloseUnauthenticated, "authentication required");
    return;
  }
  if (message.is_discarded()) return reply_error(*c, errors::kInvalidJson.error());
  if (!type) return reply_error(*c, errors::kMissingField.error("type is required."));
  if (*type == "subscribe") return handle_subscribe(c, message, true);
  if (*type == "unsubscribe") return handle_subscribe(c, message, false);
  if (*type == "ping") return reply(*c, {{"type", "pong"}});
  reply_error(*c, errors::kInvalidRequest.error("Unknown message type."));
}

void Hub::handle_auth(const std::shared_ptr<Connection>& c, const json& m) {
  auto token = m.find("token");
  Result<Identity> who = token != m.end() && token->is_string() && !token->empty()
                             ? authenticate_(token->get_ref<const std::string&>())
                             : fail(errors::kUnauthorized, "token is required.");
  // The REST check tolerates a few seconds of clock skew past exp; a connection would be closed
  // at exp by tick() anyway, so such a token is refused here.
  if (who && who->expires_at_ms > 0 && who->expires_at_ms <= clock_.now_ms()) {
    who = fail(errors::kTokenExpired);
  }
  std::unique_lock lock(mutex_);
  if (c->closing_) return;
  if (!who) {
    rejected_auth_++;
    lock.unlock();
    reply_error(*c, who.error());
    lock.lock();
    close_locked(*c, kCloseUnauthenticated, "authentication failed");
    return;
  }
  if (c->authenticated_) {
    // A newer token of the same user extends the connection; another user's token ends it.
    if (who->user_id != c->user_id_) {
      close_locked(*c, kCloseForbidden, "token of another user");
      return;
    }
    c->expires_at_ms_ = who->expires_at_ms;
    if (c->admin_ != who->admin) {  // a role change applies at once
      if (c->admin_) erase_one(admins_, c.get());
      if (who->admin) admins_.push_back(c.get());
      c->admin_ = who->admin;
    }
  } else {
    auto& mine = by_user_[who->user_id];
    if (mine.size() >= config_.max_connections_per_user) {
      if (mine.empty()) by_user_.erase(who->user_id);
      lock.unlock();
      reply_error(*c, errors::kTooManyConnections.error(
                          "Too many live connections for this account; close another tab."));
      lock.lock();
      close_locked(*c, kCloseTooManyConnections, "too many connections");
      return;
    }
    mine.push_back(c.get());
    if (who->admin) admins_.push_back(c.get());
    c->authenticated_ = true;
    c->user_id_ = who->user_id;
    c->admin_ = who->admin;
    c->expires_at_ms_ = who->expires_at_ms;
    authenticated_count_++;
  }
  json ok = {{"type", "authenticated"},
             {"userId", who->user_id},
             {"admin", who->admin},
             {"expiresAt", who->expires_at_ms}};
  push_locked(*c, serialise(ok));
}

void Hub::handle_subscribe(const std::shared_ptr<Connection>& c, const json& m, bool on) {
  auto id = m.find("deviceId");
  if (id == m.end()) return reply_error(*c, errors::kMissingField.error("deviceId is required."));
  if (!id->is_string() || !valid_device_id(id->get_ref<const std::string&>())) {
    return reply_error(*c, errors::kInvalidDeviceId.error());
  }
  const std::string device = id->get<std::string>();
  if (!on) {
    std::unique_lock lock(mutex_);
    if (c->closing_) return;
    if (c->subscriptions_.erase(device)) {
      auto d = by_device_.find(device);
      if (d != by_device_.end()) {
        erase_one(d->second, c.get());
        if (d->second.empty()) by_device_.erase(d);
      }
      if (watch_) watch_->unwatch(device);
      subscriptions_--;
    }
    push_locked(*c, serialise({{"type", "unsubscribed"}, {"deviceId", device}}));
    return;
  }
  const auto owner = owner_of(device);
  std::unique_lock lock(mutex_);
  if (c->closing_) return;
  if (!owner) {
    lock.unlock();
    return reply_error(*c, errors::kMissingDevice.error());
  }
  if (!c->admin_ && *owner != c->user_id_) {
    lock.unlock();
    return reply_error(*c, errors::kDeviceAccessDenied.error());
  }
  if (!c->subscriptions_.count(device)) {
    if (c->subscriptions_.size() >= config_.max_subscriptions) {
      lock.unlock();
      return reply_error(*c, errors::kTooManySubscriptions.error());
    }
    c->subscriptions_.insert(device);
    by_device_[device].push_back(c.get());
    if (watch_) watch_->watch(device);
    subscriptions_++;
  }
  push_locked(*c, serialise({{"type", "subscribed"}, {"deviceId", device}}));
}

std::optional<std::string> Hub::owner_of(const std::string& device_id) {
  {
    std::shared_lock lock(owners_mutex_);
    auto it = owners_.find(device_id);
    if (it != owners_.end()) {
      owner_hits_++;
      return it->second;
    }
  }
  owner_lookups_++;
  auto owner = owner_lookup_(device_id);
  std::unique_lock lock(owners_mutex_);
  if (owners_.size() >= kMaxCachedOwners) owners_.clear();
  owners_.emplace(device_id, owner);  // a registration that raced us already set it: keep that
  return owner;
}

void Hub::device_registered(const std::string& device_id, const std::string& user_id) {
  std::unique_lock lock(owners_mutex_);
  owners_[device_id] = user_id;
}

void Hub::device_deleted(const std::string& device_id) {
  std::unique_lock lock(owners_mutex_);
  owners_.erase(device_id);  // read again (no live registration) when next needed
}

void Hub::publish_device(const std::string& device_id, const json& message) {
  if (authenticated_count_.load() == 0) return;  // nobody listens: no lookup, no JSON
  const auto owner = owner_of(device_id);
  std::shared_ptr<const std::string> text;
  std::shared_lock lock(mutex_);
  if (owner) {
    if (auto it = by_user_.find(*owner); it != by_user_.end()) {
      for (auto* c : it->second) {
        if (c->admin_) continue;  // reached below, once
        if (!text) text = serialise(message);
        push_locked(*c, text);
      }
    }
  }
  for (auto* c : admins_) {
    if (!text) text = serialise(message);
    push_locked(*c, text);
  }
}

void Hub::publish_telemetry(const std::string& device_id, const json& message) {
  {
    std::shared_lock lock(mutex_);
    if (by_device_.find(device_id) == by_device_.end()) return;
  }
  const auto owner = owner_of(device_id);
  std::shared_ptr<const std::string> text;
  std::shared_lock lock(mutex_);
  auto it = by_device_.find(device_id);
  if (it == by_device_.end()) return;
  for (auto* c : it->second) {
    // Checked on every push too: a device deleted or re-registered by someone else stops here.
    if (!c->admin_ && (!owner || *owner != c->user_id_)) continue;
    if (!text) text = serialise(message);
    push_locked(*c, text);
  }
}

void Hub::publish_user(const std::string& user_id, const json& message) {
  std::shared_lock lock(mutex_);
  auto it = by_user_.find(user_id);
  if (it == by_user_.end()) return;
  auto text = serialise(message);
  for (auto* c : it->second) push_locked(*c, text);
}

void Hub::publish_all(const json& message) {
  std::shared_lock lock(mutex_);
  auto text = serialise(message);
  for (auto& [user, connections] : by_user_) {
    for (auto* c : connections) push_locked(*c, text);
  }
}

void Hub::tick() {
  const auto now = clock_.now_ms();
  const auto auth_deadline = std::chrono::milliseconds(config_.auth_timeout).count();
  std::unique_lock lock(mutex_);
  for (auto& [raw, c] : all_) {
    if (c->closing_) continue;
    if (!c->authenticated_ && now - c->opened_at_ms_ >= auth_deadline) {
      rejected_auth_++;
      close_locked(*c, kCloseUnauthenticated, "no authentication in time");
    } else if (c->authenticated_ && c->expires_at_ms_ > 0 && now >= c->expires_at_ms_) {
      expired_++;
      close_locked(*c, kCloseTokenExpired, "token expired");
    }
  }
}

void Hub::close_all(std::uint16_t code, std::string reason) {
  std::unique_lock lock(mutex_);
  for (auto& [raw, c] : all_) close_locked(*c, code, reason);
}

Hub::Stats Hub::stats() const {
  Stats s;
  {
    std::shared_lock lock(mutex_);
    s.connections = all_.size();
    s.subscriptions = subscriptions_;
  }
  s.authenticated = authenticated_count_.load();
  s.pushed = pushed_.load();
  s.refused = refused_.load();
  s.rejected_auth = rejected_auth_.load();
  s.expired = expired_.load();
  s.refused_connections = refused_connections_.load();
  s.owner_lookups = owner_lookups_.load();
  s.owner_hits = owner_hits_.load();
  return s;
}

}  // namespace sp::live
