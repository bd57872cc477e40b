#include "smartproduct/broker/spool.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>

namespace sp::spool {
namespace {

constexpr std::array<std::uint32_t, 256> make_crc_table() {
  std::array<std::uint32_t, 256> t{};
  for (std::uint32_t i = 0; i < 256; ++i) {
    std::uint32_t c = i;
    for (int k = 0; k < 8; ++k) c = (c & 1) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
    t[i] = c;
  }
  return t;
}
constexpr auto kCrcTable = make_crc_table();

void put_u16(std::string& out, std::uint16_t v) {
  out.push_back(static_cast<char>(v & 0xff));
  out.push_back(static_cast<char>(v >> 8));
}
void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
std::uint64_t get_le(std::string_view d, std::size_t at, int bytes) {
  std::uint64_t v = 0;
  for (int i = bytes - 1; i >= 0; --i) {
    v = (v << 8) | static_cast<unsigned char>(d[at + static_cast<std::size_t>(i)]);
  }
  return v;
}

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

bool write_all(int fd, const char* data, std::size_t len) {
  while (len > 0) {
    const ssize_t n = ::write(fd, data, len);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += n;
    len -= static_cast<std::size_t>(n);
  }
  return true;
}

}  // namespace

namespace {

std::uint32_t crc32c_table(const unsigned char* p, std::size_t len, std::uint32_t crc) {
  for (std::size_t i = 0; i < len; ++i) crc = kCrcTable[(crc ^ p[i]) & 0xff] ^ (crc >> 8);
  return crc;
}

#if defined(__x86_64__)
// The SSE4.2 crc32 instruction computes CRC-32C (the same polynomial, 0x82F63B78 reflected) 8
// bytes per instruction: the broker computes one per spooled message, the daemon checks it.
__attribute__((target("sse4.2"))) std::uint32_t crc32c_sse42(const unsigned char* p,
                                                             std::size_t len, std::uint32_t crc) {
  std::uint64_t c = crc;
  for (; len >= 8; p += 8, len -= 8) {
    std::uint64_t word;
    std::memcpy(&word, p, 8);
    c = __builtin_ia32_crc32di(c, word);
  }
  auto c32 = static_cast<std::uint32_t>(c);
  for (; len > 0; ++p, --len) c32 = __builtin_ia32_crc32qi(c32, *p);
  return c32;
}

// __builtin_cpu_init first: this initializer may run before libgcc's own in a shared object.
const bool kHaveSse42 = [] {
  __builtin_cpu_init();
  return __builtin_cpu_supports("sse4.2") != 0;
}();
#endif

}  // namespace

std::uint32_t crc32c(const void* data, std::size_t len, std::uint32_t crc) {
  const auto* p = static_cast<const unsigned char*>(data);
#if defined(__x86_64__)
  if (kHaveSse42) return ~crc32c_sse42(p, len, ~crc);
#endif
  return ~crc32c_table(p, len, ~crc);
}

std::uint32_t crc32c_portable(const void* data, std::size_t len, std::uint32_t crc) {
  return ~crc32c_table(static_cast<const unsigned char*>(data), len, ~crc);
}

std::string encode_record(const Record& r) {
  // Lengths are clamped by the caller's limits (client ids and topics are < 64 KiB in MQTT).
  std::string out;
  const std::size_t body = kBodyFixedBytes + r.client_id.size() + r.topic.size() +
                           r.properties.size() + r.payload.size();
  out.reserve(kRecordHeaderBytes + body);
  put_u32(out, kRecordMagic);
  put_u32(out, static_cast<std::uint32_t>(body));
  put_u32(out, 0);  // CRC, filled in below
  put_u64(out, r.seq);
  put_u64(out, static_cast<std::uint64_t>(r.received_ms));
  out.push_back(static_cast<char>(r.qos));
  out.push_back(static_cast<char>(r.retain ? 1 : 0));
  put_u16(out, static_cast<std::uint16_t>(r.client_id.size()));
  put_u16(out, static_cast<std::uint16_t>(r.topic.size()));
  put_u16(out, static_cast<std::uint16_t>(r.properties.size()));
  put_u32(out, static_cast<std::uint32_t>(r.payload.size()));
  out += r.client_id;
  out += r.topic;
  out += r.properties;
  out += r.payload;
  const std::uint32_t crc = crc32c(out.data() + kRecordHeaderBytes, body);
  for (int i = 0; i < 4; ++i)
    out[8 + static_cast<std::size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xff);
  return out;
}

ParseResult parse_record(std::string_view data) {
  ParseResult res;
  if (data.size() < kRecordHeaderBytes) {
    // A prefix of a header is only plausible if what is there matches the magic so far.
    for (std::size_t i = 0; i < std::min<std::size_t>(data.size(), 4); ++i) {
      if (static_cast<unsigned char>(data[i]) != ((kRecordMagic >> (8 * i)) & 0xff)) {
        res.status = ParseStatus::kCorrupt;
        return res;
      }
    }
    res.status = ParseStatus::kNeedMore;
    return res;
  }
  const auto magic = static_cast<std::uint32_t>(get_le(data, 0, 4));
  const auto body_len = static_cast<std::size_t>(get_le(data, 4, 4));
  const auto crc = static_cast<std::uint32_t>(get_le(data, 8, 4));
  if (magic != kRecordMagic || body_len < kBodyFixedBytes || body_len > kMaxBodyBytes) {
    res.status = ParseStatus::kCorrupt;
    return res;
  }
  if (data.size() - kRecordHeaderBytes < body_len) {
    res.status = ParseStatus::kNeedMore;
    return res;
  }
  const std::string_view body = data.substr(kRecordHeaderBytes, body_len);
  if (crc32c(body.data(), body.size()) != crc) {
    res.status = ParseStatus::kCorrupt;
    return res;
  }
  Record& r = res.record;
  r.seq = get_le(body, 0, 8);
  r.received_ms = static_cast<std::int64_t>(get_le(body, 8, 8));
  r.qos = static_cast<std::uint8_t>(body[16]);
  const auto flags = static_cast<std::uint8_t>(body[17]);
  const auto cid_len = static_cast<std::size_t>(get_le(body, 18, 2));
  const auto topic_len = static_cast<std::size_t>(get_le(body, 20, 2));
  const auto props_len = static_cast<std::size_t>(get_le(body, 22, 2));
  const auto payload_len = static_cast<std::size_t>(get_le(body, 24, 4));
  if (r.qos > 2 || (flags & ~1u) != 0 ||
      kBodyFixedBytes + cid_len + topic_len + props_len + payload_len != body_len) {
    res.status = ParseStatus::kCorrupt;
    return res;
  }
  r.retain = (flags & 1u) != 0;
  std::size_t at = kBodyFixedBytes;
  r.client_id.assign(body.substr(at, cid_len));
  at += cid_len;
  r.topic.assign(body.substr(at, topic_len));
  at += topic_len;
  r.properties.assign(body.substr(at, props_len));
  at += props_len;
  r.payload.assign(body.substr(at, payload_len));
  res.status = ParseStatus::kOk;
  res.consumed = kRecordHeaderBytes + body_len;
  return res;
}

std::string segment_file_name(std::uint64_t number) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "seg-%020llu.spool", static_cast<unsigned long long>(number));
  return buf;
}

