#include "smartproduct/backup/service.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <ctime>

#include "smartproduct/http/errors.hpp"

namespace sp::backup {
namespace fs = std::filesystem;

namespace {

constexpr std::string_view kArchivePrefix = "smartproduct-";
constexpr std::string_view kArchiveSuffix = ".tar.gz";
// Failed backups are kept in memory for the list; a broken setup failing every few seconds must
// not grow it without bound.
constexpr std::size_t kFailedRecordsKept = 50;

}  // namespace

std::string backup_id(std::int64_t epoch_ms) {
  const std::time_t seconds = static_cast<std::time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  return fmt::format("{:04}{:02}{:02}-{:02}{:02}{:02}-{:03}", tm.tm_year + 1900, tm.tm_mon + 1,
                     tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, epoch_ms % 1000);
}

std::optional<std::int64_t> backup_id_time_ms(std::string_view text) {
  // YYYYMMDD-HHMMSS-mmm: digits and two dashes only, so an id never names another path.
  if (text.size() != 19 || text[8] != '-' || text[15] != '-') return std::nullopt;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (i != 8 && i != 15 && !std::isdigit(static_cast<unsigned char>(text[i]))) {
      return std::nullopt;
    }
  }
  auto num = [&](std::size_t at, std::size_t n) {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) v = v * 10 + (text[i] - '0');
    return v;
  };
  std::tm tm{};
  tm.tm_year = num(0, 4) - 1900;
  tm.tm_mon = num(4, 2) - 1;
  tm.tm_mday = num(6, 2);
  tm.tm_hour = num(9, 2);
  tm.tm_min = num(11, 2);
  tm.tm_sec = num(13, 2);
  if (tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_mday > 31 || tm.tm_hour > 23 || tm.tm_min > 59 ||
      tm.tm_sec > 60) {
    return std::nullopt;
  }
  const std::int64_t ms = static_cast<std::int64_t>(timegm(&tm)) * 1000 + num(16, 3);
  // Round trip: refuses dates that do not exist (20260231) and so a second spelling of an id.
  if (backup_id(ms) != text) return std::nullopt;
  return ms;
}

std::string archive_name(std::string_view id) {
  return std::string(kArchivePrefix) + std::string(id) + std::string(kArchiveSuffix);
}

std::vector<std::string> beyond_retention(std::vector<std::string> ids, std::size_t keep) {
  std::sort(ids.begin(), ids.end());
  if (ids.size() <= keep) return {};
  ids.resize(ids.size() - keep);
  return ids;
}

BackupService::BackupService(BackupSettings settings, Result<InstanceSources> sources,
                             const DatabaseSnapshots& databases, const Clock& clock)
    : settings_(std::move(settings)),
      sources_(std::move(sources)),
      databases_(databases),
      clock_(clock) {
  // The backups never go into the backups: the folder may lie in the data directory.
  if (sources_) sources_->excluded.push_back(fs::absolute(settings_.dir).lexically_normal());
}

Result<void> BackupService::open() {
  std::error_code ec;
  fs::create_directories(settings_.dir, ec);
  if (ec) {
    return fail(errors::kBackupFailed,
                "cannot create [backup] dir " + settings_.dir.string() + ": " + ec.message());
  }
  // Archives hold private keys.
  fs::permissions(settings_.dir, fs::perms::owner_all, ec);
  std::lock_guard lock(mutex_);
  for (auto it = fs::directory_iterator(settings_.dir, ec); !ec && it != fs::end(it);
       it.increment(ec)) {
    const std::string name = it->path().filename().string();
    // Temporary folders of write_archive() a crash or kill left behind.
    if (name.starts_with("." + std::string(kArchivePrefix)) && name.find(".tmp-") != name.npos) {
      std::error_code rm;
      fs::remove_all(it->path(), rm);
      spdlog::warn("backup: removed {} left by an interrupted backup", it->path().string());
      continue;
    }
    if (!name.starts_with(kArchivePrefix) || !name.ends_with(kArchiveSuffix)) continue;
    const std::string id = name.substr(kArchivePrefix.size(),
                                       name.size() - kArchivePrefix.size() - kArchiveSuffix.size());
    auto created = backup_id_time_ms(id);
    if (!created || !it->is_regular_file()) continue;
    BackupRecord r;
    r.id = id;
    r.file = name;
    r.status = "completed";
    r.trigger = "found";
    r.created_ms = *created;
    r.size = it->file_size();
    records_[id] = std::move(r);
  }
  if (ec) {
    return fail(errors::kBackupFailed,
                "cannot list [backup] dir " + settings_.dir.string() + ": " + ec.message());
  }
  return {};
}

