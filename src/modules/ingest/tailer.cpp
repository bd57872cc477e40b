#include "smartproduct/ingest/tailer.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>

#include <spdlog/spdlog.h>

#include "smartproduct/broker/spool.hpp"

namespace sp::ingest {
namespace {

std::string segment_path(const std::string& dir, uint64_t n) {
  return dir + "/" + spool::segment_file_name(n);
}

bool newer_segment_exists(const std::string& dir, uint64_t n) {
  const auto segs = spool::list_segments(dir);
  return !segs.empty() && segs.back() > n;
}

// Reads what the file holds beyond `offset` into `buf`, at most about kMaxReadAhead bytes per
// call: a tailer held back by its stores would otherwise take the whole backlog into memory at
// once. `more` tells whether the file may hold more (the read stopped at the cap, not at its end).
constexpr std::size_t kMaxReadAhead = 1 << 20;

bool read_more(int fd, uint64_t& offset, std::string& buf, bool& more) {
  char chunk[1 << 16];
  more = false;
  for (std::size_t taken = 0;;) {
    if (taken >= kMaxReadAhead) {
      more = true;
      return true;
    }
    const ssize_t n = ::pread(fd, chunk, sizeof chunk, static_cast<off_t>(offset));
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    if (n == 0) return true;
    buf.append(chunk, static_cast<std::size_t>(n));
    offset += static_cast<uint64_t>(n);
    taken += static_cast<std::size_t>(n);
    if (static_cast<std::size_t>(n) < sizeof chunk) return true;
  }
}

}  // namespace

SpoolTailer::SpoolTailer(TailerOptions options, std::vector<Sink> sinks)
    : options_(std::move(options)), sinks_(std::move(sinks)), after_(sinks_.size()) {}

SpoolTailer::~SpoolTailer() { stop(); }

void SpoolTailer::start() {
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void SpoolTailer::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void SpoolTailer::sleep_ms(int ms) {
  std::unique_lock lock(mutex_);
  cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return stop_.load(); });
}

void SpoolTailer::wait_in_flight_below(std::size_t limit) {
  std::unique_lock lock(mutex_);
  if (in_flight_ < limit) return;
  // Woken once half the limit has drained, not at every record below it: the writer commits
  // hundreds per batch, and a wake-up per record would cost more than the records.
  wake_at_ = (limit - 1) / 2;
  ++flight_waiters_;
  flight_cv_.wait(lock, [&] { return in_flight_ <= wake_at_; });
  --flight_waiters_;
}

void SpoolTailer::wait_idle() { wait_in_flight_below(1); }

bool SpoolTailer::resync() {
  for (std::size_t i = 0; i < sinks_.size(); ++i) {
    auto pos = sinks_[i].positions->load();
    if (!pos) {
      spdlog::error("ingest: cannot read the {} spool position: {} ({})", sinks_[i].name,
                    pos.error().message, pos.error().detail);
      return false;
    }
    after_[i] = *pos;
  }
  cursor_ = sinks_.empty() ? SpoolPosition{} : *std::min_element(after_.begin(), after_.end());
  held_.assign(sinks_.size(), false);
  failed_ = false;
  return true;
}

bool SpoolTailer::any_held() const {
  return std::find(held_.begin(), held_.end(), true) != held_.end();
}

bool SpoolTailer::rewind_due() const {
  for (std::size_t i = 0; i < sinks_.size(); ++i) {
    if (held_[i] && !(sinks_[i].held && sinks_[i].held())) return true;
  }
  return false;
}

void SpoolTailer::run() {
  while (!stopping()) {
    if (!resync()) {
      sleep_ms(options_.retry_ms);
      continue;
    }
    spdlog::info("ingest: reading the spool {} from segment {} record {}", options_.dir,
                 cursor_.segment,
                 cursor_.seq == SpoolPosition::kSegmentDone ? std::string("(done)")
                                                            : std::to_string(cursor_.seq));
    while (!stopping() && !failed_) {
      if (rewind_due()) {
        spdlog::info("ingest: a held sink takes records again: re-reading the spool it skipped");
        break;
      }
      const auto segs = spool::list_segments(options_.dir);
      uint64_t next = 0;
      for (auto n : segs) {
        const auto s = static_cast<int64_t>(n);
        if (s > cursor_.segment ||
            (s == cursor_.segment && cursor_.seq != SpoolPosition::kSegmentDone)) {
          next = n;
          break;
        }
        // Left over from a run that committed the segment's end but stopped before unlinking
        // (kept while a held sink still needs it).
        if (!any_held() && ::unlink(segment_path(options_.dir, n).c_str()) == 0)
          stats_.segments_deleted++;
      }
      if (next == 0) {
        stats_.caught_up = true;
        sleep_ms(options_.poll_ms);
        continue;
      }
      consume_segment(next);
    }
    wait_idle();
    if (failed_ && !stopping()) {
      stats_.store_failures++;
      spdlog::warn(
          "ingest: a spool record was not stored; resuming from the committed positions "
          "in {} ms",
          options_.retry_ms);
      sleep_ms(options_.retry_ms);
    }
  }
  wait_idle();
}

uint64_t SpoolTailer::lag_bytes() const {
  const auto current = stats_.segment.load();
  uint64_t lag = 0;
  for (auto n : spool::list_segments(options_.dir)) {
    const auto s = static_cast<int64_t>(n);
    if (s < current) continue;
    std::error_code ec;
    const auto size = std::filesystem::file_size(segment_path(options_.dir, n), ec);
    if (ec) continue;  // consumed and deleted meanwhile
    const uint64_t parsed = s == current ? stats_.segment_offset.load() : 0;
    lag += size > parsed ? size - parsed : 0;
  }
  return lag;
}

