#include "publisher.hpp"

#include <fmt/format.h>
#include <mqtt_protocol.h>
#include <spdlog/spdlog.h>

namespace sp::sim {

namespace {
std::int64_t epoch_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}
}  // namespace

Publisher::Publisher(DeviceIdentity device, const BrokerOptions& broker, const PublishPlan& plan,
                     AckLogWriter* ack_log, unsigned seed)
    : device_(std::move(device)),
      broker_(broker),
      plan_(plan),
      topic_(plan.topic_prefix + "/" + device_.serial),
      ack_log_(ack_log),
      client_(broker_,
              ClientSettings{.client_id = device_.serial,
                             .cert_file = device_.cert.string(),
                             .key_file = device_.key.string(),
                             .clean_start = plan.session_expiry_s == 0,
                             .session_expiry_s = plan.session_expiry_s,
                             .send_maximum = plan.inflight,
                             .receive_maximum = 100},
              *this),
      backoff_(plan.backoff_initial, plan.backoff_max, seed),
      temperature_(seed) {}

bool Publisher::retryable_refusal(int reason_code) const {
  if (broker_.protocol == Protocol::kV311) return reason_code == CONNACK_REFUSED_SERVER_UNAVAILABLE;
  return reason_code == MQTT_RC_SERVER_UNAVAILABLE || reason_code == MQTT_RC_SERVER_BUSY ||
         reason_code == MQTT_RC_CONNECTION_RATE_EXCEEDED;
}

void Publisher::start_connect(SteadyClock::time_point now, bool first) {
  // Blocking (TCP + TLS handshake, a few ms on loopback): acceptable for a load generator, and it
  // naturally paces a large fleet's connects per worker thread.
  int rc = first ? client_.connect() : client_.reconnect();
  if (rc == MOSQ_ERR_SUCCESS) {
    state_ = State::kConnecting;
    return;
  }
  const auto why =
      fmt::format("connect to {}:{} failed: {}", broker_.host, broker_.port, error_text(rc));
  if (plan_.reconnect) {
    spdlog::debug("{}: {}", device_.serial, why);
    state_ = State::kWaitingToReconnect;
    reconnect_at_ = now + backoff_.next();
    return;
  }
  outcome_.connection_failed = true;
  outcome_.error = why;
  spdlog::error("{}: {}", device_.serial, why);
  finish(now);
}

void Publisher::on_connect(int reason_code) {
  if (reason_code == 0) {
    state_ = State::kConnected;
    ever_connected_ = true;
    backoff_.reset();
    return;
  }
  const auto why = fmt::format("connection refused: {}", reason_text(reason_code));
  if (plan_.reconnect && retryable_refusal(reason_code)) {
    spdlog::warn("{}: {}; retrying", device_.serial, why);
    state_ = State::kWaitingToReconnect;
    reconnect_at_ = SteadyClock::now() + backoff_.next();
    return;
  }
  spdlog::error("{}: {}", device_.serial, why);
  outcome_.connect_refused = true;
  outcome_.error = why;
  // libmosquitto closes the socket right after this callback and reports on_disconnect.
  state_ = State::kClosing;
}

void Publisher::on_disconnect(int rc) {
  if (state_ == State::kClosing || state_ == State::kDone) {
    state_ = State::kDone;
    return;
  }
  if (state_ == State::kWaitingToReconnect) return;  // after a retryable CONNACK refusal
  connection_lost(fmt::format("connection lost: {}", error_text(rc)));
}

void Publisher::connection_lost(const std::string& why) {
  qos0_queued_ = 0;  // libmosquitto drops unsent QoS 0 messages with the connection
  if (plan_.reconnect) {
    spdlog::warn("{}: {}; reconnecting with back-off ({} messages in flight will be re-sent)",
                 device_.serial, why, seq_by_mid_.size());
    stats_.reconnects.fetch_add(1, std::memory_order_relaxed);
    state_ = State::kWaitingToReconnect;
    reconnect_at_ = SteadyClock::now() + backoff_.next();
    return;
  }
  spdlog::error("{}: {}", device_.serial, why);
  outcome_.connection_failed = true;
  outcome_.error = why;
  finish(SteadyClock::now());
}

