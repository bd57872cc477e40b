#pragma once
// A few worker threads for blocking work (SQLite writes) that must stay in order per key (a device)
// but may run in parallel across keys: tasks with the same key run on the same thread, in the order
// they were posted. Used by MQTT bindings so that the broker connection's thread never blocks on a
// commit. Bounded: post() refuses work beyond `max_queued` per thread (the caller then does not
// acknowledge the message and the broker redelivers it).

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace sp {

class KeyedWorkers {
 public:
  KeyedWorkers(std::string name, std::size_t threads, std::size_t max_queued = 100000);
  /// Runs what is queued, then joins.
  ~KeyedWorkers();
  KeyedWorkers(const KeyedWorkers&) = delete;
  KeyedWorkers& operator=(const KeyedWorkers&) = delete;

  /// Queues `task` on the thread of `key`; false when that thread's queue is full or stopping.
  bool post(std::string_view key, std::function<void()> task);
  /// Blocks until everything posted before has run.
  void drain();
  /// Runs what is queued, then joins (idempotent).
  void stop();

 private:
  struct Worker;
  std::string name_;
  std::size_t max_queued_;
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace sp
