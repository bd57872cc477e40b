#pragma once
// Helpers of the telemetry benchmarks: clocks for figures, a settable sample clock, a temp dir.

#include <stdlib.h>
#include <time.h>

#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>

#include "smartproduct/core/clock.hpp"

namespace sp::bench {

inline double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}
inline double wall_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9;
}

class StepClock final : public Clock {
 public:
  int64_t now_ms() const override { return now; }
  int64_t now = 1795819080000;
};

inline std::filesystem::path temp_dir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "sp-tbench-XXXXXX").string();
  if (!mkdtemp(pattern.data())) std::abort();
  return pattern;
}

}  // namespace sp::bench
