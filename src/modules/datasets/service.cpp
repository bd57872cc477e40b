#include "smartproduct/datasets/service.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <set>

#include "smartproduct/datasets/query.hpp"
#include "smartproduct/http/errors.hpp"
#include "smartproduct/telemetry/csv.hpp"

namespace sp::datasets {
namespace {

using nlohmann::json;
constexpr std::int64_t kDayMs = 86'400'000;
constexpr std::int64_t kMinuteMs = 60'000;

std::string trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t at = s.find(sep, start);
    out.push_back(std::string(s.substr(start, at == std::string_view::npos ? at : at - start)));
    if (at == std::string_view::npos) break;
    start = at + 1;
  }
  return out;
}

std::optional<int> small_int(std::string_view s) {
  int v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 0) return std::nullopt;
  return v;
}

// One cron field as a bit set over lo..hi: "*", "n", "a-b", "*/s", "a-b/s", comma-separated.
std::optional<std::uint64_t> cron_field(std::string_view text, int lo, int hi) {
  std::uint64_t bits = 0;
  for (const auto& part : split(text, ',')) {
    std::string_view p = part;
    int step = 1;
    if (auto slash = p.find('/'); slash != std::string_view::npos) {
      auto s = small_int(p.substr(slash + 1));
      if (!s || *s < 1) return std::nullopt;
      step = *s;
      p = p.substr(0, slash);
    }
    int a = lo, b = hi;
    if (p != "*") {
      if (auto dash = p.find('-'); dash != std::string_view::npos) {
        auto x = small_int(p.substr(0, dash));
        auto y = small_int(p.substr(dash + 1));
        if (!x || !y) return std::nullopt;
        a = *x;
        b = *y;
      } else {
        auto x = small_int(p);
        if (!x) return std::nullopt;
        a = *x;
        b = step > 1 ? hi : *x;  // "5/15": from 5 every 15
      }
    }
    if (a < lo || b > hi || a > b) return std::nullopt;
    for (int v = a; v <= b; v += step) bits |= std::uint64_t{1} << v;
  }
  return bits ? std::optional(bits) : std::nullopt;
}

tl::unexpected<Error> invalid(std::string message) {
  return fail(errors::kInvalidParameter, std::move(message));
}

Error from_repo(const Error& e, const errors::Code& not_found) {
  if (store::failure_of(e) == store::Failure::kNotFound) return not_found.error();
  return errors::from_store(e);
}

json cell_json(const store::Cell& c) {
  return std::visit(
      [](const auto& v) -> json {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::monostate>) {
          return nullptr;
        } else {
          return v;
        }
      },
      c);
}

// Writes `data` fully to fd.
bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::write(fd, data.data(), data.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

// The run's output file: buffered writes to `<file>.partial`, then fsync and rename, so a file
// under its final name is always complete.
class OutputFile {
 public:
  explicit OutputFile(std::filesystem::path path) : path_(std::move(path)) {
    partial_ = path_;
    partial_ += ".partial";
    fd_ = ::open(partial_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  }
  ~OutputFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) {
      std::error_code ec;
      std::filesystem::remove(partial_, ec);
    }
  }
  bool ok() const { return fd_ >= 0; }
  std::string& buffer() { return buffer_; }
  Result<void> flush_if_full() {
    if (buffer_.size() < (1 << 16)) return {};
    return flush();
  }
  Result<void> flush() {
    bytes_ += static_cast<std::int64_t>(buffer_.size());
    if (!write_all(fd_, buffer_)) return io_error("write");
    buffer_.clear();
    return {};
  }
  Result<void> commit() {
    if (auto r = flush(); !r) return r;
    if (::fsync(fd_) != 0) return io_error("fsync");
    ::close(fd_);
    fd_ = -1;
    std::error_code ec;
    std::filesystem::rename(partial_, path_, ec);
    if (ec)
      return fail(errors::kInternalError, "", "rename " + path_.string() + ": " + ec.message());
    committed_ = true;
    // The directory entry too.
    const int dir = ::open(path_.parent_path().c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
    return {};
  }
  std::int64_t bytes() const { return bytes_; }

 private:
  tl::unexpected<Error> io_error(const char* what) const {
    return fail(errors::kInternalError, "",
                fmt::format("{} {}: {}", what, partial_.string(), std::strerror(errno)));
  }
  std::filesystem::path path_;
  std::filesystem::path partial_;
  int fd_ = -1;
  std::string buffer_;
  std::int64_t bytes_ = 0;
  bool committed_ = false;
};

}  // namespace

