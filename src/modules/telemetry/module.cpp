// The telemetry module: durable ingest of device telemetry ([telemetry], the seed's feature
// switch with its topic prefix), the pipeline applied before the commit ([telemetry.pipeline]),
// and the time-series routes (/api/devices/{deviceId}/telemetry, /latest, .csv).

#include "smartproduct/telemetry/module.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <climits>

#include "smartproduct/core/readiness.hpp"
#include "smartproduct/devices/events.hpp"
#include "smartproduct/devices/service.hpp"
#include "smartproduct/http/paging.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/mqtt/intake.hpp"
#include "smartproduct/mqtt/types.hpp"
#include "smartproduct/telemetry/csv.hpp"
#include "smartproduct/telemetry/query.hpp"
#include "smartproduct/telemetry/retention.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/maintenance.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::telemetry {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

constexpr int kDefaultRawLimit = 100;
constexpr int kMaxRawLimit = 1000;
constexpr int kDefaultBucketLimit = 1000;
constexpr int kMaxBucketLimit = 10000;
constexpr int64_t kDefaultSpanMs = 86400000;

std::vector<std::string> split_list(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    std::size_t comma = text.find(',', start);
    if (comma == std::string_view::npos) comma = text.size();
    std::string_view part = text.substr(start, comma - start);
    while (!part.empty() && part.front() == ' ') part.remove_prefix(1);
    while (!part.empty() && part.back() == ' ') part.remove_suffix(1);
    if (!part.empty()) out.emplace_back(part);
    start = comma + 1;
  }
  return out;
}

bool valid_field_name(std::string_view f) {
  if (f.empty() || f.size() > 128) return false;
  return std::all_of(f.begin(), f.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.';
  });
}

// The CSV's pieces as the HTTP server's streamed body. The first piece was produced before the
// headers (so that its errors are still JSON errors) and goes out first.
class CsvBody final : public http::BodySource {
 public:
  CsvBody(std::unique_ptr<CsvExport> csv, std::string first)
      : csv_(std::move(csv)), first_(std::move(first)) {}

  Result<Piece> next(std::string& out) override {
    if (!first_.empty()) {
      out.swap(first_);
      first_ = {};
      return Piece::kMore;
    }
    auto more = csv_->next(out);
    if (!more) return tl::unexpected(more.error());
    return *more ? Piece::kMore : Piece::kLast;
  }

 private:
  std::unique_ptr<CsvExport> csv_;
  std::string first_;
};

