#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "ack_log.hpp"
#include "backoff.hpp"
#include "device_set.hpp"
#include "mqtt_client.hpp"
#include "payload.hpp"
#include "poll_loop.hpp"
#include "temperature_model.hpp"

namespace sp::sim {

/// What every publishing device does (the `publish` subcommand's options).
struct PublishPlan {
  std::string topic_prefix = "smartproduct/telemetry";
  std::uint64_t messages = 1000;  ///< per device; 0 = no limit (use `publish_until`)
  std::optional<SteadyClock::time_point> publish_until;
  int qos = 1;
  int inflight = 100;  ///< messages published but not yet acknowledged (QoS 1) / written (QoS 0)
  PayloadKind payload = PayloadKind::kSmall;
  /// At least this long between two messages of one device (0: as fast as acknowledgements come),
  /// so that latency can be measured at a rate the server sustains.
  std::chrono::milliseconds interval{0};
  bool reconnect = false;
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30000};
  std::chrono::milliseconds drain_timeout{30000};  ///< wait this long for the last PUBACKs
  std::uint32_t session_expiry_s = 0;              ///< 0 = clean start
};

/// Counters of one device; atomics so a progress reporter on another thread may read them.
struct PublisherStats {
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> acked{0};    ///< PUBACK with reason < 0x80
  std::atomic<std::uint64_t> refused{0};  ///< PUBACK with reason >= 0x80
  std::atomic<std::uint64_t> written{0};  ///< QoS 0 messages handed to the socket
  std::atomic<std::uint64_t> reconnects{0};
};

/// Final outcome of one device, read after its loop has ended.
struct PublisherOutcome {
  bool connect_refused = false;    ///< CONNACK refused (not retryable)
  bool connection_failed = false;  ///< TCP/TLS failure or connection lost without --reconnect
  std::uint64_t unacked = 0;       ///< QoS 1 messages still without PUBACK at the end
  std::string error;
  std::optional<SteadyClock::time_point> first_publish;
  std::optional<SteadyClock::time_point> last_completion;
};

/// One simulated device publishing telemetry on `<topic_prefix>/<serial>` with at most
/// `plan.inflight` messages in flight. Sequence numbers start at 1 and never repeat within a run:
/// after a reconnect the device continues with the next one, while the messages that were in
/// flight are re-sent by libmosquitto itself (same packet id, DUP) on the new connection, so each
/// PUBACK still maps to its seq. Messages in flight when the process ends are lost, as on a device.
class Publisher final : public PolledClient, private MqttListener {
 public:
  /// `ack_log` may be null; it must outlive the publisher and belong to the driving thread.
  Publisher(DeviceIdentity device, const BrokerOptions& broker, const PublishPlan& plan,
            AckLogWriter* ack_log, unsigned seed);

  MqttClient& mqtt() override { return client_; }
  void tick(SteadyClock::time_point now) override;
  bool finished() const override { return state_ == State::kDone; }

  /// Stop publishing new messages; wait for the in-flight ones (up to the drain timeout).
  void request_stop() { stop_requested_ = true; }

  const std::string& serial() const { return device_.serial; }
  const PublisherStats& stats() const { return stats_; }
  const PublisherOutcome& outcome() const { return outcome_; }

 private:
  enum class State { kIdle, kConnecting, kConnected, kWaitingToReconnect, kClosing, kDone };

  void on_connect(int reason_code) override;
  void on_disconnect(int rc) override;
  void on_publish(int mid, int reason_code) override;

  void start_connect(SteadyClock::time_point now, bool first);
  void connection_lost(const std::string& why);
  bool publishing_done(SteadyClock::time_point now) const;
  std::uint64_t in_flight() const;
  void publish_more(SteadyClock::time_point now);
  void finish(SteadyClock::time_point now);
  bool retryable_refusal(int reason_code) const;

  DeviceIdentity device_;
  BrokerOptions broker_;
  PublishPlan plan_;
  std::string topic_;
  AckLogWriter* ack_log_;
  MqttClient client_;
  Backoff backoff_;
  TemperatureModel temperature_;
  State state_ = State::kIdle;
  bool stop_requested_ = false;
  bool ever_connected_ = false;
  std::uint64_t next_seq_ = 1;
  std::optional<SteadyClock::time_point> last_publish_;  ///< for PublishPlan::interval
  std::unordered_map<int, std::uint64_t> seq_by_mid_;    ///< QoS 1 messages awaiting PUBACK
  std::uint64_t qos0_queued_ = 0;                        ///< QoS 0 messages not yet written
  SteadyClock::time_point reconnect_at_{};
  std::optional<SteadyClock::time_point> drain_deadline_;
  PublisherStats stats_;
  PublisherOutcome outcome_;
};

}  // namespace sp::sim
