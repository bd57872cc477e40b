#pragma once
// Time as services see it. Services take a Clock so tests can use a fixed one.

#include <cstdint>
#include <string>

namespace sp {

class Clock {
 public:
  virtual ~Clock() = default;
  /// Wall-clock milliseconds since the Unix epoch.
  virtual int64_t now_ms() const = 0;
};

class SystemClock final : public Clock {
 public:
  int64_t now_ms() const override;
};

/// ISO-8601 UTC with milliseconds, e.g. 2019-05-17T15:45:55.123Z (DESIGN.md §7).
std::string iso8601_ms(int64_t epoch_ms);

}  // namespace sp
