#include "smartproduct/identity/key_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "smartproduct/identity/secrets.hpp"

namespace sp::identity {
namespace {

namespace fs = std::filesystem;

constexpr const char* kManifest = "keys.json";
constexpr const char* kPepper = "code-pepper";
constexpr const char* kLock = ".lock";

tl::unexpected<Error> key_error(std::string message, std::string detail = {}) {
  return fail(ErrorKind::kUnavailable, "KeyStoreError", std::move(message), std::move(detail));
}

// Kids become file names: only the base64url alphabet, so no path can be smuggled in.
bool safe_kid(std::string_view kid) {
  if (kid.empty() || kid.size() > 128) return false;
  return std::all_of(kid.begin(), kid.end(), [](char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  });
}

fs::path key_file(const fs::path& dir, std::string_view kid) {
  return dir / ("jwt-" + std::string(kid) + ".pem");
}

Result<std::string> read_file(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) return key_error("cannot read " + file.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Writes via a temp file, fsync and rename: readers see the old or the new content, never a mix.
Result<void> write_file_atomic(const fs::path& file, std::string_view content) {
  const fs::path tmp = file.string() + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return key_error("cannot write " + tmp.string(), std::strerror(errno));
  std::size_t done = 0;
  while (done < content.size()) {
    const ssize_t n = ::write(fd, content.data() + done, content.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return key_error("cannot write " + tmp.string(), std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0600);
  const bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), file.c_str()) != 0) {
    return key_error("cannot write " + file.string(), std::strerror(errno));
  }
  return {};
}

Result<void> ensure_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return key_error("cannot create " + dir.string(), ec.message());
  fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  return {};
}

// An exclusive flock on keys/.lock for the duration of a read-modify-write of the manifest.
class DirLock {
 public:
  explicit DirLock(const fs::path& dir) {
    fd_ = ::open((dir / kLock).c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd_ >= 0) ::flock(fd_, LOCK_EX);
  }
  ~DirLock() {
    if (fd_ >= 0) ::close(fd_);  // closing releases the lock
  }
  bool ok() const { return fd_ >= 0; }
  DirLock(const DirLock&) = delete;
  DirLock& operator=(const DirLock&) = delete;

 private:
  int fd_ = -1;
};

struct Manifest {
  std::string active;
  std::vector<KeyInfo> keys;
};

Result<std::optional<Manifest>> read_manifest(const fs::path& dir) {
  std::error_code ec;
  if (!fs::exists(dir / kManifest, ec)) return std::optional<Manifest>{};
  auto text = read_file(dir / kManifest);
  if (!text) return tl::unexpected(text.error());
  const auto j = nlohmann::json::parse(*text, nullptr, false);
  const auto bad = [&] {
    return key_error((dir / kManifest).string() + " is not a valid manifest");
  };
  if (!j.is_object() || !j.contains("active") || !j["active"].is_string() || !j.contains("keys") ||
      !j["keys"].is_array()) {
    return bad();
  }
  Manifest m;
  m.active = j["active"].get<std::string>();
  for (const auto& k : j["keys"]) {
    if (!k.is_object() || !k.contains("kid") || !k["kid"].is_string() || !k.contains("alg") ||
        !k["alg"].is_string() || !k.contains("createdAt") || !k["createdAt"].is_number_integer()) {
      return bad();
    }
    KeyInfo info;
    info.kid = k["kid"].get<std::string>();
    if (!safe_kid(info.kid)) return bad();
    const auto alg = k["alg"].get<std::string>();
    if (alg == "ES256") {
      info.algorithm = Algorithm::kEs256;
    } else if (alg == "EdDSA") {
      info.algorithm = Algorithm::kEdDsa;
    } else {
      return bad();
    }
    info.created_at = k["createdAt"].get<std::int64_t>();
    if (k.contains("retireAt") && k["retireAt"].is_number_integer()) {
      info.retire_at = k["retireAt"].get<std::int64_t>();
    }
    info.active = info.kid == m.active;
    m.keys.push_back(std::move(info));
  }
  if (std::none_of(m.keys.begin(), m.keys.end(), [](const KeyInfo& k) { return k.active; })) {
    return bad();
  }
  return std::optional<Manifest>(std::move(m));
}

Result<void> write_manifest(const fs::path& dir, const Manifest& m) {
  nlohmann::json keys = nlohmann::json::array();
  for (const auto& k : m.keys) {
    nlohmann::json entry{{"kid", k.kid},
                         {"alg", std::string(algorithm_name(k.algorithm))},
                         {"createdAt", k.created_at}};
    entry["retireAt"] = k.retire_at ? nlohmann::json(*k.retire_at) : nlohmann::json(nullptr);
    keys.push_back(std::move(entry));
  }
  return write_file_atomic(dir / kManifest,
                           nlohmann::json{{"active", m.active}, {"keys", keys}}.dump(2) + "\n");
}

Result<KeyInfo> add_new_key(const fs::path& dir, Manifest& m, Algorithm alg, std::int64_t now) {
  auto key = SigningKey::generate(alg);
  if (!key) return tl::unexpected(key.error());
  if (!safe_kid(key->kid())) return key_error("generated key id is not file-name safe");
  if (auto r = write_file_atomic(key_file(dir, key->kid()), key->to_pem()); !r) {
    return tl::unexpected(r.error());
  }
  KeyInfo info{key->kid(), alg, now, std::nullopt, true};
  for (auto& k : m.keys) k.active = false;
  m.active = info.kid;
  m.keys.insert(m.keys.begin(), info);
  return info;
}

}  // namespace