std::vector<std::uint64_t> list_segments(const std::string& dir) {
  std::vector<std::uint64_t> out;
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (name.size() != 30 || name.substr(0, 4) != "seg-" || name.substr(24) != ".spool") continue;
    std::uint64_t n = 0;
    bool ok = true;
    for (char c : name.substr(4, 20)) {
      if (c < '0' || c > '9') {
        ok = false;
        break;
      }
      n = n * 10 + static_cast<std::uint64_t>(c - '0');
    }
    if (ok) out.push_back(n);
  }
  ::closedir(d);
  std::sort(out.begin(), out.end());
  return out;
}

std::string segment_header(std::uint64_t number) {
  std::string out(kSegmentMagic);
  put_u64(out, number);
  return out;
}

bool valid_segment_header(std::string_view data, std::uint64_t number) {
  return data.size() >= kSegmentHeaderBytes && data.substr(0, 8) == kSegmentMagic &&
         get_le(data, 8, 8) == number;
}

Writer::Writer(WriterOptions options) : options_(std::move(options)) {}

Writer::~Writer() {
  sync();
  if (fd_ >= 0) ::close(fd_);
}

std::string Writer::open() {
  if (::mkdir(options_.dir.c_str(), 0750) != 0 && errno != EEXIST) {
    return "cannot create " + options_.dir + ": " + std::strerror(errno);
  }
  const auto existing = list_segments(options_.dir);
  rescan_usage();
  if (!start_segment(existing.empty() ? 1 : existing.back() + 1)) return last_error_;
  return {};
}

