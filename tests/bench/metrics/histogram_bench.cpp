// Cost of the lock-free Histogram (smartproduct/core/histogram.hpp) on the hot paths that observe
// it (every HTTP request, every store writer batch), against a plain relaxed atomic increment
// measured in the same run: one thread, then 2 threads on the same histogram (contended cache
// lines). Prints ns per operation and the ratio; asserts nothing.

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "smartproduct/core/histogram.hpp"

namespace {

using Clock = std::chrono::steady_clock;

template <class F>
double ns_per_op(int threads, std::uint64_t per_thread, F&& op) {
  std::vector<std::thread> workers;
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      ready.fetch_add(1);
      while (!go.load()) {
      }
      for (std::uint64_t i = 0; i < per_thread; ++i) op(t, i);
    });
  }
  while (ready.load() < threads) {
  }
  const auto start = Clock::now();
  go = true;
  for (auto& w : workers) w.join();
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  return ns / static_cast<double>(per_thread);  // wall time per operation of one thread
}

}  // namespace

int main(int argc, char** argv) {
  const std::uint64_t n = argc > 1 ? std::stoull(argv[1]) : 20'000'000;
  // Durations spread over the buckets, as requests are: 0.1 ms .. 0.8 s.
  std::vector<double> values;
  for (int i = 0; i < 1024; ++i) values.push_back(0.0001 * (1 << (i % 14)));

  std::printf("histogram_bench: %llu operations per thread, %u hardware threads\n",
              static_cast<unsigned long long>(n), std::thread::hardware_concurrency());
  for (int threads : {1, 2}) {
    std::atomic<std::uint64_t> counter{0};
    const double atomic_ns = ns_per_op(threads, n, [&](int, std::uint64_t i) {
      counter.fetch_add(values[i & 1023] > 0 ? 1 : 0, std::memory_order_relaxed);
    });
    sp::Histogram histogram;
    const double observe_ns =
        ns_per_op(threads, n, [&](int, std::uint64_t i) { histogram.observe(values[i & 1023]); });
    const auto snapshot = histogram.snapshot();
    std::printf(
        "threads=%d  atomic increment %.2f ns/op  Histogram::observe %.2f ns/op  ratio %.1fx  "
        "(count %llu, expected %llu)\n",
        threads, atomic_ns, observe_ns, observe_ns / atomic_ns,
        static_cast<unsigned long long>(snapshot.count()),
        static_cast<unsigned long long>(n * static_cast<std::uint64_t>(threads)));
  }
  return 0;
}