Result<void> KeyStore::ensure(Algorithm algorithm, std::int64_t now) {
  if (auto r = ensure_dir(dir_); !r) return r;
  DirLock lock(dir_);
  if (!lock.ok()) return key_error("cannot lock " + (dir_ / kLock).string());
  auto m = read_manifest(dir_);
  if (!m) return tl::unexpected(m.error());
  if (*m) return {};
  Manifest fresh;
  if (auto k = add_new_key(dir_, fresh, algorithm, now); !k) return tl::unexpected(k.error());
  return write_manifest(dir_, fresh);
}

Result<KeyInfo> KeyStore::rotate(Algorithm algorithm, std::int64_t now,
                                 std::int64_t retire_after_s) {
  if (auto r = ensure_dir(dir_); !r) return tl::unexpected(r.error());
  DirLock lock(dir_);
  if (!lock.ok()) return key_error("cannot lock " + (dir_ / kLock).string());
  auto read = read_manifest(dir_);
  if (!read) return tl::unexpected(read.error());
  Manifest m = read->value_or(Manifest{});
  // Keys whose tokens have all expired leave the manifest and the disk.
  std::vector<KeyInfo> kept;
  for (auto& k : m.keys) {
    if (!k.active && k.retire_at && *k.retire_at <= now) {
      std::error_code ec;
      fs::remove(key_file(dir_, k.kid), ec);
      continue;
    }
    if (k.active) k.retire_at = now + retire_after_s;
    kept.push_back(k);
  }
  m.keys = std::move(kept);
  auto info = add_new_key(dir_, m, algorithm, now);
  if (!info) return info;
  if (auto r = write_manifest(dir_, m); !r) return tl::unexpected(r.error());
  return info;
}

Result<std::vector<KeyInfo>> KeyStore::list() const {
  auto m = read_manifest(dir_);
  if (!m) return tl::unexpected(m.error());
  if (!*m) return std::vector<KeyInfo>{};
  auto keys = (*m)->keys;
  std::stable_sort(keys.begin(), keys.end(), [](const KeyInfo& a, const KeyInfo& b) {
    if (a.active != b.active) return a.active;
    return a.created_at > b.created_at;
  });
  return keys;
}

Result<void> KeyStore::load_into(KeyRing& ring, std::int64_t now) const {
  auto m = read_manifest(dir_);
  if (!m) return tl::unexpected(m.error());
  if (!*m) return key_error("no signing key in " + dir_.string());
  std::set<std::string> live;
  std::optional<SigningKey> active;
  std::vector<VerificationKey> verifiers;
  for (const auto& k : (*m)->keys) {
    if (!k.active && k.retire_at && *k.retire_at <= now) continue;
    auto pem = read_file(key_file(dir_, k.kid));
    if (!pem) return tl::unexpected(pem.error());
    auto key = SigningKey::from_pem(*pem, k.kid);
    if (!key) return key_error("cannot load key " + k.kid, key.error().detail);
    if (key->algorithm() != k.algorithm) return key_error("key " + k.kid + " has another type");
    live.insert(k.kid);
    if (k.active) {
      active = *key;
    } else {
      verifiers.push_back(key->verification_key());
    }
  }
  if (!active) return key_error("no active signing key in " + dir_.string());
  // Install the new signer before removing anything so signing never finds the ring empty.
  for (auto& v : verifiers) {
    if (!ring.find(v.kid())) {
      if (auto r = ring.add_verification_key(v); !r) return r;
    }
  }
  if (auto r = ring.set_signing_key(*active); !r) return r;
  for (const auto& kid : ring.kids()) {
    if (!live.count(kid)) ring.remove_verification_key(kid);
  }
  return {};
}

Result<std::string> KeyStore::load_or_create_pepper() {
  if (auto r = ensure_dir(dir_); !r) return tl::unexpected(r.error());
  DirLock lock(dir_);
  const fs::path file = dir_ / kPepper;
  std::error_code ec;
  if (fs::exists(file, ec)) {
    auto text = read_file(file);
    if (!text) return text;
    std::string pepper = *text;
    while (!pepper.empty() && (pepper.back() == '\n' || pepper.back() == '\r')) pepper.pop_back();
    if (pepper.size() < 32) return key_error(file.string() + " is too short");
    return pepper;
  }
  // Hex of 32 random bytes: printable, and 64 bytes of it satisfy CodeHasher's minimum.
  const std::string raw = CodeHasher::generate_pepper();
  static constexpr char kHex[] = "0123456789abcdef";
  std::string hex;
  for (const unsigned char c : raw) {
    hex += kHex[c >> 4];
    hex += kHex[c & 15];
  }
  if (auto r = write_file_atomic(file, hex + "\n"); !r) return tl::unexpected(r.error());
  return hex;
}

std::string KeyStore::manifest_stamp() const {
  struct stat st {};
  if (::stat((dir_ / kManifest).c_str(), &st) != 0) return {};
  return std::to_string(st.st_mtim.tv_sec) + "." + std::to_string(st.st_mtim.tv_nsec) + ":" +
         std::to_string(st.st_size) + ":" + std::to_string(st.st_ino);
}

}  // namespace sp::identity
