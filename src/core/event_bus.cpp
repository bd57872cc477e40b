#include "smartproduct/core/event_bus.hpp"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <deque>
#include <exception>
#include <thread>
#include <utility>

namespace sp {

struct EventBus::Lane::Impl {
  std::string name;
  LaneOptions options;
  std::unordered_map<std::type_index, std::vector<std::function<void(const void*)>>> handlers;

  struct Item {
    std::type_index type;
    std::shared_ptr<const void> event;
  };
  mutable std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable idle;
  std::deque<Item> queue;
  bool busy = false;
  bool stopping = false;
  bool overflowed = false;
  Stats stats;
  std::thread thread;

  void push(std::type_index type, std::shared_ptr<const void> event) {
    std::lock_guard lock(mutex);
    if (stopping && !thread.joinable()) return;  // stopped: nobody would deliver it
    if (queue.size() >= options.capacity) {
      ++stats.dropped;
      if (!overflowed) {
        // Logged once per overflow episode: a flood of lines would make things worse.
        spdlog::warn("bus: lane '{}' is full ({} queued): dropping events until it drains", name,
                     queue.size());
      }
      overflowed = true;
      return;
    }
    queue.push_back(Item{type, std::move(event)});
    wake.notify_one();
  }

  void deliver(const Item& item) {
    auto it = handlers.find(item.type);
    if (it == handlers.end()) return;
    for (auto& handler : it->second) {
      try {
        handler(item.event.get());
        std::lock_guard lock(mutex);
        ++stats.delivered;
      } catch (const std::exception& e) {
        note_failure(e.what());
      } catch (...) {
        note_failure("non-exception thrown");
      }
    }
  }

  void note_failure(const char* what) {
    std::uint64_t n;
    {
      std::lock_guard lock(mutex);
      n = ++stats.failed;
    }
    // The first failures and then one in a thousand: a handler failing on every event must not
    // fill the journal.
    if (n <= 10 || n % 1000 == 0) {
      spdlog::error("bus: a handler of lane '{}' threw ({} failures so far): {}", name, n, what);
    }
  }

  void run() {
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) {
        if (stopping) break;
        continue;
      }
      Item item = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      deliver(item);
      lock.lock();
      if (queue.empty() && overflowed) {
        overflowed = false;
        lock.unlock();
        spdlog::warn("bus: lane '{}' drained after dropping events: resynchronising", name);
        if (options.on_overflow) {
          try {
            options.on_overflow();
          } catch (const std::exception& e) {
            note_failure(e.what());
          }
        }
        lock.lock();
      }
      busy = false;
      if (queue.empty()) idle.notify_all();
    }
    busy = false;
    idle.notify_all();
  }
};

EventBus::Lane::Lane(std::string name, LaneOptions options) : impl_(std::make_unique<Impl>()) {
  impl_->name = std::move(name);
  impl_->options = std::move(options);
  if (impl_->options.capacity == 0) impl_->options.capacity = 1;
}

EventBus::Lane::~Lane() = default;

const std::string& EventBus::Lane::name() const { return impl_->name; }

EventBus::Lane::Stats EventBus::Lane::stats() const {
  std::lock_guard lock(impl_->mutex);
  Stats s = impl_->stats;
  s.queued = impl_->queue.size();
  return s;
}

void EventBus::Lane::add(std::type_index type, std::function<void(const void*)> handler) {
  impl_->handlers[type].push_back(std::move(handler));
}

EventBus::EventBus() = default;

EventBus::~EventBus() { stop(); }

EventBus::Lane& EventBus::lane(std::string name, LaneOptions options) {
  std::lock_guard lock(mutex_);
  lanes_.push_back(std::unique_ptr<Lane>(new Lane(std::move(name), std::move(options))));
  return *lanes_.back();
}

void EventBus::publish_erased(std::type_index type, std::shared_ptr<const void> event) {
  std::lock_guard lock(mutex_);
  if (!started_) {
    // Start-up only (e.g. a reconcile before the lanes run): handlers may still be added, so
    // look at every lane.
    for (auto& lane : lanes_) {
      if (lane->impl_->handlers.count(type)) lane->impl_->push(type, event);
    }
    return;
  }
  auto it = routes_.find(type);
  if (it == routes_.end()) return;
  for (Lane* lane : it->second) lane->impl_->push(type, event);
}

bool EventBus::has_subscribers_erased(std::type_index type) const {
  std::lock_guard lock(mutex_);
  if (started_) return routes_.count(type) > 0;
  for (auto& lane : lanes_) {
    if (lane->impl_->handlers.count(type)) return true;
  }
  return false;
}

void EventBus::start() {
  std::lock_guard lock(mutex_);
  if (started_) return;
  started_ = true;
  routes_.clear();
  for (auto& lane : lanes_) {
    for (auto& [t, handlers] : lane->impl_->handlers) routes_[t].push_back(lane.get());
  }
  for (auto& lane : lanes_) {
    Lane::Impl* impl = lane->impl_.get();
    impl->thread = std::thread([impl] { impl->run(); });
  }
}

void EventBus::stop() {
  std::vector<Lane*> lanes;
  {
    std::lock_guard lock(mutex_);
    for (auto& lane : lanes_) lanes.push_back(lane.get());
  }
  for (Lane* lane : lanes) {
    {
      std::lock_guard lock(lane->impl_->mutex);
      lane->impl_->stopping = true;
    }
    lane->impl_->wake.notify_all();
  }
  for (Lane* lane : lanes) {
    if (lane->impl_->thread.joinable()) lane->impl_->thread.join();
  }
}

void EventBus::drain() {
  std::vector<Lane*> lanes;
  {
    std::lock_guard lock(mutex_);
    if (!started_) return;
    for (auto& lane : lanes_) lanes.push_back(lane.get());
  }
  for (Lane* lane : lanes) {
    auto& impl = *lane->impl_;
    std::unique_lock lock(impl.mutex);
    impl.idle.wait(lock,
                   [&] { return (impl.queue.empty() && !impl.busy) || !impl.thread.joinable(); });
  }
}

std::vector<const EventBus::Lane*> EventBus::lanes() const {
  std::lock_guard lock(mutex_);
  std::vector<const Lane*> out;
  for (auto& lane : lanes_) out.push_back(lane.get());
  return out;
}

}  // namespace sp
