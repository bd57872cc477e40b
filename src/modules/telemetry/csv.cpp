#include "smartproduct/telemetry/csv.hpp"

#include <algorithm>
#include <set>

#include "smartproduct/expr/expr.hpp"

namespace sp::telemetry {
namespace {

constexpr std::size_t kColumnSampleRows = 1000;

bool starts_like_formula(std::string_view s) {
  return !s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@');
}

}  // namespace

std::string csv_cell(const nlohmann::json& v) {
  if (v.is_null()) return "";
  std::string s = v.is_string() ? v.get<std::string>() : v.dump();
  const bool formula = v.is_string() && starts_like_formula(s);
  if (!formula && s.find_first_of(",\"\r\n") == std::string::npos) return s;
  std::string q = "\"";
  if (formula) q += '\'';
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  q += '"';
  return q;
}

CsvExport::CsvExport(store::TelemetryReader& reader, SeriesQuery query,
                     std::optional<int64_t> max_rows, int page_rows)
    : reader_(reader),
      query_(std::move(query)),
      remaining_(max_rows),
      page_rows_(std::max(1, page_rows)) {
  query_.interval = Interval::kRaw;
}

Result<bool> CsvExport::next(std::string& out) {
  if (done_) return false;
  int rows = page_rows_;
  if (remaining_) rows = static_cast<int>(std::min<int64_t>(rows, *remaining_));
  SeriesPage page;
  if (rows > 0) {
    query_.limit = rows;
    auto read = query_series(reader_, query_);
    if (!read) return tl::unexpected(read.error());
    page = std::move(*read);
  }
  if (!started_) {
    started_ = true;
    columns_ = query_.fields;
    if (columns_.empty()) {
      std::set<std::string> seen;
      std::size_t n = 0;
      for (const auto& pt : page.points) {
        if (++n > kColumnSampleRows) break;
        for (auto it = pt.begin(); it != pt.end(); ++it) {
          if (it.key() != "t") seen.insert(it.key());
        }
      }
      columns_.assign(seen.begin(), seen.end());
    }
    out += "t,time";
    for (const auto& c : columns_) {
      out += ',';
      out += csv_cell(nlohmann::json(c));
    }
    out += "\r\n";
  }
  for (const auto& pt : page.points) append_row(pt, out);
  if (remaining_) *remaining_ -= static_cast<int64_t>(page.points.size());
  if (!page.next) {
    done_ = true;
    return false;
  }
  if (remaining_ && *remaining_ <= 0) {
    rest_ = page.next;
    done_ = true;
    return false;
  }
  query_.after = std::move(page.next);
  return true;
}

void CsvExport::append_row(const nlohmann::json& pt, std::string& out) {
  const int64_t t = pt["t"].get<int64_t>();
  out += std::to_string(t);
  out += ',';
  if (expr::iso_utc(static_cast<double>(t), iso_)) out += iso_;
  for (const auto& c : columns_) {
    out += ',';
    auto it = pt.find(c);
    if (it != pt.end()) out += csv_cell(*it);
  }
  out += "\r\n";
}

}  // namespace sp::telemetry