void Publisher::on_publish(int mid, int reason_code) {
  auto now = SteadyClock::now();
  outcome_.last_completion = now;
  if (plan_.qos == 0) {
    if (qos0_queued_ > 0) --qos0_queued_;
    stats_.written.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  auto it = seq_by_mid_.find(mid);
  if (it == seq_by_mid_.end()) return;  // not ours (cannot happen with QoS 1 only)
  const auto seq = it->second;
  seq_by_mid_.erase(it);
  if (reason_code >= 0x80) {
    stats_.refused.fetch_add(1, std::memory_order_relaxed);
    spdlog::debug("{}: seq {} refused: {}", device_.serial, seq, reason_text(reason_code));
    return;
  }
  stats_.acked.fetch_add(1, std::memory_order_relaxed);
  if (ack_log_) ack_log_->record(device_.serial, seq);
}

bool Publisher::publishing_done(SteadyClock::time_point now) const {
  if (stop_requested_) return true;
  if (plan_.messages > 0 && next_seq_ > plan_.messages) return true;
  return plan_.publish_until && now >= *plan_.publish_until;
}

std::uint64_t Publisher::in_flight() const {
  return plan_.qos == 0 ? qos0_queued_ : seq_by_mid_.size();
}

void Publisher::publish_more(SteadyClock::time_point now) {
  const auto limit = static_cast<std::uint64_t>(plan_.inflight);
  // At most `inflight` per tick: QoS 0 completes inside publish(), so without the cap this loop
  // would only end when the socket pushes back, overrunning --duration.
  for (std::uint64_t batch = 0;
       batch < limit && in_flight() < limit && !publishing_done(now) && state_ == State::kConnected;
       ++batch) {
    // QoS 0 has no acknowledgement to pace us: stop when the socket pushes back.
    if (plan_.qos == 0 && client_.want_write()) break;
    if (plan_.interval.count() > 0 && last_publish_ && now < *last_publish_ + plan_.interval) {
      break;
    }
    const auto actual = temperature_.step();
    TelemetrySample sample{next_seq_, epoch_ms(), actual, temperature_.target()};
    const auto payload = make_telemetry_payload(plan_.payload, device_.serial, sample);
    int mid = 0;
    if (plan_.qos == 0) ++qos0_queued_;  // on_publish may fire inside publish() for QoS 0
    int rc = client_.publish(topic_, payload, plan_.qos, &mid);
    if (rc != MOSQ_ERR_SUCCESS) {
      if (plan_.qos == 0 && qos0_queued_ > 0) --qos0_queued_;
      // A lost connection is reported through on_disconnect; anything else is a bug or a
      // payload the library refuses, and retrying would spin.
      if (rc != MOSQ_ERR_NO_CONN && rc != MOSQ_ERR_CONN_LOST) {
        outcome_.error = fmt::format("publish failed: {}", error_text(rc));
        spdlog::error("{}: {}", device_.serial, outcome_.error);
        stop_requested_ = true;
      }
      return;
    }
    if (!outcome_.first_publish) outcome_.first_publish = now;
    // Paced from the schedule, not from `now`, so a late tick does not lower the rate.
    last_publish_ =
        last_publish_ && plan_.interval.count() > 0 && now - *last_publish_ < 2 * plan_.interval
            ? *last_publish_ + plan_.interval
            : now;
    if (plan_.qos > 0) seq_by_mid_.emplace(mid, next_seq_);
    ++next_seq_;
    stats_.sent.fetch_add(1, std::memory_order_relaxed);
  }
}

void Publisher::finish(SteadyClock::time_point /*now*/) {
  outcome_.unacked = seq_by_mid_.size();
  if (client_.socket() >= 0) {
    state_ = State::kClosing;
    client_.disconnect();  // reports on_disconnect (possibly later, from loop_write)
    if (state_ == State::kClosing && client_.socket() < 0) state_ = State::kDone;
  } else {
    state_ = State::kDone;
  }
}

void Publisher::tick(SteadyClock::time_point now) {
  if (state_ == State::kDone) return;
  if (state_ != State::kClosing && !drain_deadline_ && publishing_done(now)) {
    drain_deadline_ = now + plan_.drain_timeout;
  }
  const bool drained = drain_deadline_ && (in_flight() == 0 || now >= *drain_deadline_);
  switch (state_) {
    case State::kIdle:
      if (drained) {
        finish(now);
      } else {
        start_connect(now, true);
      }
      return;
    case State::kWaitingToReconnect:
      if (drained) {
        finish(now);
      } else if (now >= reconnect_at_) {
        start_connect(now, !ever_connected_);
      }
      return;
    case State::kConnecting:
      if (drain_deadline_ && now >= *drain_deadline_) finish(now);
      return;
    case State::kConnected:
      publish_more(now);
      if (!drain_deadline_ && publishing_done(now)) drain_deadline_ = now + plan_.drain_timeout;
      if (drain_deadline_ && (in_flight() == 0 || now >= *drain_deadline_)) finish(now);
      return;
    case State::kClosing:
      // Waiting for libmosquitto to flush DISCONNECT; done when the socket is gone.
      if (client_.socket() < 0) state_ = State::kDone;
      return;
    case State::kDone:
      return;
  }
}

}  // namespace sp::sim
