// The datasets module ([datasets], /api/admin/datasets): definitions, on-demand and scheduled runs,
// run files and their download. Runs execute on the module's own thread, one at a time; the
// store's one-running-run index settles races with smartproductctl dataset run.

#include "smartproduct/datasets/module.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>

#include "smartproduct/core/job_thread.hpp"
#include "smartproduct/datasets/service.hpp"
#include "smartproduct/http/paging.hpp"
#include "smartproduct/http/types.hpp"
#include "smartproduct/identity/auth.hpp"
#include "store/sqlite/repositories/dataset_repository.hpp"
#include "store/sqlite/store.hpp"

namespace sp::datasets {
namespace {

using http::Request;
using http::Response;
using nlohmann::json;

constexpr std::int64_t kRetentionEveryMs = 3'600'000;
using QueuedRun = std::pair<std::string, std::int64_t>;  // dataset, run id

json ms_or_null(const std::optional<std::int64_t>& ms) {
  return ms ? json(iso8601_ms(*ms)) : json(nullptr);
}

json run_json(const store::DatasetRun& r) {
  json out = {{"id", r.id},
              {"dataset", r.dataset},
              {"trigger", r.trigger},
              {"status", r.status},
              {"startedAt", iso8601_ms(r.started_at_ms)},
              {"finishedAt", ms_or_null(r.finished_at_ms)},
              {"rows", r.rows},
              {"bytes", r.bytes},
              {"fromRow", r.from_row},
              {"toRow", r.to_row},
              {"columns", r.columns}};
  out["downloadUrl"] = r.status == "succeeded" && !r.file.empty()
                           ? json("/api/admin/datasets/" + r.dataset + "/contents/" +
                                  std::to_string(r.id) + "/download")
                           : json(nullptr);
  if (!r.error.empty()) out["error"] = r.error;
  return out;
}

json dataset_json(const store::Dataset& d, const std::optional<store::DatasetRun>& last) {
  return json{{"name", d.name},
              {"query", d.query},
              {"schedule", d.schedule},
              {"format", d.format},
              {"retentionDays", d.retention_days},
              {"enabled", d.enabled},
              {"createdAt", iso8601_ms(d.created_at_ms)},
              {"updatedAt", iso8601_ms(d.updated_at_ms)},
              {"nextRunAt", d.enabled ? ms_or_null(d.next_run_at_ms) : json(nullptr)},
              {"lastRun", last ? run_json(*last) : json(nullptr)}};
}

// The body of a create (with name) or an update: typed fields, unknown fields refused.
Result<DatasetChange> parse_change(const json& body, bool with_name) {
  DatasetChange c;
  for (const auto& [key, value] : body.items()) {
    auto text = [&, &key = key, &value = value](std::optional<std::string>& into) -> Result<void> {
      if (!value.is_string()) return fail(errors::kInvalidField, key + " must be a string.");
      into = value.get<std::string>();
      return {};
    };
    Result<void> r;
    if (key == "name" && with_name) {
      if (!value.is_string()) return fail(errors::kInvalidField, "name must be a string.");
    } else if (key == "query") {
      r = text(c.query);
    } else if (key == "schedule") {
      r = text(c.schedule);
    } else if (key == "format") {
      r = text(c.format);
    } else if (key == "retentionDays") {
      if (!value.is_number_integer()) {
        return fail(errors::kInvalidField, "retentionDays must be an integer.");
      }
      const auto days = value.get<std::int64_t>();
      if (days < 1 || days > 3650) {
        return fail(errors::kInvalidParameter, "retentionDays must be an integer from 1 to 3650.");
      }
      c.retention_days = static_cast<int>(days);
    } else if (key == "enabled") {
      if (!value.is_boolean()) return fail(errors::kInvalidField, "enabled must be a boolean.");
      c.enabled = value.get<bool>();
    } else {
      return fail(errors::kInvalidField, "Unknown field " + key + ".");
    }
    if (!r) return tl::unexpected(r.error());
  }
  return c;
}

class DatasetsModule final : public Module {
 public:
  std::string_view name() const override { return "datasets"; }

  void configure(config::Section& section, const config::DaemonConfig& cfg) override {
    settings_ = read_datasets_settings(section, cfg);
  }

