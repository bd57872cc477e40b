#pragma once
// Parsing and validation of catalog import files (`smartproductctl catalog import`):
//   CSV (RFC 4180: quoted fields, "" escapes, commas and line breaks inside quotes, CRLF or LF)
//       with the header deviceId,modelNumber,details[,claimCode][,caId] (any column order),
//       where details is a JSON object ("{""model"":""INFINITY 19""}"; an empty cell means {})
//       and an empty claimCode or caId cell means none;
//   JSON lines: one object per line with those keys (blank lines skipped).
// Every row is validated; a row repeating an earlier (deviceId, modelNumber) of the file is bad.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "smartproduct/catalog/service.hpp"

namespace sp::catalog {

enum class ImportFormat { kCsv, kJsonLines };

struct RowError {
  /// Data row number, 1-based, header not counted (CSV) / non-blank line number (JSON lines).
  std::size_t row = 0;
  /// Line of the file where the row starts (1-based).
  std::size_t line = 0;
  std::string message;
};

struct ParsedImport {
  std::vector<NewEntry> entries;  // the valid rows, in file order
  std::vector<RowError> errors;   // the bad rows, in file order
  std::size_t rows = 0;           // data rows seen
  /// Set when the file as a whole is unusable (bad CSV header): nothing else is meaningful.
  std::string fatal;
};

/// ".csv" → CSV, ".jsonl"/".ndjson"/".json" → JSON lines; otherwise (e.g. "-" for standard input)
/// the first non-blank character decides: '{' → JSON lines, else CSV.
ImportFormat detect_format(std::string_view file_name, std::string_view content);

ParsedImport parse_import(std::string_view content, ImportFormat format);

}  // namespace sp::catalog
