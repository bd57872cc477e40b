#pragma once
// Holds a Database's writer thread inside one job until release(), so that a test controls which
// jobs share the next batch transaction (everything queued meanwhile).

#include <future>

#include "store/sqlite/database.hpp"

namespace sp::sqlite::test {

class WriterGate {
 public:
  WriteJob job() {
    return [this](Connection&) -> Result<void> {
      entered_.set_value();
      released_.wait();
      return {};
    };
  }
  void wait_entered() { entered_future_.wait(); }
  void release() { release_promise_.set_value(); }

 private:
  std::promise<void> entered_;
  std::future<void> entered_future_ = entered_.get_future();
  std::promise<void> release_promise_;
  std::shared_future<void> released_ = release_promise_.get_future().share();
};

}  // namespace sp::sqlite::test