class TelemetryModule final : public Module {
 public:
  std::string_view name() const override { return "telemetry"; }
  void configure(config::Section& section, const config::DaemonConfig&) override {
    auto pipeline = section.subsection("pipeline");
    auto activities = pipeline.string_list("activities");
    pipeline.finish();
    if (activities) {
      std::vector<std::string> texts;
      for (const auto& a : *activities) texts.push_back(a.value);
      auto compiled = Pipeline::compile(texts);
      if (!compiled) {
        const auto& e = compiled.error();
        pipeline.error_in((*activities)[e.index], e.offset, "activities", e.message);
      } else {
        pipeline_ = std::move(*compiled);
      }
    }
    // Retention and the disk guard; read before read_ingest_settings(), which closes the section.
    auto& r = retention_config_;
    r.raw_retention_days =
        static_cast<int>(section.integer("raw_retention_days", r.raw_retention_days, 0, 36500));
    r.rollup_1m_retention_days = static_cast<int>(
        section.integer("rollup_1m_retention_days", r.rollup_1m_retention_days, 0, 36500));
    r.rollup_1h_retention_days = static_cast<int>(
        section.integer("rollup_1h_retention_days", r.rollup_1h_retention_days, 0, 36500));
    r.retention_interval_ms =
        section.integer("retention_interval_ms", r.retention_interval_ms, 100, 86'400'000);
    r.retention_batch_rows = static_cast<int>(
        section.integer("retention_batch_rows", r.retention_batch_rows, 1, 1'000'000));
    r.max_disk_bytes = section.integer("max_disk_bytes", r.max_disk_bytes, 0, INT64_MAX);
    r.min_free_bytes = section.integer("min_free_bytes", r.min_free_bytes, 0, INT64_MAX);
    r.disk_check_interval_ms =
        section.integer("disk_check_interval_ms", r.disk_check_interval_ms, 100, 3'600'000);
    settings_ = read_ingest_settings(section, kDefaultTelemetryTopic);
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    devices_ = &ctx.services.get<devices::DeviceService>();
    repo_ = sqlite::make_telemetry_repository(ctx.store.telemetry_ptr());
    reader_ = sqlite::make_telemetry_reader(ctx.store.telemetry_ptr());
    service_ = std::make_unique<TelemetryService>(settings_, *repo_, ctx.clock, ctx.bus);
    if (pipeline_) service_->set_pipeline(*pipeline_);
    service_->set_device_lookup(
        [devices = devices_](const std::string& id) -> std::optional<DeviceAttributes> {
          auto reg = devices->device(devices::Caller{"", true}, id);
          if (!reg || reg->status == devices::RegistrationStatus::kDeleted) return std::nullopt;
          return DeviceAttributes{reg->device_name, reg->model_number, reg->user_id, reg->details};
        });
    // The owner and registry attributes are cached per device: a (re)registration or deletion
    // drops the entry. Until the lane delivers, a message may still be stamped with the old
    // owner; that window is the bus's delivery delay (milliseconds).
    ctx.bus.lane("telemetry")
        .on<devices::DeviceRegistered>(
            [this](const devices::DeviceRegistered& e) { service_->forget(e.device_id); })
        .on<devices::DeviceDeleted>(
            [this](const devices::DeviceDeleted& e) { service_->forget(e.device_id); });
    ctx.services.provide(*service_);

    maintenance_ = sqlite::make_telemetry_maintenance(ctx.store.telemetry_ptr());
    const std::filesystem::path data_dir = ctx.config.storage.data_dir;
    retention_ = std::make_unique<RetentionService>(
        retention_config_, *maintenance_, ctx.clock, [data_dir]() -> std::optional<int64_t> {
          struct statvfs fs {};
          if (::statvfs(data_dir.c_str(), &fs) != 0) return std::nullopt;
          return static_cast<int64_t>(fs.f_bavail) * static_cast<int64_t>(fs.f_frsize);
        });
    retention_->on_intake_change([intake = intake_, bus = &ctx.bus, clock = &ctx.clock](
                                     bool paused, const std::string& reason) {
      intake->set_paused(paused);
      bus->publish(TelemetryIntakeChanged{paused, reason, clock->now_ms()});
    });
    service_->set_intake_gate([r = retention_.get()] { return r->intake_paused(); },
                              [r = retention_.get()] { r->report_full(); });
    if (auto* readiness = ctx.services.find<ReadinessProbes>()) {
      readiness->add([r = retention_.get()](std::vector<std::string>& reasons) {
        if (r->intake_paused()) reasons.push_back("telemetry intake paused: " + r->pause_reason());
      });
    }
    // The ingest module gives telemetry a broker connection of its own with this switch (MQTT
    // source), so the disk guard can refuse telemetry while events, shadows and commands flow.
    ctx.services.provide(intake_);
    if (auto space = maintenance_->space(); space && !space->incremental) {
      spdlog::warn(
          "telemetry: {} is not in incremental auto-vacuum mode (too large to convert at start): "
          "pruned space is reused but the file does not shrink; see README \"Telemetry retention "
          "and disk guard\"",
          ctx.store.telemetry().path().string());
    }
    return {};
  }

  Result<void> start() override {
    // The first disk check runs at once: a daemon started on a full disk refuses telemetry
    // before its connection subscribes.
    retention_->check_disk();
    retention_->start();
    return {};
  }

  void stop() override {
    if (retention_) retention_->stop();
  }

  void register_routes(http::Router& router) override {
    router.add("GET", "/api/devices/{deviceId}/telemetry",
               auth_->protect(
                   [this](Request& req, const identity::Principal& p) { return series(req, p); }));
    router.add("GET", "/api/devices/{deviceId}/telemetry/latest",
               auth_->protect(
                   [this](Request& req, const identity::Principal& p) { return latest(req, p); }));
    router.add(
        "GET", "/api/devices/{deviceId}/telemetry.csv",
        auth_->protect([this](Request& req, const identity::Principal& p) { return csv(req, p); }));
  }

  // Topics: the ingest module feeds ingest() from the spool or an MQTT subscription.

