#include <spdlog/spdlog.h>

#include "smartproduct/mqtt/types.hpp"

namespace sp::mqtt {

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (!topic.empty() && topic.front() == '$' && !filter.empty() &&
      (filter.front() == '+' || filter.front() == '#')) {
    return false;
  }
  std::size_t f = 0, t = 0;
  while (true) {
    std::size_t fe = filter.find('/', f);
    std::size_t te = topic.find('/', t);
    std::string_view fseg = filter.substr(f, fe == std::string_view::npos ? fe : fe - f);
    std::string_view tseg = topic.substr(t, te == std::string_view::npos ? te : te - t);
    if (fseg == "#") return true;
    if (t > topic.size()) return false;
    if (fseg != "+" && fseg != tseg) return false;
    bool fend = fe == std::string_view::npos, tend = te == std::string_view::npos;
    if (fend || tend) {
      // "a/#" also matches "a" (the parent level).
      if (fend && tend) return true;
      if (tend && !fend) return filter.substr(fe + 1) == "#";
      return false;
    }
    f = fe + 1;
    t = te + 1;
  }
}

void TopicRouter::add(std::string filter, int qos, MessageHandler handler) {
  routes_.push_back(Route{std::move(filter), qos, std::move(handler)});
}

void TopicRouter::dispatch(Message&& message, Done done) const {
  for (auto& r : routes_) {
    if (topic_matches(r.filter, message.topic)) {
      r.handler(std::move(message), std::move(done));
      return;
    }
  }
  spdlog::debug("mqtt: no route for topic {}", message.topic);
  done(true);
}

}  // namespace sp::mqtt
