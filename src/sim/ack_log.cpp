#include "ack_log.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

namespace sp::sim {

AckLogFile::AckLogFile(const std::string& path) {
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    throw std::runtime_error("cannot open ack log " + path + ": " + std::strerror(errno));
  }
}

AckLogFile::~AckLogFile() {
  if (fd_ >= 0) ::close(fd_);
}

void AckLogFile::append(std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::write(fd_, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(std::string("ack log write failed: ") + std::strerror(errno));
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
}

AckLogWriter::AckLogWriter(std::shared_ptr<AckLogFile> file,
                           std::chrono::milliseconds flush_interval)
    : file_(std::move(file)),
      flush_interval_(flush_interval),
      last_flush_(std::chrono::steady_clock::now()) {
  buffer_.reserve(kFlushBytes + 128);
}

AckLogWriter::~AckLogWriter() {
  try {
    flush();
  } catch (...) {  // NOLINT(bugprone-empty-catch): a destructor must not throw
  }
}

void AckLogWriter::record(std::string_view serial, std::uint64_t seq) {
  buffer_.append(serial);
  buffer_.push_back(' ');
  buffer_.append(std::to_string(seq));
  buffer_.push_back('\n');
  if (buffer_.size() >= kFlushBytes) flush();
}

void AckLogWriter::maybe_flush(std::chrono::steady_clock::time_point now) {
  if (!buffer_.empty() && now - last_flush_ >= flush_interval_) flush();
}

void AckLogWriter::flush() {
  last_flush_ = std::chrono::steady_clock::now();
  if (buffer_.empty()) return;
  file_->append(buffer_);
  buffer_.clear();
}

}  // namespace sp::sim
