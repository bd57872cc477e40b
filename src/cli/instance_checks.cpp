#include "instance_checks.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <locale>
#include <map>
#include <set>
#include <sstream>

#include "smartproduct/core/clock.hpp"
#include "smartproduct/pki/pki.hpp"

namespace sp::cli {
namespace fs = std::filesystem;

namespace {

constexpr std::int64_t kDay = 86400;

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string date_of(std::int64_t epoch_s) { return iso8601_ms(epoch_s * 1000).substr(0, 10); }

}  // namespace

std::string_view to_string(CheckLevel level) {
  switch (level) {
    case CheckLevel::kOk:
      return "ok";
    case CheckLevel::kWarn:
      return "warn";
    case CheckLevel::kFail:
      return "fail";
  }
  return "fail";
}

// ---- certificates -------------------------------------------------------------------------------

CertExpiry read_cert_expiry(std::string name, const fs::path& path, std::int64_t now_s) {
  CertExpiry out;
  out.name = std::move(name);
  out.path = path;
  auto pem = pki::read_file(path.string());
  if (!pem) {
    out.error = "cannot read " + path.string() + ": " + pem.error().message;
    return out;
  }
  auto info = pki::parse_certificate(*pem);
  if (!info) {
    out.error = path.string() + " holds no readable certificate: " + info.error().message;
    return out;
  }
  out.subject = info->subject;
  out.common_name = info->common_name;
  out.fingerprint = info->sha256_fingerprint;
  out.not_after_s = info->not_after;
  // Floor division: a certificate that expired an hour ago has -1 days left, not 0.
  const std::int64_t left = info->not_after - now_s;
  out.days_left = left >= 0 ? left / kDay : -((-left + kDay - 1) / kDay);
  return out;
}

CheckLevel expiry_level(const CertExpiry& cert, int warn_days) {
  if (!cert.error.empty() || cert.days_left < 0) return CheckLevel::kFail;
  if (cert.days_left < warn_days) return CheckLevel::kWarn;
  return CheckLevel::kOk;
}

std::string describe_expiry(const CertExpiry& cert) {
  if (!cert.error.empty()) return cert.name + ": " + cert.error;
  if (cert.days_left < 0) {
    return fmt::format("{} expired {} day(s) ago ({})", cert.name, -cert.days_left,
                       date_of(cert.not_after_s));
  }
  return fmt::format("{} expires in {} day(s) ({})", cert.name, cert.days_left,
                     date_of(cert.not_after_s));
}

std::vector<CertExpiry> instance_certificates(const config::DaemonConfig& config,
                                              const CertificateSources& sources,
                                              std::int64_t now_s) {
  std::vector<CertExpiry> out;
  std::set<std::string> seen_paths, seen_fingerprints;
  auto add = [&](std::string name, const fs::path& path) {
    if (path.empty()) return;
    const auto key = path.lexically_normal().string();
    if (!seen_paths.insert(key).second) return;
    auto cert = read_cert_expiry(std::move(name), path, now_s);
    if (cert.error.empty() && !seen_fingerprints.insert(cert.fingerprint).second) return;
    out.push_back(std::move(cert));
  };
  add("platform root", config.broker.ca_file);
  add("https", config.http.cert);
  add("broker", sources.broker_cert);
  add("service", config.broker.cert);
  // Sorted, so the output is stable between runs.
  auto certs_in = [](const fs::path& dir, std::initializer_list<std::string_view> extensions) {
    std::vector<fs::path> files;
    std::error_code ec;
    if (dir.empty() || !fs::is_directory(dir, ec)) return files;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      const auto ext = e.path().extension().string();
      if (std::find(extensions.begin(), extensions.end(), ext) != extensions.end() &&
          e.is_regular_file(ec) && !e.is_symlink(ec)) {
        files.push_back(e.path());
      }
    }
    std::sort(files.begin(), files.end());
    return files;
  };
  // The device CAs that matter are those the broker trusts (the capath holds the ACTIVE ones);
  // a CA the platform manages is named as in pki/cas, a registered one by its CN.
  std::map<std::string, std::string> managed_names;  // fingerprint -> name
  for (const auto& f : certs_in(sources.managed_ca_dir, {".crt"})) {
    auto pem = pki::read_file(f.string());
    if (!pem) continue;
    if (auto info = pki::parse_certificate(*pem)) {
      managed_names.emplace(info->sha256_fingerprint, f.stem().string());
    }
  }
  for (const auto& f : certs_in(sources.ca_dir, {".pem", ".crt"})) {
    auto cert = read_cert_expiry("device CA " + f.stem().string(), f, now_s);
    if (cert.error.empty()) {
      auto it = managed_names.find(cert.fingerprint);
      cert.name = "device CA " + (it != managed_names.end() ? it->second : cert.common_name);
    }
    if (cert.error.empty() && !seen_fingerprints.insert(cert.fingerprint).second) continue;
    out.push_back(std::move(cert));
  }
  return out;
}

