#pragma once
// Transport-neutral MQTT types for module bindings (topics.cpp files). The libmosquitto adapter in
// src/net/mqtt implements Publisher and feeds a TopicRouter.

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace sp::mqtt {

struct Message {
  std::string topic;
  std::string payload;
  int qos = 0;
  bool retain = false;
  int mid = 0;
};

/// Completion of a received message. Call exactly once, from any thread:
///  - done(true): the message is durably handled, or deliberately dropped (malformed input is
///    counted and acknowledged so the broker does not redeliver it forever);
///  - done(false): it could not be stored (e.g. disk full): the client drops the connection
///    without acknowledging, and the broker redelivers the message from our persistent session.
using Done = std::function<void(bool handled)>;
using MessageHandler = std::function<void(Message&& message, Done done)>;

/// Publishing, for modules (commands, broker control).
class Publisher {
 public:
  virtual ~Publisher() = default;
  virtual void publish(std::string topic, std::string payload, int qos = 1,
                       bool retain = false) = 0;
};

/// True when an MQTT topic matches a filter with + and # wildcards (MQTT 3.1.1 §4.7; topics
/// starting with '$' are not matched by a leading wildcard). A shared subscription's filter
/// (`$share/<group>/<filter>`, MQTT 5 §4.8.2) matches what `<filter>` matches: its messages carry
/// the topic they were published on.
bool topic_matches(std::string_view filter, std::string_view topic);

/// `<filter>` of `$share/<group>/<filter>`; nullopt when `filter` is not a shared subscription.
std::optional<std::string_view> shared_subscription_filter(std::string_view filter);

/// Dispatches a message to every route whose filter matches (several modules may read one topic;
/// the message is acknowledged when all of them are done); unmatched messages are acknowledged.
/// Subscribe to each distinct filter once (subscriptions()).
class TopicRouter {
 public:
  void add(std::string filter, int qos, MessageHandler handler);
  struct Route {
    std::string filter;
    int qos;
    MessageHandler handler;
  };
  const std::vector<Route>& routes() const { return routes_; }
  /// The distinct filters with the highest QoS any route asked for.
  std::vector<std::pair<std::string, int>> subscriptions() const;
  void dispatch(Message&& message, Done done) const;

 private:
  std::vector<Route> routes_;
};

}  // namespace sp::mqtt
