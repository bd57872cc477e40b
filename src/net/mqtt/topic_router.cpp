#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <memory>
#include <vector>

#include "smartproduct/mqtt/types.hpp"

namespace sp::mqtt {

std::optional<std::string_view> shared_subscription_filter(std::string_view filter) {
  constexpr std::string_view kShare = "$share/";
  if (filter.substr(0, kShare.size()) != kShare) return std::nullopt;
  const auto group_end = filter.find('/', kShare.size());
  if (group_end == std::string_view::npos || group_end == kShare.size()) return std::nullopt;
  return filter.substr(group_end + 1);
}

bool topic_matches(std::string_view filter, std::string_view topic) {
  if (auto inner = shared_subscription_filter(filter)) filter = *inner;
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

std::vector<std::pair<std::string, int>> TopicRouter::subscriptions() const {
  std::vector<std::pair<std::string, int>> out;
  for (auto& r : routes_) {
    auto it = std::find_if(out.begin(), out.end(), [&](auto& s) { return s.first == r.filter; });
    if (it == out.end()) {
      out.emplace_back(r.filter, r.qos);
    } else {
      it->second = std::max(it->second, r.qos);
    }
  }
  return out;
}

void TopicRouter::dispatch(Message&& message, Done done) const {
  std::vector<const Route*> matched;
  for (auto& r : routes_) {
    if (topic_matches(r.filter, message.topic)) matched.push_back(&r);
  }
  if (matched.empty()) {
    spdlog::debug("mqtt: no route for topic {}", message.topic);
    done(true);
    return;
  }
  if (matched.size() == 1) {
    matched.front()->handler(std::move(message), std::move(done));
    return;
  }
  // Several modules read this topic: the message is acknowledged once every one of them is done,
  // and only if all of them handled it.
  struct Join {
    std::atomic<std::size_t> remaining;
    std::atomic<bool> handled{true};
    Done done;
  };
  auto join = std::make_shared<Join>();
  join->remaining = matched.size();
  join->done = std::move(done);
  for (const Route* r : matched) {
    Message copy = message;
    r->handler(std::move(copy), [join](bool handled) {
      if (!handled) join->handled = false;
      if (--join->remaining == 0) join->done(join->handled.load());
    });
  }
}

}  // namespace sp::mqtt
