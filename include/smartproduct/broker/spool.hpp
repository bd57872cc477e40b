#pragma once
// The ingest spool: an append-only, segmented log of device messages that the broker plugin
// writes (before mosquitto sends the PUBACK) and the daemon tails. Shared by both ends; free of
// mosquitto, SQLite and the daemon's libraries so the plugin can link it.
//
// Directory: <dir>/seg-<20-digit number>.spool, numbered upwards; a writer never appends to a
// segment it did not create (after a restart it starts a new one), so only the newest segment
// can still grow, and a torn record can only be at the end of a segment.
//
// Segment: 16-byte header "SPSPOOL1" + u64 segment number (little endian), then records.
// Record: u32 magic 0x52505053 ("SPPR"), u32 body length, u32 CRC-32C of the body, body:
//   u64 seq (1, 2, ... within the segment), i64 broker receive time (epoch ms), u8 qos,
//   u8 flags (bit 0 retain), u16 client id length, u16 topic length, u16 properties length,
//   u32 payload length, client id, topic, properties, payload.
// `properties` is "content-type\0response-topic" of the MQTT v5 PUBLISH (empty when absent).

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace sp::spool {

inline constexpr std::uint32_t kRecordMagic = 0x52505053;
inline constexpr std::size_t kRecordHeaderBytes = 12;
inline constexpr std::size_t kBodyFixedBytes = 8 + 8 + 1 + 1 + 2 + 2 + 2 + 4;
inline constexpr std::size_t kSegmentHeaderBytes = 16;
inline constexpr std::string_view kSegmentMagic = "SPSPOOL1";
/// Larger bodies are corrupt by definition (the broker's own packet limit is lower).
inline constexpr std::size_t kMaxBodyBytes = 16u << 20;

struct Record {
  std::uint64_t seq = 0;
  std::int64_t received_ms = 0;
  std::uint8_t qos = 0;
  bool retain = false;
  std::string client_id;
  std::string topic;
  std::string properties;
  std::string payload;
};

std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t crc = 0);
/// The same without the CPU's crc32 instruction (what crc32c falls back to; for tests).
std::uint32_t crc32c_portable(const void* data, std::size_t len, std::uint32_t crc = 0);

/// The bytes of one record (header + body).
std::string encode_record(const Record& r);

enum class ParseStatus {
  kOk,        // a record; `consumed` bytes
  kNeedMore,  // a prefix of a record (or nothing): wait for the writer, or a torn tail
  kCorrupt,   // not a record (bad magic, impossible length, CRC mismatch, inconsistent fields)
};
struct ParseResult {
  ParseStatus status = ParseStatus::kNeedMore;
  std::size_t consumed = 0;
  Record record;
};
/// Parses the record at the start of `data`. Never reads beyond it.
ParseResult parse_record(std::string_view data);

std::string segment_file_name(std::uint64_t number);
/// Segment numbers found in `dir`, ascending (other files are ignored).
std::vector<std::uint64_t> list_segments(const std::string& dir);
std::string segment_header(std::uint64_t number);
/// True when `data` starts with a valid header for segment `number`.
bool valid_segment_header(std::string_view data, std::uint64_t number);

struct WriterOptions {
  std::string dir;
  std::uint64_t segment_bytes = 64u << 20;
  /// Total bytes of all segments in the directory above which appends are refused.
  std::uint64_t quota_bytes = 1u << 30;
};

enum class AppendStatus { kOk, kQuotaExceeded, kIoError };

/// The broker side. append() is called from one thread (mosquitto's); sync() from another (the
/// plugin's timer thread). append() returns kOk only when the record's bytes were handed to the
/// kernel in full (write()), i.e. they survive a crash of the process.
class Writer {
 public:
  explicit Writer(WriterOptions options);
  ~Writer();
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  /// Creates the directory if needed and starts a new segment after the newest existing one.
  /// Returns an error text or "".
  std::string open();
  AppendStatus append(Record record);
  /// fdatasync()s what was written (and the directory after a new segment). Returns false on an
  /// I/O error. Safe to call concurrently with append().
  bool sync();

  std::uint64_t used_bytes() const { return used_bytes_; }
  bool quota_exceeded() const { return quota_exceeded_; }
  std::uint64_t current_segment() const { return segment_; }
  const std::string& last_error() const { return last_error_; }

 private:
  bool start_segment(std::uint64_t number);
  void rescan_usage();

  WriterOptions options_;
  int fd_ = -1;
  std::uint64_t segment_ = 0;
  std::uint64_t seq_ = 0;
  std::uint64_t segment_size_ = 0;
  std::uint64_t used_bytes_ = 0;  // all segments, as of the last rescan plus what we wrote since
  bool quota_exceeded_ = false;
  std::int64_t last_rescan_ms_ = 0;
  std::string last_error_;
  std::string buffer_;

  // Shared with sync(): the fds written since the last sync (old segments are closed there).
  std::mutex mutex_;
  bool dirty_ = false;
  bool dir_dirty_ = false;
  std::vector<int> retired_fds_;
};

}  // namespace sp::spool
