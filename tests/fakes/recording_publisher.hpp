#pragma once
// The one fake mqtt::Publisher: it records every publish, in order, for the test to inspect.
// Thread-safe, because services publish from their worker threads.

#include <mutex>
#include <string>
#include <vector>

#include "smartproduct/mqtt/types.hpp"

namespace sp::test {

class RecordingPublisher final : public mqtt::Publisher {
 public:
  struct Published {
    std::string topic;
    std::string payload;
    int qos = 0;
    bool retain = false;
  };

  void publish(std::string topic, std::string payload, int qos, bool retain) override {
    std::lock_guard lock(mutex_);
    published_.push_back({std::move(topic), std::move(payload), qos, retain});
  }

  /// A copy of everything published so far.
  std::vector<Published> published() const {
    std::lock_guard lock(mutex_);
    return published_;
  }

  void clear() {
    std::lock_guard lock(mutex_);
    published_.clear();
  }

 private:
  mutable std::mutex mutex_;
  std::vector<Published> published_;
};

}  // namespace sp::test
