// JobThread: pushed jobs in order, one at a time; the scheduled job when due; stop() waits for the
// job that runs.

#include "smartproduct/core/job_thread.hpp"

#include <gtest/gtest.h>

#include <future>
#include <string>
#include <vector>

#include "fakes/fixed_clock.hpp"

namespace sp {
namespace {

TEST(JobThread, RunsPushedJobsInOrderAndTheScheduledOneWhenDue) {
  test::FixedClock clock;
  std::mutex m;
  std::vector<std::string> ran;
  std::optional<std::int64_t> due;  // guarded by m
  std::promise<void> three;
  JobThread<std::string> jobs(
      clock,
      [&]() {
        std::lock_guard lock(m);
        return due;
      },
      [&](std::optional<std::string> job) {
        std::lock_guard lock(m);
        ran.push_back(job.value_or("scheduled"));
        if (!job) due.reset();  // the schedule moves on after its run
        if (ran.size() == 3) three.set_value();
      });
  jobs.start();
  jobs.push("a");
  jobs.push("b");
  {
    std::lock_guard lock(m);
    due = clock.now_ms() + 1000;  // not yet due: read again after the jobs woke the thread
  }
  clock.advance(std::chrono::seconds(1));
  jobs.push("c");  // wakes the thread; the clock has passed the due time
  ASSERT_EQ(three.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  jobs.stop();
  std::lock_guard lock(m);
  ASSERT_GE(ran.size(), 3u);
  EXPECT_EQ(ran[0], "a");
  EXPECT_EQ(ran[1], "b");
}

TEST(JobThread, StopWaitsForTheRunningJob) {
  test::FixedClock clock;
  std::promise<void> entered;
  std::atomic<bool> finished{false};
  JobThread<int> jobs(
      clock, [] { return std::optional<std::int64_t>(); },
      [&](std::optional<int>) {
        entered.set_value();
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        finished = true;
      });
  jobs.start();
  jobs.push(1);
  entered.get_future().wait();
  jobs.stop();
  EXPECT_TRUE(finished);
}

}  // namespace
}  // namespace sp
