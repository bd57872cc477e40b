#include "smartproduct/telemetry/csv.hpp"

#include <algorithm>
#include <set>

#include "smartproduct/expr/expr.hpp"

namespace sp::telemetry {
namespace {

constexpr std::size_t kColumnSampleRows = 1000;

nlohmann::json parse_payload(const std::string& payload) {
  auto body = nlohmann::json::parse(payload, nullptr, false);
  return body.is_object() ? body : nlohmann::json::object();
}

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

// Rows are written straight from the store's records, one parsed payload at a time: a page costs
// its raw rows and the piece, never a page of JSON points.
Result<bool> CsvExport::next(std::string& out) {
  if (done_) return false;
  int rows = page_rows_;
  if (remaining_) rows = static_cast<int>(std::min<int64_t>(rows, *remaining_));
  query_.limit = rows;
  auto read = reader_.raw(raw_page_query(query_));
  if (!read) return tl::unexpected(read.error());
  auto& records = *read;
  const bool more = static_cast<int>(records.size()) > rows;
  if (more) records.pop_back();
  if (!started_) {
    started_ = true;
    write_header(records, out);
  }
  for (const auto& r : records) append_row(r, out);
  if (remaining_) *remaining_ -= static_cast<int64_t>(records.size());
  if (!more || records.empty()) {
    done_ = true;
    return false;
  }
  nlohmann::json key = {{"t", records.back().t_ms}, {"i", records.back().id}};
  if (remaining_ && *remaining_ <= 0) {
    rest_ = std::move(key);
    done_ = true;
    return false;
  }
  query_.after = std::move(key);
  return true;
}

void CsvExport::write_header(const std::vector<TelemetryRecord>& first_page, std::string& out) {
  columns_ = query_.fields;
  if (columns_.empty()) {
    std::set<std::string> seen;
    const std::size_t n = std::min(first_page.size(), kColumnSampleRows);
    for (std::size_t i = 0; i < n; ++i) {
      const auto body = parse_payload(first_page[i].payload);
      for (auto it = body.begin(); it != body.end(); ++it) {
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

void CsvExport::append_row(const TelemetryRecord& r, std::string& out) {
  const auto body = parse_payload(r.payload);
  out += std::to_string(r.t_ms);
  out += ',';
  if (expr::iso_utc(static_cast<double>(r.t_ms), iso_)) out += iso_;
  for (const auto& c : columns_) {
    out += ',';
    // As in query_series: "t" is the sample's time, not a payload attribute of that name.
    if (c == "t") {
      out += std::to_string(r.t_ms);
      continue;
    }
    auto it = body.find(c);
    if (it != body.end()) out += csv_cell(*it);
  }
  out += "\r\n";
}

}  // namespace sp::telemetry