  void report_metrics(std::vector<MetricSample>& out) const override {
    report_ingest_metrics(service_->counters(), "telemetry", out);
    if (!retention_) return;
    const auto& st = retention_->stats();
    add_gauge(out, "smartproduct_telemetry_intake_paused",
              "1 while the disk guard refuses telemetry (it waits at the broker)",
              retention_->intake_paused() ? 1.0 : 0.0);
    add_counter(out, "smartproduct_telemetry_refused_total",
                "Telemetry messages not taken while intake was paused (delivered again later)",
                static_cast<double>(service_->refused()));
    add_gauge(out, "smartproduct_telemetry_db_used_bytes",
              "Bytes of data in the telemetry database (pages in use)",
              static_cast<double>(st.used_bytes.load()));
    add_gauge(out, "smartproduct_telemetry_db_file_bytes",
              "Bytes of the telemetry database's files (file + WAL)",
              static_cast<double>(st.file_bytes.load()));
    add_gauge(out, "smartproduct_telemetry_fs_free_bytes",
              "Free bytes of the data directory's file system (-1: unknown)",
              static_cast<double>(st.fs_free_bytes.load()));
    add_gauge(out, "smartproduct_telemetry_max_disk_bytes",
              "[telemetry] max_disk_bytes (0: no limit)",
              static_cast<double>(retention_config_.max_disk_bytes));
    add_gauge(out, "smartproduct_telemetry_min_free_bytes", "[telemetry] min_free_bytes",
              static_cast<double>(retention_config_.min_free_bytes));
    for (auto [table, n] :
         {std::pair{"raw", st.pruned_raw.load()}, std::pair{"rollup_1m", st.pruned_1m.load()},
          std::pair{"rollup_1h", st.pruned_1h.load()},
          std::pair{"guard_raw", st.guard_pruned.load()}}) {
      add_counter(out, "smartproduct_telemetry_pruned_rows_total",
                  "Telemetry rows deleted by retention (guard_raw: by the disk guard)",
                  static_cast<double>(n), fmt::format("table=\"{}\"", table));
    }
    add_gauge(out, "smartproduct_telemetry_prune_longest_batch_seconds",
              "Longest pruning job on the telemetry writer so far",
              static_cast<double>(st.longest_batch_us.load()) / 1e6);
    add_counter(out, "smartproduct_telemetry_reclaimed_pages_total",
                "Pages given back to the file system by incremental vacuum",
                static_cast<double>(st.reclaimed_pages.load()));
  }

 private:
  // Owners read their own samples of the device; administrators every owner's. 403/404 as the
  // other device routes.
  Result<std::optional<std::string>> reader_scope(const std::string& device_id,
                                                  const identity::Principal& p) {
    auto reg = devices_->device(devices::Caller{p.user_id, p.is_admin()}, device_id);
    if (!reg) return tl::unexpected(reg.error());
    if (p.is_admin()) return std::optional<std::string>{};
    return std::optional<std::string>(p.user_id);
  }

  Result<SeriesQuery> parse_query(Request& req, const identity::Principal& p, bool for_csv) {
    SeriesQuery q;
    q.device_id = req.param("deviceId");
    auto scope = reader_scope(q.device_id, p);
    if (!scope) return tl::unexpected(scope.error());
    q.owner = *scope;
    auto bad = [](std::string message) { return fail(errors::kInvalidQuery, std::move(message)); };

    if (auto i = req.query_param("interval"); i && !i->empty()) {
      auto v = interval_from(*i);
      if (!v) return bad("interval must be raw, 1m, 1h or 1d.");
      q.interval = *v;
    }
    if (for_csv && q.interval != Interval::kRaw) q.interval = Interval::kRaw;
    const int64_t now = clock_now();
    std::optional<int64_t> from, to;
    if (auto s = req.query_param("to"); s && !s->empty()) {
      to = parse_time(*s);
      if (!to) return bad("to must be epoch milliseconds or an ISO-8601 UTC time.");
    }
    if (auto s = req.query_param("from"); s && !s->empty()) {
      from = parse_time(*s);
      if (!from) return bad("from must be epoch milliseconds or an ISO-8601 UTC time.");
    }
    q.to_ms = to.value_or(now + 1);
    q.from_ms = from.value_or(q.to_ms - kDefaultSpanMs);
    if (q.from_ms < 0) q.from_ms = 0;
    if (q.from_ms >= q.to_ms) return bad("from must be before to.");
    if (q.to_ms - q.from_ms > max_span_ms(q.interval)) {
      return bad(fmt::format("The range is too long for interval {}: at most {} days.",
                             to_string(q.interval), max_span_ms(q.interval) / 86400000));
    }
    if (auto f = req.query_param("fields"); f && !f->empty()) {
      q.fields = split_list(*f);
      if (q.fields.size() > 32) return bad("fields names at most 32 attributes.");
      for (const auto& name : q.fields) {
        if (!valid_field_name(name)) return bad("fields must be attribute names, comma-separated.");
      }
    }
    q.aggs = {"avg", "min", "max", "count"};
    if (auto a = req.query_param("agg"); a && !a->empty()) {
      q.aggs = split_list(*a);
      if (q.aggs.empty()) return bad("agg names no aggregate.");
      for (const auto& name : q.aggs) {
        if (std::find(std::begin(kAggregates), std::end(kAggregates), name) ==
            std::end(kAggregates)) {
          return bad(
              "agg must be a comma-separated list of avg, min, max, count, first, last, sum.");
        }
      }
    }
    const bool raw = q.interval == Interval::kRaw;
    // A CSV is streamed: no cap, `limit` only cuts it short when given.
    const int def = for_csv ? INT_MAX : raw ? kDefaultRawLimit : kDefaultBucketLimit;
    const int max = for_csv ? INT_MAX : raw ? kMaxRawLimit : kMaxBucketLimit;
    q.limit = def;
    if (auto l = req.query_param("limit")) {  // empty: refused below, as everywhere
      int v = 0;
      auto [ptr, ec] = std::from_chars(l->data(), l->data() + l->size(), v);
      if (ec != std::errc() || ptr != l->data() + l->size() || v < 1 || v > max) {
        return fail(errors::kInvalidLimit,
                    fmt::format("limit must be an integer from 1 to {}.", max));
      }
      q.limit = v;
    }
    auto cursor = http::page_cursor(req);
    if (!cursor) return tl::unexpected(cursor.error());
    if (*cursor) {
      const json& k = **cursor;
      const bool ok =
          raw ? (k.is_object() && k.size() == 2 && k.contains("t") && k.contains("i") &&
                 k["t"].is_number_integer() && k["i"].is_number_integer())
              : (k.is_object() && k.size() == 1 && k.contains("b") && k["b"].is_number_integer());
      if (!ok) return http::invalid_cursor();
      q.after = k;
    }
    return q;
  }