  Result<void> build(ModuleContext& ctx) override {
    auth_ = &ctx.services.get<const identity::Authenticator>();
    repo_ = sqlite::make_dataset_repository(ctx.store.main_ptr());
    source_ = sqlite::make_dataset_source(ctx.store.telemetry_ptr());
    service_ = std::make_unique<DatasetService>(settings_, *repo_, *source_, ctx.clock);
    clock_ = &ctx.clock;
    // One thread runs everything: queued manual runs first, then the scheduled runs that are
    // due, and the hourly retention sweep.
    jobs_ = std::make_unique<JobThread<QueuedRun>>(
        ctx.clock,
        [this]() -> std::optional<std::int64_t> {
          std::int64_t next = next_retention_;
          if (auto due = service_->next_due(); due && *due) next = std::min(next, **due);
          return next;
        },
        [this](std::optional<QueuedRun> job) {
          if (job) {
            execute(job->first, job->second);
          } else {
            scheduled();
          }
        });
    return {};
  }

  void register_routes(http::Router& router) override {
    auto add = [&](const char* method, const char* path, auto member) {
      router.add(method, path,
                 auth_->protect_admin([this, member](Request& req, const identity::Principal&) {
                   return (this->*member)(req);
                 }));
    };
    add("GET", "/api/admin/datasets", &DatasetsModule::list);
    add("POST", "/api/admin/datasets", &DatasetsModule::create);
    add("GET", "/api/admin/datasets/{name}", &DatasetsModule::get);
    add("PUT", "/api/admin/datasets/{name}", &DatasetsModule::update);
    add("DELETE", "/api/admin/datasets/{name}", &DatasetsModule::remove);
    add("POST", "/api/admin/datasets/{name}/run", &DatasetsModule::start_run);
    add("GET", "/api/admin/datasets/{name}/contents", &DatasetsModule::list_runs);
    add("GET", "/api/admin/datasets/{name}/contents/{runId}", &DatasetsModule::get_run);
    add("GET", "/api/admin/datasets/{name}/contents/{runId}/download", &DatasetsModule::download);
  }

  Result<void> start() override {
    if (auto r = service_->recover(); !r) {
      spdlog::error("datasets: {} {}", r.error().message, r.error().detail);
    }
    jobs_->start();
    return {};
  }

  void stop() override {
    if (jobs_) jobs_->stop();
  }

  void report_metrics(std::vector<MetricSample>& out) const override {
    add_counter(out, "smartproduct_dataset_runs_total", "Dataset runs that succeeded",
                static_cast<double>(runs_done_.load()));
    add_counter(out, "smartproduct_dataset_run_failures_total", "Dataset runs that failed",
                static_cast<double>(runs_failed_.load()));
    add_counter(out, "smartproduct_dataset_rows_total", "Rows written by dataset runs",
                static_cast<double>(rows_written_.load()));
  }

 private:
  void execute(const std::string& name, std::int64_t run_id) {
    auto r = service_->execute(name, run_id);
    if (r) {
      ++runs_done_;
      rows_written_ += r->rows;
      spdlog::info("datasets: {} run {} ({}): {} rows, rows {}..{}", name, r->id, r->trigger,
                   r->rows, r->from_row, r->to_row);
    } else {
      ++runs_failed_;
      spdlog::error("datasets: {} run {} failed: {} {}", name, run_id, r.error().message,
                    r.error().detail);
    }
    // Each run also retires what its dataset's retention has passed, so a short retention
    // takes effect at the dataset's own pace, not only at the hourly sweep.
    if (auto n = service_->apply_retention(); !n) {
      spdlog::error("datasets: retention: {} {}", n.error().message, n.error().detail);
    }
  }

  void scheduled() {
    const std::int64_t now = clock_->now_ms();
    if (now >= next_retention_) {
      if (auto n = service_->apply_retention(); !n) {
        spdlog::error("datasets: retention: {} {}", n.error().message, n.error().detail);
      } else if (*n > 0) {
        spdlog::info("datasets: retention deleted {} file(s)", *n);
      }
      next_retention_ = now + kRetentionEveryMs;
    }
    auto due = service_->due(now);
    if (!due) {
      spdlog::error("datasets: {} {}", due.error().message, due.error().detail);
      return;
    }
    for (const auto& name : *due) {
      // Rescheduled first: a run that keeps failing runs once per period, not in a loop.
      (void)service_->reschedule(name);
      auto id = service_->start_run(name, "scheduled");
      if (!id) {
        if (id.error().name != errors::kDatasetRunRunning.name) {
          spdlog::error("datasets: {}: {}", name, id.error().message);
        }
        continue;
      }
      execute(name, *id);
    }
  }

