// Atomic PEM file writing and OpenSSL hashed-directory maintenance.

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <regex>
#include <set>

#include "ossl.hpp"
#include "smartproduct/pki/pki.hpp"

namespace sp::pki {
namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxPemFile = 1 << 20;

tl::unexpected<Error> io_fail(std::string name, const std::string& what, const std::string& path,
                              int err) {
  return fail(ErrorKind::kUnavailable, std::move(name),
              what + " " + path + ": " + std::strerror(err));
}

// Makes the rename/link durable: without it a crash can leave the directory entry unwritten.
void fsync_dir(const fs::path& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

fs::path parent_or_dot(const fs::path& p) {
  return p.has_parent_path() ? p.parent_path() : fs::path(".");
}

}  // namespace

Result<void> write_file_atomic(const std::string& path, std::string_view content, unsigned mode,
                               Overwrite overwrite) {
  const fs::path target(path);
  const fs::path dir = parent_or_dot(target);
  if (overwrite == Overwrite::kNever && ::access(path.c_str(), F_OK) == 0) {
    return fail(ErrorKind::kConflict, "FileExists", "refusing to overwrite " + path);
  }
  // Hidden temporary in the same directory (same file system, so rename/link are atomic).
  // Built with append rather than operator+: GCC 12 at -O3 reports a false -Wrestrict on the
  // latter.
  std::string name = ".";
  name.append(target.filename().string()).append(".tmp.XXXXXX");
  std::string tmp = (dir / name).string();
  int fd = ::mkostemp(tmp.data(), O_CLOEXEC);  // created 0600: a key is never briefly readable
  if (fd < 0) return io_fail("FileWriteFailed", "cannot write", path, errno);
  auto cleanup = [&](int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return io_fail("FileWriteFailed", "cannot write", path, err);
  };
  if (::fchmod(fd, mode) != 0) return cleanup(errno);
  std::size_t off = 0;
  while (off < content.size()) {
    ssize_t n = ::write(fd, content.data() + off, content.size() - off);
    if (n < 0) {
      if (errno == EINTR) continue;
      return cleanup(errno);
    }
    off += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) return cleanup(errno);
  if (::close(fd) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_fail("FileWriteFailed", "cannot write", path, err);
  }
  if (overwrite == Overwrite::kNever) {
    // link(2) fails with EEXIST if someone created the file meanwhile: no check-then-act race.
    int rc = ::link(tmp.c_str(), path.c_str());
    int err = errno;
    ::unlink(tmp.c_str());
    if (rc != 0) {
      if (err == EEXIST) {
        return fail(ErrorKind::kConflict, "FileExists", "refusing to overwrite " + path);
      }
      return io_fail("FileWriteFailed", "cannot write", path, err);
    }
  } else if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return io_fail("FileWriteFailed", "cannot write", path, err);
  }
  fsync_dir(dir);
  return {};
}

Result<void> write_key_file(const std::string& path, std::string_view key_pem, bool force) {
  auto r = write_file_atomic(path, key_pem, 0600, force ? Overwrite::kAllow : Overwrite::kNever);
  if (!r && r.error().name == "FileExists") {
    return fail(ErrorKind::kConflict, "KeyExists",
                "refusing to overwrite existing key " + path + " (use --force)");
  }
  return r;
}

Result<void> write_cert_file(const std::string& path, std::string_view cert_pem) {
  return write_file_atomic(path, cert_pem, 0644, Overwrite::kAllow);
}

Result<std::string> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    if (errno == ENOENT) return fail(ErrorKind::kNotFound, "FileNotFound", "no such file " + path);
    return io_fail("FileReadFailed", "cannot read", path, errno);
  }
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
      static_cast<std::size_t>(st.st_size) > kMaxPemFile) {
    ::close(fd);
    return fail(ErrorKind::kUnprocessable, "FileReadFailed",
                "not a regular file of at most 1 MiB: " + path);
  }
  std::string out(static_cast<std::size_t>(st.st_size), '\0');
  std::size_t off = 0;
  while (off < out.size()) {
    ssize_t n = ::read(fd, out.data() + off, out.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<std::size_t>(n);
  }
  ::close(fd);
  out.resize(off);
  return out;
}

Result<int> rehash_directory(const std::string& dir_path) {
  const fs::path dir(dir_path);
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) {
    return fail(ErrorKind::kNotFound, "DirectoryNotFound", "no such directory " + dir_path);
  }
  static const std::regex kHashLink("^[0-9a-f]{8}\\.[0-9]+$");

  struct Candidate {
    std::string file;
    std::string hash;
  };
  std::vector<Candidate> certs;  // sorted by file name below: stable link numbering
  std::set<std::string> seen_fingerprints;
  std::set<std::string> existing_links;
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    auto status = entry.symlink_status(ec);
    if (fs::is_symlink(status)) {
      if (std::regex_match(name, kHashLink)) existing_links.insert(name);
      continue;
    }
    if (!fs::is_regular_file(status) || name.starts_with(".")) continue;
    auto ext = entry.path().extension().string();
    for (auto& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (ext == ".pem" || ext == ".crt" || ext == ".cer") files.push_back(name);
  }
  if (ec) return io_fail("RehashFailed", "cannot list", dir_path, ec.value());
  std::sort(files.begin(), files.end());
  for (const auto& name : files) {
    auto pem = read_file((dir / name).string());
    if (!pem) continue;
    auto info = parse_certificate(*pem);
    auto hash = subject_hash(*pem);
    if (!info || !hash) continue;  // not a certificate (e.g. a CRL or junk): not linked
    if (!seen_fingerprints.insert(info->sha256_fingerprint).second) continue;
    certs.push_back({name, *hash});
  }

  std::map<std::string, std::string> desired;  // link name -> target file name
  std::map<std::string, int> next_index;
  for (const auto& c : certs) {
    desired[c.hash + "." + std::to_string(next_index[c.hash]++)] = c.file;
  }
  for (const auto& [link, target] : desired) {
    const fs::path link_path = dir / link;
    if (existing_links.contains(link) && fs::read_symlink(link_path, ec) == fs::path(target)) {
      continue;
    }
    // Relative target: the directory stays valid when moved or mounted elsewhere.
    const fs::path tmp = dir / ("." + link + ".tmp");
    ::unlink(tmp.c_str());
    if (::symlink(target.c_str(), tmp.c_str()) != 0 ||
        ::rename(tmp.c_str(), link_path.c_str()) != 0) {
      int err = errno;
      ::unlink(tmp.c_str());
      return io_fail("RehashFailed", "cannot create link in", dir_path, err);
    }
  }
  for (const auto& link : existing_links) {
    if (!desired.contains(link)) ::unlink((dir / link).c_str());
  }
  fsync_dir(dir);
  return static_cast<int>(certs.size());
}

}  // namespace sp::pki
