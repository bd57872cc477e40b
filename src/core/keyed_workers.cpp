#include "smartproduct/core/keyed_workers.hpp"

#include <spdlog/spdlog.h>

#include <exception>

namespace sp {

struct KeyedWorkers::Worker {
  std::mutex mutex;
  std::condition_variable wake;
  std::condition_variable idle;
  std::deque<std::function<void()>> queue;
  bool busy = false;
  bool stopping = false;
  std::thread thread;

  void run(const std::string& name) {
    std::unique_lock lock(mutex);
    for (;;) {
      wake.wait(lock, [&] { return stopping || !queue.empty(); });
      if (queue.empty()) break;  // stopping and nothing left
      auto task = std::move(queue.front());
      queue.pop_front();
      busy = true;
      lock.unlock();
      try {
        task();
      } catch (const std::exception& e) {  // a bug in a task: keep the thread alive
        spdlog::error("{}: task failed: {}", name, e.what());
      }
      lock.lock();
      busy = false;
      if (queue.empty()) idle.notify_all();
    }
    idle.notify_all();
  }
};

KeyedWorkers::KeyedWorkers(std::string name, std::size_t threads, std::size_t max_queued)
    : name_(std::move(name)), max_queued_(max_queued) {
  if (threads == 0) threads = 1;
  for (std::size_t i = 0; i < threads; ++i) {
    auto w = std::make_unique<Worker>();
    Worker* raw = w.get();
    raw->thread = std::thread([raw, this] { raw->run(name_); });
    workers_.push_back(std::move(w));
  }
}

KeyedWorkers::~KeyedWorkers() { stop(); }

bool KeyedWorkers::post(std::string_view key, std::function<void()> task) {
  Worker& w = *workers_[std::hash<std::string_view>{}(key) % workers_.size()];
  std::lock_guard lock(w.mutex);
  if (w.stopping || w.queue.size() >= max_queued_) return false;
  w.queue.push_back(std::move(task));
  w.wake.notify_one();
  return true;
}

void KeyedWorkers::drain() {
  for (auto& w : workers_) {
    std::unique_lock lock(w->mutex);
    w->idle.wait(lock, [&] { return (w->queue.empty() && !w->busy) || !w->thread.joinable(); });
  }
}

void KeyedWorkers::stop() {
  for (auto& w : workers_) {
    std::lock_guard lock(w->mutex);
    w->stopping = true;
    w->wake.notify_all();
  }
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
}

}  // namespace sp