DatasetsSettings read_datasets_settings(config::Section& section, const config::DaemonConfig& cfg) {
  DatasetsSettings s;
  s.dir = section.path("dir", cfg.storage.data_dir / "datasets");
  s.default_retention_days =
      static_cast<int>(section.integer("retention_days", s.default_retention_days, 1, 3650));
  s.max_datasets = static_cast<int>(section.integer("max_datasets", s.max_datasets, 1, 10000));
  s.max_run_seconds = section.integer("max_run_seconds", s.max_run_seconds, 1, 7 * 86400);
  s.max_run_bytes = section.integer("max_run_bytes", s.max_run_bytes, 4096, std::int64_t{1} << 40);
  section.finish();
  return s;
}

bool valid_dataset_name(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
}

Result<Schedule> Schedule::parse(std::string_view raw) {
  const std::string text = trim(raw);
  Schedule s;
  if (text == "off") return s;
  auto inner = [&](std::string_view prefix) -> std::optional<std::string> {
    if (text.size() < prefix.size() + 1 || text.compare(0, prefix.size(), prefix) != 0 ||
        text.back() != ')') {
      return std::nullopt;
    }
    return trim(std::string_view(text).substr(prefix.size(), text.size() - prefix.size() - 1));
  };
  if (auto body = inner("rate(")) {
    auto words = split(*body, ' ');
    words.erase(std::remove(words.begin(), words.end(), std::string()), words.end());
    if (words.size() == 2) {
      auto n = small_int(words[0]);
      const std::string& unit = words[1];
      std::int64_t per = 0;
      if (unit == "minute" || unit == "minutes") per = kMinuteMs;
      if (unit == "hour" || unit == "hours") per = 60 * kMinuteMs;
      if (unit == "day" || unit == "days") per = kDayMs;
      if (n && *n >= 1 && per && static_cast<std::int64_t>(*n) * per <= 366 * kDayMs) {
        s.kind_ = Kind::kRate;
        s.rate_ms_ = *n * per;
        return s;
      }
    }
    return invalid(
        "schedule: rate(N minutes|hours|days) with N from 1, at most a year, e.g. rate(1 hour).");
  }
  if (auto body = inner("cron(")) {
    auto fields = split(*body, ' ');
    fields.erase(std::remove(fields.begin(), fields.end(), std::string()), fields.end());
    if (fields.size() == 5) {
      auto minutes = cron_field(fields[0], 0, 59);
      auto hours = cron_field(fields[1], 0, 23);
      auto days = cron_field(fields[2], 1, 31);
      auto months = cron_field(fields[3], 1, 12);
      auto weekdays = cron_field(fields[4], 0, 7);
      if (minutes && hours && days && months && weekdays) {
        s.kind_ = Kind::kCron;
        s.minutes_ = *minutes;
        s.hours_ = static_cast<std::uint32_t>(*hours);
        s.days_ = static_cast<std::uint32_t>(*days);
        s.months_ = static_cast<std::uint16_t>(*months);
        std::uint64_t dow = *weekdays;
        if (dow & (1u << 7)) dow |= 1;  // 7 is Sunday too
        s.weekdays_ = static_cast<std::uint8_t>(dow & 0x7f);
        s.dom_any_ = fields[2] == "*";
        s.dow_any_ = fields[4] == "*";
        return s;
      }
    }
    return invalid(
        "schedule: cron(MINUTE HOUR DAY-OF-MONTH MONTH DAY-OF-WEEK), five fields of *, numbers, "
        "ranges a-b, lists a,b and steps */n, in UTC, e.g. cron(0 3 * * *).");
  }
  return invalid("schedule must be rate(...), cron(...) or off.");
}

