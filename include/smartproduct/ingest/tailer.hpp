#pragma once
// The spool source of device ingest: tails the segments the broker plugin appends to
// (smartproduct/broker/spool.hpp) and hands every record to the ingest service of its topic, with
// a SpoolMark so that the service's repository commits the database's spool position together
// with the row. The guarantees: README.md, "Durability".

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "smartproduct/core/device_message.hpp"
#include "smartproduct/store/spool_position_repository.hpp"

namespace sp::ingest {

/// One ingest interface, two sources (the spool tailer, the MQTT subscription): the store step of
/// an ingest service. Returns true when the message went to the store (false: rejected and
/// already acknowledged by `done(true)`).
using IngestFn = std::function<bool(std::string_view topic, std::string_view payload,
                                    std::function<void(bool)> done, const SpoolMark* mark)>;

/// An ingest path: its topic prefix (records on <prefix>/<id>), its store step and the spool
/// position of the database it writes to. Each sink must write to a different database.
struct Sink {
  std::string name;
  std::string topic_prefix;
  IngestFn ingest;
  store::SpoolPositionRepository* positions = nullptr;
  /// True while the sink takes nothing (telemetry's disk guard). Its records stay in the spool:
  /// the tailer reads on for the other sinks, keeps the segments, and rewinds once it is false.
  std::function<bool()> held;
};

struct TailerOptions {
  std::string dir;
  int poll_ms = 2;      // when caught up with the newest segment
  int retry_ms = 1000;  // after a store failure
  // Records handed to the stores and not yet committed. Devices are acknowledged by the broker,
  // not by us, so a deeper queue buys no throughput: a few write batches (512 jobs each) keep the
  // writer busy, and each queued record holds its text and callbacks (20,000 cost ~50 MiB).
  std::size_t max_in_flight = 4096;
};

struct TailerStats {
  std::atomic<uint64_t> records{0};     // read from the spool
  std::atomic<uint64_t> handed{0};      // given to a sink (not skipped as already stored)
  std::atomic<uint64_t> torn_tails{0};  // segments that ended in a partial/corrupt record
  std::atomic<uint64_t> segments_deleted{0};
  std::atomic<uint64_t> store_failures{0};  // resyncs after done(false)
  std::atomic<uint64_t> unrouted{0};        // records on no sink's topic
  std::atomic<uint64_t> held{0};            // records left in the spool for a held sink
  std::atomic<int64_t> segment{0};          // the segment being read
  std::atomic<uint64_t> segment_offset{0};  // bytes of it parsed into records (or skipped)
  std::atomic<bool> caught_up{false};
};

class SpoolTailer {
 public:
  SpoolTailer(TailerOptions options, std::vector<Sink> sinks);
  ~SpoolTailer();
  void start();
  /// Stops reading and waits until every record handed to a sink is done.
  void stop();
  const TailerStats& stats() const { return stats_; }
  /// Bytes the broker has appended to the spool that the tailer has not parsed yet: the rest of
  /// the segment being read plus every newer segment (reads the directory; for metrics).
  uint64_t lag_bytes() const;

 private:
  void run();
  bool resync();
  /// Reads segment `number`; true when it was finished (and deleted), false on stop or failure.
  bool consume_segment(uint64_t number);
  void handle(uint64_t segment, std::string_view topic, std::string_view payload, uint64_t seq);
  bool finish_segment(uint64_t number);
  bool any_held() const;
  /// A held sink takes records again: re-read from the committed positions.
  bool rewind_due() const;
  void wait_idle();
  void wait_in_flight_below(std::size_t limit);
  bool stopping() const { return stop_.load(); }
  void sleep_ms(int ms);

  TailerOptions options_;
  std::vector<Sink> sinks_;
  std::vector<SpoolPosition> after_;  // per sink: the last position handed to its database
  SpoolPosition cursor_;              // every record up to here is handled by every sink
                                      // (or, for a sink in held_, left in the spool)
  std::vector<bool> held_;            // per sink: records skipped since the last resync
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> failed_{false};
  std::mutex mutex_;
  std::condition_variable cv_;         // sleeps between polls; woken by stop()
  std::condition_variable flight_cv_;  // waits for in-flight records to finish
  std::size_t in_flight_ = 0;
  // Threads waiting on flight_cv_: a finished record notifies only when there is one (the writer
  // finishes thousands per second; a futex wake for each cost more than the record's own work).
  int flight_waiters_ = 0;
  std::size_t wake_at_ = 0;  // a waiter wants in_flight_ at or below this
  TailerStats stats_;
};

}  // namespace sp::ingest
