// The backup module: archives of the whole instance (smartproduct/backup/archive.hpp, the format
// of `smartproductctl backup`) made by the daemon on request (/api/admin/backups) and on the
// [backup] schedule, with retention. Backups run on the module's own thread, one at a time: never
// on an HTTP thread, and never in the store's writer (each database is read from a snapshot on a
// connection of its own).

#include <spdlog/spdlog.h>

#include "smartproduct/backup/module.hpp"
#include "smartproduct/backup/service.hpp"
#include "smartproduct/core/job_thread.hpp"
#include "smartproduct/http/paging.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "smartproduct/identity/settings.hpp"
#include "store/sqlite/snapshots.hpp"

namespace sp::backup {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

json record_json(const BackupRecord& r) {
  return {{"id", r.id},
          {"file", r.file},
          {"status", r.status},
          {"trigger", r.trigger},
          {"createdAt", iso8601_ms(r.created_ms)},
          {"size", r.size},
          {"durationSeconds", r.duration_s ? json(*r.duration_s) : json(nullptr)},
          {"error", r.error.empty() ? json(nullptr) : json(r.error)}};
}

// The instance directory is the config file's: the layout `smartproductctl init --dir` makes.
Result<InstanceSources> daemon_sources(const config::DaemonConfig& c) {
  std::vector<std::string> errors;
  auto section = c.document->section("identity", errors);
  auto identity = identity::read_identity_settings(section, c.storage.data_dir);
  auto dir = c.file.parent_path().empty() ? std::filesystem::path(".") : c.file.parent_path();
  return instance_sources(dir, c.file, c.storage.data_dir, identity.keys_dir);
}

class BackupModule final : public Module {
 public:
  std::string_view name() const override { return "backup"; }

  void configure(config::Section& section, const config::DaemonConfig& core) override {
    settings_ = read_backup_settings(section, core.storage.data_dir);
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    clock_ = &ctx.clock;
    databases_ = sqlite::make_database_snapshots();
    service_ = std::make_unique<BackupService>(settings_, daemon_sources(ctx.config), *databases_,
                                               *clock_);
    return {};
  }

  void register_routes(http::Router& router) override {
    auto add = [&](const char* method, const char* path, auto member) {
      router.add(method, path,
                 auth_->protect_admin([this, member](Request& req, const identity::Principal&) {
                   return (this->*member)(req);
                 }));
    };
    add("POST", "/api/admin/backups", &BackupModule::start_backup);
    add("GET", "/api/admin/backups", &BackupModule::list_backups);
    add("GET", "/api/admin/backups/{backupId}", &BackupModule::get_backup);
    add("GET", "/api/admin/backups/{backupId}/download", &BackupModule::download);
    add("DELETE", "/api/admin/backups/{backupId}", &BackupModule::delete_backup);
  }

  Result<void> start() override {
    if (auto r = service_->open(); !r) return r;
    if (auto why = service_->unsupported();
        why && settings_.schedule.kind != Schedule::Kind::kOff) {
      spdlog::warn("backup: scheduled backups will fail: {}", *why);
    }
    const std::int64_t since = clock_->now_ms();
    jobs_ = std::make_unique<JobThread<std::string>>(
        *clock_,
        [this, since] {
          return next_due_ms(settings_.schedule, clock_->now_ms(), service_->last_start_ms(),
                             since);
        },
        [this](std::optional<std::string> id) { run(std::move(id)); });
    jobs_->start();
    return {};
  }

  void stop() override {
    if (jobs_) jobs_->stop();
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    if (!service_) return;
    const BackupStats s = service_->stats();
    add_counter(out, "smartproduct_backups_total", "Backups written by the daemon",
                static_cast<double>(s.completed_total));
    add_counter(out, "smartproduct_backup_failures_total", "Backups that failed",
                static_cast<double>(s.failures_total));
    add_gauge(out, "smartproduct_backup_last_success_timestamp_seconds",
              "When the last successful backup finished (Unix time; 0: none since start)",
              s.last_success_ms ? static_cast<double>(*s.last_success_ms) / 1000.0 : 0.0);
    add_gauge(out, "smartproduct_backup_last_duration_seconds",
              "How long the last successful backup took", s.last_duration_s);
    add_gauge(out, "smartproduct_backup_last_size_bytes", "Size of the last successful backup",
              static_cast<double>(s.last_size));
  }

 private:
  // On the job thread: a backup started through the API (its id), or the scheduled one.
  void run(std::optional<std::string> id) {
    if (!id) {
      auto started = service_->start("scheduled");
      if (!started) {
        spdlog::warn("backup: scheduled backup not started: {}", started.error().message);
        return;
      }
      id = started->id;
    }
    auto r = service_->execute(*id);
    if (r.status == "completed") {
      spdlog::info("backup: {} ({}) written: {} bytes in {:.2f} s", r.file, r.trigger, r.size,
                   r.duration_s.value_or(0));
    } else {
      spdlog::error("backup: {} ({}) failed: {}", r.id, r.trigger, r.error);
    }
  }

  Response start_backup(Request&) {
    auto r = service_->start("manual");
    if (!r) return Response::error(r.error());
    jobs_->push(r->id);
    auto response = Response::json(202, record_json(*r));
    response.set_header("location", "/api/admin/backups/" + r->id);
    return response;
  }

  Response list_backups(Request& req) {
    auto page = http::parse_page<std::string>(req, [](const json& key) {
      auto i = key.find("i");
      if (i == key.end() || !i->is_string() || !backup_id_time_ms(i->get<std::string>())) {
        return std::optional<std::string>();
      }
      return std::optional<std::string>(i->get<std::string>());
    });
    if (!page) return Response::error(page.error());
    auto rows = service_->list(static_cast<std::size_t>(page->limit) + 1, page->after);
    std::optional<json> next;
    if (rows.size() > static_cast<std::size_t>(page->limit)) {
      rows.resize(page->limit);
      next = json{{"i", rows.back().id}};
    }
    json items = json::array();
    for (const auto& r : rows) items.push_back(record_json(r));
    return Response::json(200, http::page_json(std::move(items), next));
  }

  Response get_backup(Request& req) {
    auto r = service_->get(req.param("backupId"));
    if (!r) return Response::error(r.error());
    return Response::json(200, record_json(*r));
  }

  Response download(Request& req) {
    const auto& id = req.param("backupId");
    auto file = service_->archive(id);
    if (!file) return Response::error(file.error());
    Response response;
    response.status = 200;
    response.file = *file;
    response.set_header("content-type", "application/gzip");
    response.set_header("content-disposition", "attachment; filename=\"" + archive_name(id) + "\"");
    response.set_header("cache-control", "no-store");
    return response;
  }

  Response delete_backup(Request& req) {
    auto r = service_->remove(req.param("backupId"));
    if (!r) return Response::error(r.error());
    Response response;
    response.status = 204;
    return response;
  }

  BackupSettings settings_;
  const identity::Authenticator* auth_ = nullptr;
  const Clock* clock_ = nullptr;
  std::unique_ptr<DatabaseSnapshots> databases_;
  std::unique_ptr<BackupService> service_;
  // One thread runs the backups: those started through the API, and the scheduled ones.
  std::unique_ptr<JobThread<std::string>> jobs_;
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<BackupModule>(); }

}  // namespace sp::backup