std::optional<std::int64_t> Schedule::next_after(std::int64_t after_ms) const {
  switch (kind_) {
    case Kind::kOff:
      return std::nullopt;
    case Kind::kRate:
      return (after_ms / rate_ms_ + 1) * rate_ms_;
    case Kind::kCron:
      break;
  }
  std::int64_t t = (after_ms / kMinuteMs + 1) * kMinuteMs;
  const std::int64_t limit = after_ms + 5 * 366 * kDayMs;
  while (t < limit) {
    const time_t secs = static_cast<time_t>(t / 1000);
    struct tm tm {};
    ::gmtime_r(&secs, &tm);
    const std::int64_t day_start = t - (tm.tm_hour * 60 + tm.tm_min) * kMinuteMs;
    if (!(months_ & (1u << (tm.tm_mon + 1)))) {
      // The first day of the next month.
      t = day_start + static_cast<std::int64_t>(32 - tm.tm_mday) * kDayMs;
      const time_t s2 = static_cast<time_t>(t / 1000);
      ::gmtime_r(&s2, &tm);
      t -= static_cast<std::int64_t>(tm.tm_mday - 1) * kDayMs;
      continue;
    }
    const bool dom = (days_ & (1u << tm.tm_mday)) != 0;
    const bool dow = (weekdays_ & (1u << tm.tm_wday)) != 0;
    const bool day_ok = dom_any_ && dow_any_ ? true
                        : dom_any_           ? dow
                        : dow_any_           ? dom
                                             : (dom || dow);
    if (!day_ok) {
      t = day_start + kDayMs;
      continue;
    }
    if (!(hours_ & (1u << tm.tm_hour))) {
      t = day_start + (tm.tm_hour + 1) * 60 * kMinuteMs;
      continue;
    }
    if (!(minutes_ & (std::uint64_t{1} << tm.tm_min))) {
      t += kMinuteMs;
      continue;
    }
    return t;
  }
  return std::nullopt;
}

DatasetService::DatasetService(DatasetsSettings settings, store::DatasetRepository& repo,
                               store::DatasetSource& source, const Clock& clock)
    : settings_(std::move(settings)), repo_(repo), source_(source), clock_(clock) {}

Result<std::vector<store::Dataset>> DatasetService::list() {
  auto r = repo_.list();
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  return r;
}

Result<store::Dataset> DatasetService::get(const std::string& name) {
  if (!valid_dataset_name(name)) return fail(errors::kDatasetNotFound);
  auto r = repo_.get(name);
  if (!r) return tl::unexpected(from_repo(r.error(), errors::kDatasetNotFound));
  return r;
}

Result<void> DatasetService::validate(const store::Dataset& d) {
  auto q = compile_query(d.query);
  if (!q) return fail(errors::kInvalidDatasetQuery, "query: " + q.error().to_string() + ".");
  auto s = Schedule::parse(d.schedule);
  if (!s) return tl::unexpected(s.error());
  if (d.format != "csv" && d.format != "jsonl") return invalid("format must be csv or jsonl.");
  if (d.retention_days < 1 || d.retention_days > 3650) {
    return invalid("retentionDays must be an integer from 1 to 3650.");
  }
  return {};
}

Result<store::Dataset> DatasetService::create(const std::string& name,
                                              const DatasetChange& change) {
  if (!valid_dataset_name(name)) {
    return invalid("name must be 1 to 64 characters from A-Z a-z 0-9 _ -.");
  }
  store::Dataset d;
  d.name = name;
  d.query = change.query.value_or("");
  d.schedule = trim(change.schedule.value_or("off"));
  d.format = change.format.value_or("csv");
  d.retention_days = change.retention_days.value_or(settings_.default_retention_days);
  d.enabled = change.enabled.value_or(true);
  if (auto v = validate(d); !v) return tl::unexpected(v.error());
  auto existing = repo_.list();
  if (!existing) return tl::unexpected(errors::from_store(existing.error()));
  if (static_cast<int>(existing->size()) >= settings_.max_datasets) {
    return fail(
        errors::kDatasetLimitReached,
        fmt::format("At most {} datasets ([datasets] max_datasets).", settings_.max_datasets));
  }
  d.created_at_ms = d.updated_at_ms = clock_.now_ms();
  if (d.enabled) d.next_run_at_ms = Schedule::parse(d.schedule)->next_after(d.created_at_ms);
  if (auto r = repo_.create(d); !r) {
    if (store::failure_of(r.error()) == store::Failure::kConflict) {
      return fail(errors::kDatasetExists);
    }
    return tl::unexpected(errors::from_store(r.error()));
  }
  return get(name);
}