  Response list(Request&) {
    auto all = service_->list();
    if (!all) return Response::error(all.error());
    json items = json::array();
    for (const auto& d : *all) {
      auto last = service_->last_run(d.name);
      if (!last) return Response::error(last.error());
      items.push_back(dataset_json(d, *last));
    }
    return Response::json(200, http::page_json(std::move(items), std::nullopt));
  }

  Response one(const std::string& name, int status) {
    auto d = service_->get(name);
    if (!d) return Response::error(d.error());
    auto last = service_->last_run(name);
    if (!last) return Response::error(last.error());
    return Response::json(status, dataset_json(*d, *last));
  }

  Response create(Request& req) {
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto name = body->find("name");
    if (name == body->end()) return Response::error(errors::kMissingField, "name is required.");
    auto query = body->find("query");
    if (query == body->end()) return Response::error(errors::kMissingField, "query is required.");
    auto change = parse_change(*body, true);
    if (!change) return Response::error(change.error());
    auto d = service_->create(name->get<std::string>(), *change);
    if (!d) return Response::error(d.error());
    auto response = one(d->name, 201);
    response.set_header("location", "/api/admin/datasets/" + d->name);
    return response;
  }

  Response get(Request& req) { return one(req.param("name"), 200); }

  Response update(Request& req) {
    auto body = http::parse_json_object(req);
    if (!body) return Response::error(body.error());
    auto change = parse_change(*body, false);
    if (!change) return Response::error(change.error());
    auto d = service_->update(req.param("name"), *change);
    if (!d) return Response::error(d.error());
    return one(d->name, 200);
  }

  Response remove(Request& req) {
    auto r = service_->remove(req.param("name"));
    if (!r) return Response::error(r.error());
    Response response;
    response.status = 204;
    return response;
  }

  Response start_run(Request& req) {
    const std::string name = req.param("name");
    auto id = service_->start_run(name, "manual");
    if (!id) return Response::error(id.error());
    jobs_->push(QueuedRun{name, *id});
    auto response = Response::json(202, json{{"runId", *id}, {"status", "running"}});
    response.set_header("location",
                        "/api/admin/datasets/" + name + "/contents/" + std::to_string(*id));
    return response;
  }

  Response list_runs(Request& req) {
    auto page = http::parse_page<std::int64_t>(req, http::id_page_key);
    if (!page) return Response::error(page.error());
    auto rows = service_->runs(req.param("name"), page->limit + 1, page->after);
    if (!rows) return Response::error(rows.error());
    auto next = http::trim_page(*rows, page->limit, http::id_key_of);
    json items = json::array();
    for (const auto& r : *rows) items.push_back(run_json(r));
    return Response::json(200, http::page_json(std::move(items), next));
  }

  Response get_run(Request& req) {
    auto id = http::decimal_id(req.param("runId"));
    if (!id) return Response::error(errors::kDatasetRunNotFound);
    auto r = service_->run(req.param("name"), *id);
    if (!r) return Response::error(r.error());
    return Response::json(200, run_json(*r));
  }

  Response download(Request& req) {
    auto id = http::decimal_id(req.param("runId"));
    if (!id) return Response::error(errors::kDatasetRunNotFound);
    const std::string name = req.param("name");
    auto file = service_->run_file(name, *id);
    if (!file) return Response::error(file.error());
    const bool csv = file->extension() == ".csv";
    Response response;
    response.status = 200;
    response.file = *file;
    response.set_header("content-type",
                        csv ? "text/csv; charset=utf-8" : "application/x-ndjson; charset=utf-8");
    response.set_header("content-disposition", "attachment; filename=\"" + name + "-" +
                                                   std::to_string(*id) +
                                                   (csv ? ".csv\"" : ".jsonl\""));
    response.set_header("cache-control", "no-store");
    return response;
  }

  DatasetsSettings settings_;
  const identity::Authenticator* auth_ = nullptr;
  const Clock* clock_ = nullptr;
  std::unique_ptr<store::DatasetRepository> repo_;
  std::unique_ptr<store::DatasetSource> source_;
  std::unique_ptr<DatasetService> service_;

  std::int64_t next_retention_ = 0;  // at start, then hourly (only on the job thread)
  std::unique_ptr<JobThread<QueuedRun>> jobs_;
  std::atomic<std::int64_t> runs_done_{0};
  std::atomic<std::int64_t> runs_failed_{0};
  std::atomic<std::int64_t> rows_written_{0};
};

}  // namespace

std::unique_ptr<Module> make_module() { return std::make_unique<DatasetsModule>(); }

}  // namespace sp::datasets
