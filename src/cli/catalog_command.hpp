#pragma once
// `smartproductctl catalog import`: loads the reference catalog (serial/model numbers that may be
// registered) from a CSV or JSON-lines file straight into the instance's database (safe while
// the daemon runs: SQLite WAL and a busy timeout). See smartproduct/catalog/import.hpp for the
// file formats.

#include <cstddef>
#include <iosfwd>
#include <string>

#include "smartproduct/core/result.hpp"

namespace CLI {
class App;
}

namespace sp::cli {

struct CatalogImportOptions {
  std::string config;
  std::string file;  // "-" for standard input
  bool all_or_nothing = false;
  bool replace = false;         // update existing entries instead of skipping them
  std::size_t max_errors = 20;  // bad rows listed one by one; the rest are counted
  bool progress = false;        // draw a progress bar on `err`
};

struct CatalogImportSummary {
  std::size_t rows = 0;
  std::size_t inserted = 0;
  std::size_t replaced = 0;
  std::size_t skipped = 0;
  std::size_t bad = 0;
  double seconds = 0;
  bool imported = false;  // false when nothing was written (--all-or-nothing with bad rows)
};

/// Parses, validates and imports. Bad rows are listed on `err`; the summary line goes to `out`.
/// Fails (nothing written) on an unreadable file, a bad CSV header or a storage error.
Result<CatalogImportSummary> run_catalog_import(const CatalogImportOptions& options,
                                                std::istream& stdin_in, std::ostream& out,
                                                std::ostream& err);

/// Registers `catalog import`.
void add_catalog_command(CLI::App& app);

}  // namespace sp::cli