Result<store::Dataset> DatasetService::update(const std::string& name,
                                              const DatasetChange& change) {
  auto d = get(name);
  if (!d) return d;
  const std::string old_schedule = d->schedule;
  const bool was_enabled = d->enabled;
  if (change.query) d->query = *change.query;
  if (change.schedule) d->schedule = trim(*change.schedule);
  if (change.format) d->format = *change.format;
  if (change.retention_days) d->retention_days = *change.retention_days;
  if (change.enabled) d->enabled = *change.enabled;
  if (auto v = validate(*d); !v) return tl::unexpected(v.error());
  d->updated_at_ms = clock_.now_ms();
  if (!d->enabled) {
    d->next_run_at_ms.reset();
  } else if (d->schedule != old_schedule || !was_enabled || !d->next_run_at_ms) {
    d->next_run_at_ms = Schedule::parse(d->schedule)->next_after(d->updated_at_ms);
  }
  if (auto r = repo_.update(*d); !r) {
    return tl::unexpected(from_repo(r.error(), errors::kDatasetNotFound));
  }
  return get(name);
}

Result<void> DatasetService::remove(const std::string& name) {
  if (!valid_dataset_name(name)) return fail(errors::kDatasetNotFound);
  auto files = repo_.remove(name);
  if (!files) return tl::unexpected(from_repo(files.error(), errors::kDatasetNotFound));
  std::error_code ec;
  std::filesystem::remove_all(settings_.dir / name, ec);
  return {};
}

Result<std::int64_t> DatasetService::start_run(const std::string& name,
                                               const std::string& trigger) {
  if (!valid_dataset_name(name)) return fail(errors::kDatasetNotFound);
  auto id = repo_.start_run(name, trigger, clock_.now_ms());
  if (!id) {
    const auto f = store::failure_of(id.error());
    if (f == store::Failure::kConflict) return fail(errors::kDatasetRunRunning);
    return tl::unexpected(from_repo(id.error(), errors::kDatasetNotFound));
  }
  return id;
}

std::filesystem::path DatasetService::path_of(const std::string& relative) const {
  return settings_.dir / relative;
}

