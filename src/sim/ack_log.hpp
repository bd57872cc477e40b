#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace sp::sim {

/// The shared file behind --ack-log: opened once with O_APPEND, so several writers (one per worker
/// thread) can append whole lines without a lock (each flush is a single write(2) of whole lines).
class AckLogFile {
 public:
  /// Opens (creates, 0644) `path` for appending; throws std::runtime_error on failure.
  explicit AckLogFile(const std::string& path);
  ~AckLogFile();
  AckLogFile(const AckLogFile&) = delete;
  AckLogFile& operator=(const AckLogFile&) = delete;

  /// Appends `data` with as few write(2) calls as possible; throws on I/O errors.
  void append(std::string_view data);

 private:
  int fd_ = -1;
};

/// One worker's buffered writer of "<serial> <seq>\n" lines (one per PUBACK). Not thread-safe: each
/// worker owns one. It flushes when the buffer is large or `flush_interval` has passed, so after a
/// crash of the system under test the file lags the truth by at most that interval (and is complete
/// once the simulator exits normally).
class AckLogWriter {
 public:
  AckLogWriter(std::shared_ptr<AckLogFile> file, std::chrono::milliseconds flush_interval);
  ~AckLogWriter();
  AckLogWriter(const AckLogWriter&) = delete;
  AckLogWriter& operator=(const AckLogWriter&) = delete;

  void record(std::string_view serial, std::uint64_t seq);
  /// Flushes if the interval has elapsed (call regularly from the worker loop).
  void maybe_flush(std::chrono::steady_clock::time_point now);
  void flush();

 private:
  static constexpr std::size_t kFlushBytes = 64 * 1024;
  std::shared_ptr<AckLogFile> file_;
  std::chrono::milliseconds flush_interval_;
  std::chrono::steady_clock::time_point last_flush_;
  std::string buffer_;
};

}  // namespace sp::sim