bool SpoolTailer::consume_segment(uint64_t number) {
  stats_.segment_offset = 0;
  stats_.segment = static_cast<int64_t>(number);
  const std::string path = segment_path(options_.dir, number);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    spdlog::warn("ingest: cannot open {}: {}", path, std::strerror(errno));
    sleep_ms(options_.retry_ms);
    return false;
  }
  struct Closer {
    int fd;
    ~Closer() { ::close(fd); }
  } closer{fd};
  uint64_t offset = 0;
  std::string buf;
  std::size_t pos = 0;
  bool header_ok = false;
  bool sealed = false;  // a newer segment existed before our last read: the file is complete
  for (;;) {
    if (stopping() || failed_ || rewind_due()) return false;
    if (!sealed) sealed = newer_segment_exists(options_.dir, number);
    bool more = false;
    if (!read_more(fd, offset, buf, more)) {
      spdlog::error("ingest: cannot read {}: {}", path, std::strerror(errno));
      sleep_ms(options_.retry_ms);
      return false;
    }
    bool progressed = false;
    if (!header_ok) {
      if (buf.size() >= spool::kSegmentHeaderBytes) {
        if (!spool::valid_segment_header(buf, number)) {
          spdlog::error("ingest: {} has no valid segment header: skipped", path);
          stats_.torn_tails++;
          return finish_segment(number);
        }
        header_ok = true;
        pos = spool::kSegmentHeaderBytes;
      }
    }
    spool::ParseStatus last = spool::ParseStatus::kNeedMore;
    while (header_ok) {
      auto r = spool::parse_record(std::string_view(buf).substr(pos));
      last = r.status;
      if (r.status != spool::ParseStatus::kOk) break;
      pos += r.consumed;
      progressed = true;
      stats_.records++;
      handle(number, r.record.topic, r.record.payload, r.record.seq);
      if (failed_ || stopping()) return false;
    }
    stats_.segment_offset = offset - (buf.size() - pos);
    if (pos > (1u << 20)) {
      buf.erase(0, pos);
      pos = 0;
    }
    if (progressed || more) continue;
    if (sealed) {
      // The writer moved on before we read: what is left can never become a record.
      if (pos < buf.size() || !header_ok) {
        stats_.torn_tails++;
        spdlog::warn("ingest: {}: {} trailing bytes are not a complete record ({}): skipped", path,
                     buf.size() - pos, last == spool::ParseStatus::kCorrupt ? "corrupt" : "torn");
      }
      return finish_segment(number);
    }
    stats_.caught_up = true;
    sleep_ms(options_.poll_ms);
  }
}

void SpoolTailer::handle(uint64_t segment, std::string_view topic, std::string_view payload,
                         uint64_t seq) {
  const SpoolPosition p{static_cast<int64_t>(segment), static_cast<int64_t>(seq)};
  if (p <= cursor_) return;
  stats_.caught_up = false;
  for (std::size_t i = 0; i < sinks_.size(); ++i) {
    const auto& prefix = sinks_[i].topic_prefix;
    if (topic.size() <= prefix.size() + 1 || !topic.starts_with(prefix) ||
        topic[prefix.size()] != '/') {
      continue;
    }
    if (p <= after_[i]) return;  // this database has it already
    if (held_[i] || (sinks_[i].held && sinks_[i].held())) {
      // Left in the spool (not handed, position not moved) until the sink takes records again;
      // once held, its later records wait too, so its position never passes a skipped one.
      held_[i] = true;
      stats_.held++;
      return;
    }
    wait_in_flight_below(options_.max_in_flight);
    {
      std::lock_guard lock(mutex_);
      in_flight_++;
    }
    stats_.handed++;
    const SpoolMark mark{after_[i], p};
    const bool taken = sinks_[i].ingest(
        topic, payload,
        [this](bool ok) {
          if (!ok) failed_ = true;
          std::lock_guard lock(mutex_);
          in_flight_--;
          if (flight_waiters_ > 0 && in_flight_ <= wake_at_) flight_cv_.notify_all();
        },
        &mark);
    if (taken) after_[i] = p;
    return;
  }
  stats_.unrouted++;
}

bool SpoolTailer::finish_segment(uint64_t number) {
  const SpoolPosition done{static_cast<int64_t>(number), SpoolPosition::kSegmentDone};
  for (std::size_t i = 0; i < sinks_.size(); ++i) {
    if (after_[i] >= done || held_[i]) continue;
    // Queued behind this database's record jobs: commits after them, or fails if one failed.
    if (auto r = sinks_[i].positions->advance({after_[i], done}); !r) {
      spdlog::warn("ingest: cannot close spool segment {} for {}: {} ({})", number, sinks_[i].name,
                   r.error().message, r.error().detail);
      failed_ = true;
      return false;
    }
    after_[i] = done;
  }
  cursor_ = done;
  if (any_held()) return true;  // a held sink still needs the segment
  if (::unlink(segment_path(options_.dir, number).c_str()) == 0) {
    stats_.segments_deleted++;
  } else {
    spdlog::warn("ingest: cannot delete consumed spool segment {}: {}", number,
                 std::strerror(errno));
  }
  return true;
}

}  // namespace sp::ingest