// ---- files --------------------------------------------------------------------------------------

FileFacts file_facts(const fs::path& path) {
  FileFacts facts;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return facts;
  facts.exists = true;
  facts.is_directory = S_ISDIR(st.st_mode);
  facts.mode = static_cast<unsigned>(st.st_mode & 07777);
  facts.uid = st.st_uid;
  return facts;
}

std::string user_name(uid_t uid) {
  if (const passwd* pw = ::getpwuid(uid); pw != nullptr) return pw->pw_name;
  return fmt::format("uid {}", uid);
}

CheckResult evaluate_key_file(const fs::path& path, const FileFacts& facts, uid_t owner) {
  CheckResult r{"keys", CheckLevel::kOk, "", ""};
  const auto p = path.string();
  if (!facts.exists) {
    r.level = CheckLevel::kFail;
    r.message = p + " is missing";
    r.fix = "restore it from a backup, or run smartproductctl init again to create what is missing";
    return r;
  }
  if ((facts.mode & 0077) != 0) {
    r.level = CheckLevel::kFail;
    r.message = fmt::format("{} has mode {:04o}: the private key is open to {}", p, facts.mode,
                            (facts.mode & 0007) != 0 ? "every local user" : "its group");
    r.fix = "chmod 600 " + p;
    return r;
  }
  if ((facts.mode & 0400) == 0) {
    r.level = CheckLevel::kFail;
    r.message = fmt::format("{} has mode {:04o}: its owner cannot read it", p, facts.mode);
    r.fix = "chmod 600 " + p;
    return r;
  }
  if (facts.uid != owner) {
    r.level = CheckLevel::kFail;
    r.message = fmt::format("{} is owned by {}, not by {} (who runs the service)", p,
                            user_name(facts.uid), user_name(owner));
    r.fix = fmt::format("chown {} {}", user_name(owner), p);
    return r;
  }
  r.message = fmt::format("{} {:04o} {}", p, facts.mode, user_name(facts.uid));
  return r;
}

CheckResult evaluate_private_dir(std::string_view what, const fs::path& path,
                                 const FileFacts& facts, uid_t owner) {
  CheckResult r{"directories", CheckLevel::kOk, "", ""};
  const auto p = path.string();
  if (!facts.exists || !facts.is_directory) {
    r.level = CheckLevel::kFail;
    r.message =
        fmt::format("{} {} {}", what, p, facts.exists ? "is not a directory" : "is missing");
    r.fix = "run smartproductctl init for this instance again (it creates what is missing)";
    return r;
  }
  if (facts.uid != owner) {
    r.level = CheckLevel::kFail;
    r.message = fmt::format("{} {} is owned by {}, not by {} (who runs the service)", what, p,
                            user_name(facts.uid), user_name(owner));
    r.fix = fmt::format("chown -R {} {}", user_name(owner), p);
    return r;
  }
  // The first rule a mode breaks decides; each is fixed by owner-only access.
  struct ModeRule {
    bool broken;
    CheckLevel level;
    const char* why;
  };
  for (const auto& rule :
       {ModeRule{(facts.mode & 0700) != 0700, CheckLevel::kFail, "its owner cannot use it"},
        ModeRule{(facts.mode & 0022) != 0, CheckLevel::kFail, "others can change what is in it"},
        ModeRule{(facts.mode & 0077) != 0, CheckLevel::kWarn, "others can read what is in it"}}) {
    if (!rule.broken) continue;
    r.level = rule.level;
    r.message = fmt::format("{} {} has mode {:04o}: {}", what, p, facts.mode, rule.why);
    r.fix = "chmod 700 " + p;
    return r;
  }
  r.message = fmt::format("{} {} {:04o} {}", what, p, facts.mode, user_name(facts.uid));
  return r;
}

