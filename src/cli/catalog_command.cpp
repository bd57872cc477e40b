#include "catalog_command.hpp"

#include <fmt/format.h>
#include <unistd.h>
#include <CLI/CLI.hpp>

#include <chrono>
#include <fstream>
#include <iostream>
#include <iterator>
#include <sstream>

#include "instance_layout.hpp"
#include "smartproduct/catalog/import.hpp"
#include "smartproduct/catalog/service.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/config.hpp"
#include "smartproduct/identity/key_store.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::cli {
namespace {

Result<std::string> read_input(const std::string& file, std::istream& stdin_in) {
  std::ostringstream buf;
  if (file == "-") {
    buf << stdin_in.rdbuf();
    return buf.str();
  }
  std::ifstream in(file, std::ios::binary);
  if (!in) return fail(ErrorKind::kNotFound, "FileNotFound", "cannot open " + file);
  buf << in.rdbuf();
  if (in.bad()) return fail(ErrorKind::kInternal, "ReadError", "cannot read " + file);
  return buf.str();
}

// Redraws in place with '\r'; only called when stderr is a terminal.
void draw_bar(std::ostream& err, std::size_t done, std::size_t total) {
  constexpr int kWidth = 30;
  const double f = total == 0 ? 1.0 : static_cast<double>(done) / static_cast<double>(total);
  const int filled = static_cast<int>(f * kWidth);
  err << '\r' << "importing [" << std::string(filled, '#') << std::string(kWidth - filled, ' ')
      << "] " << fmt::format("{:3.0f}% {}/{}", f * 100, done, total) << std::flush;
}

}  // namespace

Result<CatalogImportSummary> run_catalog_import(const CatalogImportOptions& o,
                                                std::istream& stdin_in, std::ostream& out,
                                                std::ostream& err) {
  const auto started = std::chrono::steady_clock::now();
  auto cfg = load_instance_config(o.config);
  if (!cfg) return tl::unexpected(cfg.error());
  auto content = read_input(o.file, stdin_in);
  if (!content) return tl::unexpected(content.error());

  const auto format = catalog::detect_format(o.file, *content);
  auto parsed = catalog::parse_import(*content, format);
  content->clear();
  content->shrink_to_fit();
  if (!parsed.fatal.empty()) return fail(ErrorKind::kUnprocessable, "BadImportFile", parsed.fatal);

  CatalogImportSummary sum;
  sum.rows = parsed.rows;
  sum.bad = parsed.errors.size();
  for (std::size_t i = 0; i < parsed.errors.size() && i < o.max_errors; ++i) {
    const auto& e = parsed.errors[i];
    err << fmt::format("row {} (line {}): {}\n", e.row, e.line, e.message);
  }
  if (parsed.errors.size() > o.max_errors) {
    err << fmt::format("... and {} more bad rows\n", parsed.errors.size() - o.max_errors);
  }

  const auto seconds = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  if (o.all_or_nothing && sum.bad > 0) {
    sum.seconds = seconds();
    out << fmt::format("nothing imported (--all-or-nothing): {} rows, {} bad, {} valid; {:.2f} s\n",
                       sum.rows, sum.bad, parsed.entries.size(), sum.seconds);
    return sum;
  }

  auto ids = identity_settings(*cfg);
  if (!ids) return tl::unexpected(ids.error());
  identity::KeyStore keys(ids->keys_dir);
  auto pepper = keys.load_or_create_pepper();
  if (!pepper) {
    return fail(pepper.error().kind, pepper.error().name,
                "[identity] keys_dir " + ids->keys_dir.string() + ": " + pepper.error().message);
  }
  sqlite::StoreConfig sc;
  sc.data_dir = cfg->storage.data_dir;
  sc.busy_timeout_ms = cfg->storage.busy_timeout_ms;
  sc.reader_count = 1;
  auto store = sqlite::open_store(sc);
  if (!store) return tl::unexpected(store.error());
  auto repo = sqlite::make_catalog_repository((*store)->main_ptr());
  SystemClock clock;
  catalog::CatalogService service(*repo, clock, identity::CodeHasher(*pepper));

  store::ImportProgress progress;
  if (o.progress) progress = [&err](std::size_t d, std::size_t t) { draw_bar(err, d, t); };
  auto counts = service.import(
      parsed.entries, o.replace ? store::ExistingEntries::kReplace : store::ExistingEntries::kSkip,
      progress);
  if (o.progress) err << '\n';
  (*store)->close();
  if (!counts) {
    return fail(counts.error().kind, counts.error().name,
                "import failed, nothing written: " + counts.error().message +
                    (counts.error().detail.empty() ? "" : " (" + counts.error().detail + ")"));
  }
  sum.inserted = counts->inserted;
  sum.replaced = counts->replaced;
  sum.skipped = counts->skipped;
  sum.imported = true;
  sum.seconds = seconds();
  out << fmt::format(
      "imported {} (new {}, replaced {}), skipped {} existing, bad {}, of {} rows in {:.2f} s\n",
      sum.inserted + sum.replaced, sum.inserted, sum.replaced, sum.skipped, sum.bad, sum.rows,
      sum.seconds);
  return sum;
}

void add_catalog_command(CLI::App& app) {
  auto* cat = app.add_subcommand("catalog", "Manage the reference catalog of serial/model numbers");
  cat->require_subcommand(1);

  auto o = std::make_shared<CatalogImportOptions>();
  auto* imp = cat->add_subcommand(
      "import",
      "Import entries from CSV (header deviceId,modelNumber,details[,claimCode]) or JSON lines. "
      "Exit status: 0 all rows imported or skipped, 2 bad rows were left out, 1 nothing imported");
  auto where = add_instance_options(imp);
  imp->add_flag("--all-or-nothing", o->all_or_nothing,
                "Import nothing when any row is bad (default: import the good rows)");
  imp->add_flag("--replace", o->replace,
                "Update entries that already exist (default: skip and count them)");
  imp->add_option("--max-errors", o->max_errors, "Bad rows listed one by one (default 20)");
  imp->add_option("file", o->file, "FILE.csv, FILE.jsonl, or - for standard input")->required();
  imp->callback([o, where] {
    o->config = where->config_file().string();
    o->progress = ::isatty(STDERR_FILENO) == 1;
    auto r = run_catalog_import(*o, std::cin, std::cout, std::cerr);
    if (!r) {
      std::cerr << "smartproductctl catalog import: error: " << r.error().message << "\n";
      throw CLI::RuntimeError(1);
    }
    if (!r->imported) throw CLI::RuntimeError(1);
    if (r->bad > 0) throw CLI::RuntimeError(2);
  });
}

}  // namespace sp::cli