Result<store::DatasetRun> DatasetService::execute(const std::string& name, std::int64_t run_id) {
  auto failed = [&](const Error& e) -> Result<store::DatasetRun> {
    const std::string why = e.detail.empty() ? e.message : e.message + " (" + e.detail + ")";
    (void)repo_.fail_run(run_id, why, clock_.now_ms());
    return tl::unexpected(e);
  };
  auto d = get(name);
  if (!d) return failed(d.error());
  auto q = compile_query(d->query);
  if (!q) return failed(errors::kInvalidDatasetQuery.error("query: " + q.error().to_string()));
  auto w = source_.window();
  if (!w) return failed(errors::from_store(w.error()));
  // The watermark belongs to one telemetry.db: a replaced file starts from its beginning.
  std::int64_t from = d->telemetry_instance == w->instance_id ? d->watermark : 0;
  if (from > w->max_row) from = w->max_row;  // an older copy of the same file: nothing is new
  const std::int64_t to = w->max_row;

  // The run's limits ([datasets] max_run_seconds, max_run_bytes): an admin's query may group
  // millions of rows or select far more than the disk holds. SQLite asks `stop` while it works.
  const std::int64_t started_ms = clock_.now_ms();
  bool timed_out = false;
  const store::DatasetSource::StopRequested stop = [&] {
    if (clock_.now_ms() - started_ms >= settings_.max_run_seconds * 1000) timed_out = true;
    return timed_out;
  };
  auto over_time = [&] {
    return failed(errors::kDatasetRunLimit.error(
        fmt::format("The run was stopped after {} s ([datasets] max_run_seconds).",
                    settings_.max_run_seconds)));
  };

  std::vector<std::string> columns = q->columns;
  std::vector<std::string> attributes;
  if (q->select_all) {
    auto attrs = source_.attributes(*q, from, to, stop);
    if (!attrs && timed_out) return over_time();
    if (!attrs) return failed(errors::from_store(attrs.error()));
    for (auto& a : *attrs) {
      if (std::find(columns.begin(), columns.end(), a) == columns.end()) {
        columns.push_back(a);
        attributes.push_back(std::move(a));
      }
    }
  }
  std::error_code ec;
  std::filesystem::create_directories(settings_.dir / name, ec);
  if (ec) {
    return failed(errors::kInternalError.error("", "datasets directory: " + ec.message()));
  }
  ::chmod(settings_.dir.c_str(), 0700);
  ::chmod((settings_.dir / name).c_str(), 0700);
  const std::string relative = fmt::format("{}/{}.{}", name, run_id, d->format);
  OutputFile out(path_of(relative));
  if (!out.ok()) {
    return failed(errors::kInternalError.error(
        "", fmt::format("cannot create {}: {}", path_of(relative).string(), std::strerror(errno))));
  }
  const bool csv = d->format == "csv";
  std::string& buf = out.buffer();
  if (csv) {
    for (std::size_t i = 0; i < columns.size(); ++i) {
      if (i) buf += ',';
      buf += telemetry::csv_cell(columns[i]);
    }
    buf += "\r\n";
  }
  std::int64_t rows = 0;
  bool too_large = false;
  auto scanned = source_.scan(
      *q, from, to,
      [&](const std::vector<store::Cell>& cells) -> Result<void> {
        ++rows;
        if (q->select_all) {
          // device_id, t, received_at, payload
          // Ordered: a line keeps the message's own attribute order.
          nlohmann::ordered_json message = nlohmann::ordered_json::parse(
              std::get_if<std::string>(&cells[3]) ? std::get<std::string>(cells[3])
                                                  : std::string("{}"),
              nullptr, false);
          if (!message.is_object()) message = nlohmann::ordered_json::object();
          if (csv) {
            for (std::size_t i = 0; i < 3; ++i) {
              buf += telemetry::csv_cell(cell_json(cells[i]));
              buf += ',';
            }
            for (std::size_t i = 0; i < attributes.size(); ++i) {
              auto it = message.find(attributes[i]);
              if (it != message.end()) {
                buf += telemetry::csv_cell(it->is_structured() ? json(it->dump()) : json(*it));
              }
              if (i + 1 < attributes.size()) buf += ',';
            }
            if (attributes.empty()) buf.pop_back();
          } else {
            nlohmann::ordered_json line = {{"deviceId", cell_json(cells[0])},
                                           {"t", cell_json(cells[1])},
                                           {"receivedAt", cell_json(cells[2])}};
            for (auto& [k, v] : message.items()) {
              if (!line.contains(k)) line[k] = std::move(v);
            }
            buf += line.dump(-1, ' ', false, json::error_handler_t::replace);
          }
        } else if (csv) {
          for (std::size_t i = 0; i < cells.size(); ++i) {
            if (i) buf += ',';
            buf += telemetry::csv_cell(cell_json(cells[i]));
          }
        } else {
          nlohmann::ordered_json line = nlohmann::ordered_json::object();  // the query's order
          for (std::size_t i = 0; i < cells.size() && i < columns.size(); ++i) {
            line[columns[i]] = cell_json(cells[i]);
          }
          buf += line.dump(-1, ' ', false, json::error_handler_t::replace);
        }
        buf += csv ? "\r\n" : "\n";
        if (out.bytes() + static_cast<std::int64_t>(buf.size()) > settings_.max_run_bytes) {
          too_large = true;
          return fail(errors::kDatasetRunLimit);
        }
        return out.flush_if_full();
      },
      stop);
  if (too_large) {
    return failed(errors::kDatasetRunLimit.error(
        fmt::format("The run's file went over {} bytes ([datasets] max_run_bytes); nothing was "
                    "kept.",
                    settings_.max_run_bytes)));
  }
  if (!scanned && timed_out) return over_time();
  // A failure of the store, or of the query's SQL on this data (e.g. an integer overflow): the
  // run's error keeps SQLite's message; the SQL itself is never shown.
  if (!scanned) return failed(errors::from_store(scanned.error()));
  if (auto c = out.commit(); !c) return failed(c.error());
  store::DatasetRunResult result;
  result.from_row = from;
  result.to_row = to;
  result.rows = rows;
  result.bytes = out.bytes();
  result.columns = columns;
  result.file = relative;
  result.telemetry_instance = w->instance_id;
  result.finished_at_ms = clock_.now_ms();
  if (auto f = repo_.finish_run(run_id, result); !f) {
    std::filesystem::remove(path_of(relative), ec);
    return failed(errors::from_store(f.error()));
  }
  return run(name, run_id);
}

Result<std::vector<store::DatasetRun>> DatasetService::runs(const std::string& name, int limit,
                                                            std::optional<std::int64_t> before) {
  if (auto d = get(name); !d) return tl::unexpected(d.error());
  auto r = repo_.runs(name, limit, before);
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  return r;
}