Result<BackupRecord> BackupService::start(std::string trigger) {
  if (!sources_) return tl::unexpected(sources_.error());
  std::lock_guard lock(mutex_);
  if (running_) return fail(errors::kBackupRunning);
  std::int64_t now = clock_.now_ms();
  // Ids are start times: two backups within one millisecond take the next free one.
  while (records_.contains(backup_id(now))) ++now;
  BackupRecord r;
  r.id = backup_id(now);
  r.file = archive_name(r.id);
  r.status = "running";
  r.trigger = std::move(trigger);
  r.created_ms = now;
  records_[r.id] = r;
  running_ = r.id;
  last_start_ms_ = now;
  return r;
}

BackupRecord BackupService::execute(const std::string& id) {
  const auto started = std::chrono::steady_clock::now();
  Result<ArchiveReport> written =
      sources_ ? write_archive(*sources_, settings_.dir / archive_name(id), databases_)
               : Result<ArchiveReport>(tl::unexpected(sources_.error()));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::lock_guard lock(mutex_);
  if (running_ == id) running_.reset();
  BackupRecord& r = records_[id];
  r.duration_s = seconds;
  if (written) {
    r.status = "completed";
    r.size = written->archive_bytes;
    ++stats_.completed_total;
    stats_.last_success_ms = clock_.now_ms();
    stats_.last_duration_s = seconds;
    stats_.last_size = r.size;
    BackupRecord done = r;
    apply_retention_locked();
    return done;
  }
  r.status = "failed";
  r.error = message_of(written.error());
  ++stats_.failures_total;
  BackupRecord done = r;
  std::vector<std::string> failed;
  for (const auto& [rid, rec] : records_) {
    if (rec.status == "failed") failed.push_back(rid);
  }
  for (const auto& old : beyond_retention(std::move(failed), kFailedRecordsKept)) {
    records_.erase(old);
  }
  return done;
}

void BackupService::apply_retention_locked() {
  std::vector<std::string> completed;
  for (const auto& [id, r] : records_) {
    if (r.status == "completed") completed.push_back(id);
  }
  for (const auto& id : beyond_retention(std::move(completed), settings_.keep)) {
    std::error_code ec;
    fs::remove(settings_.dir / archive_name(id), ec);
    if (ec) {
      spdlog::warn("backup: retention could not delete {}: {}", archive_name(id), ec.message());
      continue;
    }
    spdlog::info("backup: retention deleted {} (keep = {})", archive_name(id), settings_.keep);
    records_.erase(id);
  }
}

std::vector<BackupRecord> BackupService::list(std::size_t limit,
                                              const std::optional<std::string>& after) const {
  std::lock_guard lock(mutex_);
  std::vector<BackupRecord> out;
  auto it = after ? std::make_reverse_iterator(records_.lower_bound(*after)) : records_.rbegin();
  for (; it != records_.rend() && out.size() < limit; ++it) out.push_back(it->second);
  return out;
}

Result<BackupRecord> BackupService::get(std::string_view id) const {
  std::lock_guard lock(mutex_);
  auto it = records_.find(std::string(id));
  if (it == records_.end()) return fail(errors::kBackupNotFound);
  return it->second;
}

Result<fs::path> BackupService::archive(std::string_view id) const {
  auto r = get(id);
  if (!r) return tl::unexpected(r.error());
  if (r->status == "running") return fail(errors::kBackupRunning, "The backup is still running.");
  if (r->status != "completed") {
    return fail(errors::kBackupNotFound, "The backup failed; it has no archive.");
  }
  return settings_.dir / r->file;
}

Result<void> BackupService::remove(std::string_view id) {
  std::lock_guard lock(mutex_);
  auto it = records_.find(std::string(id));
  if (it == records_.end()) return fail(errors::kBackupNotFound);
  if (it->second.status == "running") {
    return fail(errors::kBackupRunning, "The backup is still running.");
  }
  if (it->second.status == "completed") {
    std::error_code ec;
    fs::remove(settings_.dir / it->second.file, ec);
    if (ec) {
      return fail(errors::kInternalError, "Cannot delete the backup.",
                  it->second.file + ": " + ec.message());
    }
  }
  records_.erase(it);
  return {};
}

std::optional<std::string> BackupService::unsupported() const {
  if (sources_) return std::nullopt;
  return sources_.error().message;
}

BackupStats BackupService::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

std::optional<std::int64_t> BackupService::last_start_ms() const {
  std::lock_guard lock(mutex_);
  return last_start_ms_;
}

}  // namespace sp::backup