  int64_t clock_now() const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }

  Response series(Request& req, const identity::Principal& p) {
    auto q = parse_query(req, p, false);
    if (!q) return Response::error(q.error());
    auto page = query_series(*reader_, *q);
    if (!page) return Response::error(page.error());
    json out = {{"deviceId", q->device_id}, {"interval", to_string(q->interval)},
                {"from", q->from_ms},       {"to", q->to_ms},
                {"fields", q->fields},      {"points", std::move(page->points)}};
    if (q->interval != Interval::kRaw) out["agg"] = q->aggs;
    out["Count"] = out["points"].size();
    if (page->next) out["LastEvaluatedKey"] = http::encode_cursor(*page->next);
    return Response::json(200, out);
  }

  Response latest(Request& req, const identity::Principal& p) {
    const std::string device_id = req.param("deviceId");
    auto scope = reader_scope(device_id, p);
    if (!scope) return Response::error(scope.error());
    auto l = query_latest(*reader_, device_id, *scope);
    if (!l) return Response::error(l.error());
    json out = {{"deviceId", device_id}, {"fields", std::move(l->fields)}};
    out["t"] = l->found ? json(l->t) : json(nullptr);
    return Response::json(200, out);
  }

  // Raw samples as CSV (see CsvExport), every sample of the range unless `limit` is given. The
  // first page is read before the headers go out, so that validation and a failing store still
  // answer with JSON errors; a CSV longer than that page is streamed a page at a time.
  Response csv(Request& req, const identity::Principal& p) {
    auto q = parse_query(req, p, true);
    if (!q) return Response::error(q.error());
    std::optional<int64_t> max_rows;
    if (req.query_param("limit")) max_rows = q->limit;
    auto csv = std::make_unique<CsvExport>(*reader_, *q, max_rows);
    std::string first;
    auto more = csv->next(first);
    if (!more) return Response::error(more.error());
    Response r;
    r.status = 200;
    r.set_header("content-type", "text/csv; charset=utf-8");
    r.set_header("content-disposition",
                 "attachment; filename=\"telemetry-" + q->device_id + ".csv\"");
    if (*more) {
      r.stream = std::make_shared<CsvBody>(std::move(csv), std::move(first));
      return r;
    }
    // The whole CSV fits one page: sent with a Content-Length, and when `limit` cut it short the
    // cursor of the rest is known before the headers.
    r.body = std::move(first);
    if (csv->rest()) r.set_header("x-last-evaluated-key", http::encode_cursor(*csv->rest()));
    return r;
  }

  IngestSettings settings_;
  RetentionConfig retention_config_;
  std::shared_ptr<mqtt::IntakeSwitch> intake_ = std::make_shared<mqtt::IntakeSwitch>();
  std::unique_ptr<store::TelemetryMaintenance> maintenance_;
  std::unique_ptr<RetentionService> retention_;
  std::optional<Pipeline> pipeline_;
  const identity::Authenticator* auth_ = nullptr;
  devices::DeviceService* devices_ = nullptr;
  std::unique_ptr<store::TelemetryRepository> repo_;
  std::unique_ptr<store::TelemetryReader> reader_;
  std::unique_ptr<TelemetryService> service_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<TelemetryModule>(); }

}  // namespace sp::telemetry