Result<store::DatasetRun> DatasetService::run(const std::string& name, std::int64_t id) {
  if (!valid_dataset_name(name)) return fail(errors::kDatasetNotFound);
  auto r = repo_.run(name, id);
  if (!r) return tl::unexpected(from_repo(r.error(), errors::kDatasetRunNotFound));
  return r;
}

Result<std::optional<store::DatasetRun>> DatasetService::last_run(const std::string& name) {
  auto r = repo_.last_run(name);
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  return r;
}

Result<std::filesystem::path> DatasetService::run_file(const std::string& name, std::int64_t id) {
  auto r = run(name, id);
  if (!r) return tl::unexpected(r.error());
  if (r->status != "succeeded" || r->file.empty()) return fail(errors::kDatasetRunNotFound);
  auto path = path_of(r->file);
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) return fail(errors::kDatasetRunNotFound);
  return path;
}

Result<void> DatasetService::recover() {
  auto n = repo_.fail_interrupted(clock_.now_ms());
  if (!n) return tl::unexpected(errors::from_store(n.error()));
  auto all = repo_.list();
  if (!all) return tl::unexpected(errors::from_store(all.error()));
  for (const auto& d : *all) {
    if (d.enabled && !d.next_run_at_ms) {
      auto s = Schedule::parse(d.schedule);
      if (!s || s->off()) continue;
      if (auto r = repo_.set_next_run(d.name, s->next_after(clock_.now_ms())); !r) {
        return tl::unexpected(errors::from_store(r.error()));
      }
    }
  }
  return {};
}

Result<std::vector<std::string>> DatasetService::due(std::int64_t now_ms) {
  auto all = repo_.list();
  if (!all) return tl::unexpected(errors::from_store(all.error()));
  std::vector<std::string> out;
  for (const auto& d : *all) {
    if (d.enabled && d.next_run_at_ms && *d.next_run_at_ms <= now_ms) out.push_back(d.name);
  }
  return out;
}

Result<void> DatasetService::reschedule(const std::string& name) {
  auto d = get(name);
  if (!d) return tl::unexpected(d.error());
  std::optional<std::int64_t> next;
  if (auto s = Schedule::parse(d->schedule); s && d->enabled) next = s->next_after(clock_.now_ms());
  auto r = repo_.set_next_run(name, next);
  if (!r) return tl::unexpected(errors::from_store(r.error()));
  return {};
}

Result<std::optional<std::int64_t>> DatasetService::next_due() {
  auto all = repo_.list();
  if (!all) return tl::unexpected(errors::from_store(all.error()));
  std::optional<std::int64_t> next;
  for (const auto& d : *all) {
    if (d.enabled && d.next_run_at_ms && (!next || *d.next_run_at_ms < *next)) {
      next = d.next_run_at_ms;
    }
  }
  return next;
}

Result<int> DatasetService::apply_retention() {
  auto all = repo_.list();
  if (!all) return tl::unexpected(errors::from_store(all.error()));
  int deleted = 0;
  std::error_code ec;
  const std::int64_t now = clock_.now_ms();
  for (const auto& d : *all) {
    auto files =
        repo_.expire_runs(d.name, now - static_cast<std::int64_t>(d.retention_days) * kDayMs);
    if (!files) return tl::unexpected(errors::from_store(files.error()));
    for (const auto& f : *files) deleted += std::filesystem::remove(path_of(f), ec) ? 1 : 0;
  }
  // Files no run refers to: a run that died between writing its file and recording it, or a
  // dataset deleted while its folder could not be removed. Only files older than an hour, so that
  // a run in progress (here or in smartproductctl) keeps its file.
  auto referenced = repo_.run_files();
  if (!referenced) return tl::unexpected(errors::from_store(referenced.error()));
  const std::set<std::string> keep(referenced->begin(), referenced->end());
  if (!std::filesystem::is_directory(settings_.dir, ec)) return deleted;
  const auto hour_ago = std::filesystem::file_time_type::clock::now() - std::chrono::hours(1);
  for (auto it = std::filesystem::recursive_directory_iterator(settings_.dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    const std::string rel = std::filesystem::relative(it->path(), settings_.dir, ec).string();
    if (keep.count(rel) || it->last_write_time(ec) > hour_ago) continue;
    deleted += std::filesystem::remove(it->path(), ec) ? 1 : 0;
  }
  return deleted;
}

}  // namespace sp::datasets
