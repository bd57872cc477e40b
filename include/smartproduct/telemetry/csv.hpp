#pragma once
// Raw samples as CSV (GET /api/devices/{id}/telemetry.csv), produced a page at a time so that a
// download of any size never sits in memory whole: the module hands the pieces to the HTTP
// server as a streamed body.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "smartproduct/core/result.hpp"
#include "smartproduct/store/telemetry_repository.hpp"
#include "smartproduct/telemetry/query.hpp"
#include "smartproduct/telemetry/types.hpp"

namespace sp::telemetry {

/// One CSV cell: null empty, numbers and booleans as JSON, text as is; quoted when it holds a
/// comma, quote, CR or LF, and a text starting with = + - @ is quoted with a leading ' so that a
/// spreadsheet does not run it as a formula.
std::string csv_cell(const nlohmann::json& value);

/// The CSV of one raw query: `t,time,<columns>` then a row per sample in time order, CRLF line
/// ends. The columns are the query's `fields` or, without them, every attribute of the first
/// 1000 samples (the first page: pages hold at least that many).
class CsvExport {
 public:
  static constexpr int kPageRows = 2000;

  /// `query.interval`, `aggs` and `limit` are ignored: `max_rows` caps the rows (nullopt: every
  /// sample of the range); `query.after` starts after that cursor key.
  CsvExport(store::TelemetryReader& reader, SeriesQuery query, std::optional<int64_t> max_rows,
            int page_rows = kPageRows);

  /// Appends the next piece to `out`: the header line and the first page, then one page per call
  /// (keyset paging on (t, id): each page costs the same however deep). Returns whether more
  /// follows.
  Result<bool> next(std::string& out);

  /// After the last piece: the cursor key of the first sample left out when `max_rows` cut the
  /// range short, else nullopt.
  const std::optional<nlohmann::json>& rest() const { return rest_; }

 private:
  void write_header(const std::vector<TelemetryRecord>& first_page, std::string& out);
  void append_row(const TelemetryRecord& record, std::string& out);

  store::TelemetryReader& reader_;
  SeriesQuery query_;
  std::optional<int64_t> remaining_;
  int page_rows_;
  std::vector<std::string> columns_;
  bool started_ = false;
  bool done_ = false;
  std::optional<nlohmann::json> rest_;
  std::string iso_;
};

}  // namespace sp::telemetry