// ---- disk, clock, metrics, sockets --------------------------------------------------------------

CheckResult evaluate_disk(const fs::path& data_dir, std::optional<std::int64_t> free,
                          std::int64_t min_free_bytes, std::int64_t telemetry_bytes,
                          std::int64_t max_disk_bytes) {
  CheckResult r{"disk", CheckLevel::kOk, "", ""};
  if (!free) {
    r.level = CheckLevel::kWarn;
    r.message = "cannot measure the free space of " + data_dir.string();
    r.fix = "check that " + data_dir.string() + " exists and is readable";
    return r;
  }
  std::string limits =
      fmt::format("{} free on {} ([telemetry] min_free_bytes {})", human_bytes(*free),
                  data_dir.string(), human_bytes(min_free_bytes));
  if (max_disk_bytes > 0) {
    limits += fmt::format("; telemetry.db files {} of max_disk_bytes {}",
                          human_bytes(telemetry_bytes), human_bytes(max_disk_bytes));
  }
  if (min_free_bytes > 0 && *free < min_free_bytes) {
    r.level = CheckLevel::kFail;
    r.message = limits + ": under the limit, the disk guard pauses telemetry intake";
    r.fix = "free space on that file system, or lower [telemetry] raw_retention_days";
  } else if (max_disk_bytes > 0 && telemetry_bytes > max_disk_bytes) {
    // The files include free pages and the WAL, so this is the guard's upper bound: the guard
    // prunes the oldest samples first and pauses only if that is not enough.
    r.level = CheckLevel::kWarn;
    r.message = limits + ": over max_disk_bytes, the disk guard is pruning the oldest samples";
    r.fix = "raise [telemetry] max_disk_bytes or lower raw_retention_days";
  } else if (min_free_bytes > 0 && *free < 2 * min_free_bytes) {
    r.level = CheckLevel::kWarn;
    r.message = limits + ": less than twice the limit";
    r.fix = "free space on that file system before the disk guard pauses telemetry intake";
  } else {
    r.message = limits;
  }
  return r;
}

std::optional<std::int64_t> parse_http_date(std::string_view text) {
  // IMF-fixdate only (RFC 9110 §5.6.7): what every current server, ours included, sends.
  std::tm tm{};
  const std::string s(text);
  std::istringstream in(s);
  in.imbue(std::locale::classic());
  in >> std::get_time(&tm, "%a, %d %b %Y %H:%M:%S");
  std::string zone;
  in >> zone;
  if (in.fail() || zone != "GMT") return std::nullopt;
  return static_cast<std::int64_t>(::timegm(&tm));
}

CheckResult evaluate_clock_skew(std::int64_t server_s, std::int64_t local_s) {
  CheckResult r{"clock", CheckLevel::kOk, "", ""};
  const std::int64_t skew = local_s - server_s;
  const std::int64_t size = skew < 0 ? -skew : skew;
  r.message = fmt::format("this host's clock is {} s {} the daemon's Date header", size,
                          skew < 0 ? "behind" : "ahead of");
  if (size > 300) {
    r.level = CheckLevel::kFail;
    r.fix =
        "synchronise both clocks (systemd-timesyncd or chrony); tokens and new certificates "
        "are refused beyond 5 minutes";
  } else if (size > 5) {
    r.level = CheckLevel::kWarn;
    r.fix = "synchronise both clocks (systemd-timesyncd or chrony)";
  } else {
    r.message = fmt::format("within {} s of the daemon's Date header", size);
  }
  return r;
}