void Writer::rescan_usage() {
  std::uint64_t total = 0;
  for (auto n : list_segments(options_.dir)) {
    struct stat st {};
    if (::stat((options_.dir + "/" + segment_file_name(n)).c_str(), &st) == 0) {
      total += static_cast<std::uint64_t>(st.st_size);
    }
  }
  used_bytes_ = total;
  last_rescan_ms_ = steady_ms();
}

bool Writer::start_segment(std::uint64_t number) {
  const std::string path = options_.dir + "/" + segment_file_name(number);
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0640);
  if (fd < 0) {
    last_error_ = "cannot create " + path + ": " + std::strerror(errno);
    return false;
  }
  const std::string header = segment_header(number);
  if (!write_all(fd, header.data(), header.size())) {
    last_error_ = "cannot write " + path + ": " + std::strerror(errno);
    ::close(fd);
    ::unlink(path.c_str());
    return false;
  }
  {
    std::lock_guard lock(mutex_);
    if (fd_ >= 0) retired_fds_.push_back(fd_);
    fd_ = fd;
    dirty_ = true;
    dir_dirty_ = true;
  }
  segment_ = number;
  seq_ = 0;
  segment_size_ = header.size();
  used_bytes_ += header.size();
  return true;
}

AppendStatus Writer::append(Record record) {
  const std::int64_t now = steady_ms();
  if (now - last_rescan_ms_ >= 1000) rescan_usage();
  record.seq = seq_ + 1;
  buffer_ = encode_record(record);
  if (used_bytes_ + buffer_.size() > options_.quota_bytes) {
    // The daemon deletes consumed segments: look again, at most every 100 ms.
    if (now - last_rescan_ms_ >= 100) rescan_usage();
    if (used_bytes_ + buffer_.size() > options_.quota_bytes) {
      // Seal the current segment so the daemon can finish and delete it: only the newest
      // segment is never deleted, so without this the spool would stay full for good.
      if (!quota_exceeded_ && fd_ >= 0 && segment_size_ > kSegmentHeaderBytes) {
        start_segment(segment_ + 1);
      }
      quota_exceeded_ = true;
      return AppendStatus::kQuotaExceeded;
    }
  }
  quota_exceeded_ = false;
  if (fd_ < 0 || segment_size_ + buffer_.size() > options_.segment_bytes) {
    if (segment_size_ > kSegmentHeaderBytes || fd_ < 0) {
      if (!start_segment(segment_ + 1)) return AppendStatus::kIoError;
    }
  }
  if (!write_all(fd_, buffer_.data(), buffer_.size())) {
    last_error_ = std::string("write failed: ") + std::strerror(errno);
    // A partial record may now be on disk: it is torn by definition (length/CRC), and nothing may
    // follow it in this segment. Start a new segment for the next append.
    std::lock_guard lock(mutex_);
    retired_fds_.push_back(fd_);
    fd_ = -1;
    return AppendStatus::kIoError;
  }
  {
    std::lock_guard lock(mutex_);
    dirty_ = true;
  }
  seq_ = record.seq;
  segment_size_ += buffer_.size();
  used_bytes_ += buffer_.size();
  return AppendStatus::kOk;
}

bool Writer::sync() {
  int fd = -1;
  bool dir = false;
  std::vector<int> retired;
  {
    std::lock_guard lock(mutex_);
    if (dirty_ && fd_ >= 0) fd = ::dup(fd_);
    dirty_ = false;
    dir = dir_dirty_;
    dir_dirty_ = false;
    retired.swap(retired_fds_);
  }
  bool ok = true;
  for (int r : retired) {
    if (::fdatasync(r) != 0) ok = false;
    ::close(r);
  }
  if (fd >= 0) {
    if (::fdatasync(fd) != 0) ok = false;
    ::close(fd);
  }
  if (dir) {
    const int dfd = ::open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0 || ::fsync(dfd) != 0) ok = false;
    if (dfd >= 0) ::close(dfd);
  }
  return ok;
}

}  // namespace sp::spool
