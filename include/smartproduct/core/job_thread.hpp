#pragma once
// One background thread that runs a module's long jobs one at a time: the jobs pushed to it (in
// order) first, and the scheduled job whenever `next_due()` has passed. The wait for the due time
// is re-checked at least every minute, because the wall clock may jump. The audit and the backup
// modules have this shape (the audit's loop predates this helper).

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

#include "smartproduct/core/clock.hpp"

namespace sp {

template <class Job>
class JobThread {
 public:
  /// When the scheduled job is due next (epoch ms of `clock`), or nullopt when none is.
  using NextDue = std::function<std::optional<std::int64_t>()>;
  /// Runs a pushed job, or the scheduled one (nullopt). Called on the thread, without the lock.
  using Run = std::function<void(std::optional<Job>)>;

  JobThread(const Clock& clock, NextDue next_due, Run run)
      : clock_(clock), next_due_(std::move(next_due)), run_(std::move(run)) {}
  JobThread(const JobThread&) = delete;
  JobThread& operator=(const JobThread&) = delete;
  ~JobThread() { stop(); }

  void start() {
    std::lock_guard lock(mutex_);
    stopping_ = false;
    thread_ = std::thread([this] { work(); });
  }

  /// Waits for the job that is running, if any; queued jobs are dropped.
  void stop() {
    {
      std::lock_guard lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
  }

  void push(Job job) {
    {
      std::lock_guard lock(mutex_);
      queued_.push_back(std::move(job));
    }
    wake_.notify_all();
  }

 private:
  void work() {
    std::unique_lock lock(mutex_);
    while (!stopping_) {
      const std::optional<std::int64_t> due = next_due_();
      auto is_due = [&] { return due && clock_.now_ms() >= *due; };
      auto ready = [&] { return stopping_ || !queued_.empty() || is_due(); };
      if (due) {
        const auto wait = std::chrono::milliseconds(
            std::clamp<std::int64_t>(*due - clock_.now_ms(), 0, kMaxWaitMs));
        wake_.wait_for(lock, wait, ready);
      } else {
        wake_.wait(lock, ready);
      }
      if (stopping_) break;
      std::optional<Job> job;
      if (!queued_.empty()) {
        job = std::move(queued_.front());
        queued_.pop_front();
      } else if (!is_due()) {
        continue;  // woke for the periodic re-check of the clock
      }
      lock.unlock();
      run_(std::move(job));
      lock.lock();
    }
  }

  static constexpr std::int64_t kMaxWaitMs = 60'000;

  const Clock& clock_;
  NextDue next_due_;
  Run run_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<Job> queued_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace sp