std::optional<double> metric_value(std::string_view exposition, std::string_view name) {
  std::size_t pos = 0;
  while (pos < exposition.size()) {
    auto end = exposition.find('\n', pos);
    if (end == std::string_view::npos) end = exposition.size();
    const auto line = exposition.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() <= name.size() || line.substr(0, name.size()) != name) continue;
    auto rest = line.substr(name.size());
    if (rest.front() == '{') {
      const auto close = rest.find('}');
      if (close == std::string_view::npos) continue;
      rest = rest.substr(close + 1);
    } else if (rest.front() != ' ') {
      continue;  // a longer name with this prefix
    }
    while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    const std::string value(rest.substr(0, rest.find(' ')));
    char* stop = nullptr;
    const double v = std::strtod(value.c_str(), &stop);
    if (stop != value.c_str()) return v;
  }
  return std::nullopt;
}

std::vector<ListeningSocket> parse_listening_sockets(std::string_view text) {
  // "  sl  local_address rem_address   st tx_queue:rx_queue tr:tm->when retrnsmt   uid  timeout
  //   inode": addresses as HEXIP:HEXPORT, state 0A is LISTEN.
  std::vector<ListeningSocket> out;
  std::istringstream in{std::string(text)};
  std::string line;
  std::getline(in, line);  // header
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string sl, local, remote, state, queues, timer, retransmits, uid, timeout, inode;
    if (!(fields >> sl >> local >> remote >> state >> queues >> timer >> retransmits >> uid >>
          timeout >> inode)) {
      continue;
    }
    if (state != "0A") continue;
    const auto colon = local.rfind(':');
    if (colon == std::string::npos) continue;
    ListeningSocket s;
    unsigned port = 0;
    auto port_text = std::string_view(local).substr(colon + 1);
    if (std::from_chars(port_text.data(), port_text.data() + port_text.size(), port, 16).ec !=
            std::errc() ||
        std::from_chars(inode.data(), inode.data() + inode.size(), s.inode).ec != std::errc()) {
      continue;
    }
    s.port = static_cast<std::uint16_t>(port);
    out.push_back(s);
  }
  return out;
}

namespace {

// Finds the process whose file descriptors include one of the sockets `inodes`. Other users'
// fd folders are not readable (except by root): then the holder stays unnamed.
void scan_socket_holders(const std::set<std::uint64_t>& inodes, PortUse& use) {
  std::error_code ec;
  for (const auto& proc : fs::directory_iterator("/proc", ec)) {
    const auto name = proc.path().filename().string();
    if (name.empty() || !std::all_of(name.begin(), name.end(), ::isdigit)) continue;
    std::error_code fd_ec;
    for (const auto& fd : fs::directory_iterator(proc.path() / "fd", fd_ec)) {
      std::error_code link_ec;
      const auto target = fs::read_symlink(fd.path(), link_ec).string();
      if (link_ec || target.rfind("socket:[", 0) != 0) continue;
      std::uint64_t inode = 0;
      std::from_chars(target.data() + 8, target.data() + target.size(), inode);
      if (inodes.count(inode) == 0) continue;
      use.pid = std::atoi(name.c_str());
      use.process = read_text(proc.path() / "comm");
      while (!use.process.empty() && use.process.back() == '\n') use.process.pop_back();
      return;
    }
  }
}

}  // namespace

PortUse port_use(std::uint16_t port) {
  PortUse use;
  std::set<std::uint64_t> inodes;
  for (const char* table : {"/proc/net/tcp", "/proc/net/tcp6"}) {
    for (const auto& s : parse_listening_sockets(read_text(table))) {
      if (s.port == port) inodes.insert(s.inode);
    }
  }
  if (inodes.empty()) return use;
  use.listening = true;
  // Which process holds the socket: its fd links read "socket:[INODE]".
  // Processes come and go while /proc is read: an iterator may throw; what was found stands.
  try {
    scan_socket_holders(inodes, use);
  } catch (const fs::filesystem_error&) {
  }
  return use;
}

std::string describe_user(const PortUse& use) {
  if (use.pid == 0) return "another user's process (run as root to name it)";
  return fmt::format("{} (pid {})", use.process, use.pid);
}

std::string human_bytes(std::int64_t bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 4) {
    v /= 1024;
    ++unit;
  }
  if (unit == 0) return fmt::format("{} B", bytes);
  return fmt::format("{:.1f} {}", v, kUnits[unit]);
}

}  // namespace sp::cli
