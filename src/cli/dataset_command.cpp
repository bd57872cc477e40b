// smartproductctl dataset list | run NAME [--out FILE]. Like `audit run`, it works on the
// instance's databases directly (the daemon may be up or down): a run is recorded as the daemon's
// runs are (trigger "cli"), reads only the telemetry stored since the dataset's previous run, and
// its file stays in the datasets directory for the console; --out also copies it (- : stdout).
// The store's one-running-run index keeps it from overlapping the daemon's run of the same
// dataset (exit status 2: try again later).

#include "dataset_command.hpp"

#include <fmt/format.h>

#include <fstream>
#include <iostream>

#include "instance_layout.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/datasets/service.hpp"
#include "smartproduct/http/errors.hpp"
#include "store/sqlite/repositories/dataset_repository.hpp"
#include "store/sqlite/store.hpp"

namespace sp::cli {
namespace {

template <class F>
auto with_service(const std::filesystem::path& config_file, F&& f)
    -> Result<typename std::invoke_result_t<F&, datasets::DatasetService&>::value_type> {
  auto cfg = load_instance_config(config_file.string());
  if (!cfg) return tl::unexpected(cfg.error());
  std::vector<std::string> problems;
  auto section = cfg->document->section("datasets", problems);
  const auto settings = datasets::read_datasets_settings(section, *cfg);
  if (!problems.empty()) return fail(ErrorKind::kUnprocessable, "ConfigError", problems.front());
  sqlite::StoreConfig sc;
  sc.data_dir = cfg->storage.data_dir;
  sc.busy_timeout_ms = cfg->storage.busy_timeout_ms;
  sc.reader_count = 1;
  auto opened = sqlite::open_store(sc);
  if (!opened) return tl::unexpected(opened.error());
  auto& st = **opened;
  std::invoke_result_t<F&, datasets::DatasetService&> out = tl::unexpected(Error{});
  {
    SystemClock clock;
    auto repo = sqlite::make_dataset_repository(st.main_ptr());
    auto source = sqlite::make_dataset_source(st.telemetry_ptr());
    datasets::DatasetService service(settings, *repo, *source, clock);
    out = f(service);
  }
  st.close();
  return out;
}

Result<void> copy_out(const std::filesystem::path& from, const std::string& to) {
  std::ifstream in(from, std::ios::binary);
  if (!in) return fail(ErrorKind::kInternal, "IoError", "cannot read " + from.string());
  if (to == "-") {
    std::cout << in.rdbuf();
    std::cout.flush();
    return {};
  }
  std::ofstream out(to, std::ios::binary | std::ios::trunc);
  out << in.rdbuf();
  out.close();
  if (!out) return fail(ErrorKind::kInternal, "IoError", "cannot write " + to);
  return {};
}

}  // namespace

void add_dataset_command(CLI::App& app) {
  auto* dataset = app.add_subcommand("dataset", "Telemetry datasets");
  dataset->require_subcommand(1);

  auto* list = dataset->add_subcommand("list", "List the datasets and their last runs");
  auto list_target = add_instance_options(list);
  list->callback([list_target] {
    auto r = with_service(
        list_target->config_file(),
        [](datasets::DatasetService& s) -> Result<std::vector<std::string>> {
          auto all = s.list();
          if (!all) return tl::unexpected(all.error());
          std::vector<std::string> lines;
          for (const auto& d : *all) {
            auto last = s.last_run(d.name);
            std::string last_text = "never run";
            if (last && *last) {
              last_text = fmt::format("last run {} {} ({} rows)", (*last)->id, (*last)->status,
                                      (*last)->rows);
            }
            lines.push_back(fmt::format("{:24} {:5} {:16} {}{}  {}", d.name, d.format, d.schedule,
                                        d.enabled ? "" : "disabled ", last_text, d.query));
          }
          return lines;
        });
    if (!r) {
      std::cerr << "smartproductctl dataset list: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
    for (const auto& line : *r) std::cout << line << "\n";
  });

  auto* run = dataset->add_subcommand(
      "run",
      "Run a dataset now on this instance's databases (also when the daemon is down): the "
      "telemetry stored since its previous run");
  auto target = add_instance_options(run);
  auto name = std::make_shared<std::string>();
  auto out = std::make_shared<std::string>();
  run->add_option("name", *name, "The dataset's name")->required();
  run->add_option("--out", *out, "Also write the run's file here (- : standard output)");
  run->callback([target, name, out] {
    auto r = with_service(
        target->config_file(), [&](datasets::DatasetService& s) -> Result<std::filesystem::path> {
          auto id = s.start_run(*name, "cli");
          if (!id) return tl::unexpected(id.error());
          auto done = s.execute(*name, *id);
          if (!done) return tl::unexpected(done.error());
          const std::string window =
              done->to_row > done->from_row
                  ? fmt::format("telemetry rows {}..{}", done->from_row + 1, done->to_row)
                  : std::string("no new telemetry rows");
          std::cerr << fmt::format("dataset {} run {}: {} rows, {} bytes ({})\n", *name, done->id,
                                   done->rows, done->bytes, window);
          return s.run_file(*name, *id);
        });
    if (!r) {
      std::cerr << "smartproductctl dataset run: error: " << r.error().message
                << (r.error().detail.empty() ? "" : " (" + r.error().detail + ")") << "\n";
      throw CLI::RuntimeError(r.error().name == errors::kDatasetRunRunning.name ? 2 : 1);
    }
    if (!out->empty()) {
      if (auto c = copy_out(*r, *out); !c) {
        std::cerr << "smartproductctl dataset run: error: " << c.error().detail << "\n";
        throw CLI::RuntimeError(1);
      }
    } else {
      std::cerr << "file: " << r->string() << "\n";
    }
  });
}

}  // namespace sp::cli
