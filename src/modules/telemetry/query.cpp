#include "smartproduct/telemetry/query.hpp"

#include <algorithm>
#include <charconv>
#include <map>

namespace sp::telemetry {
namespace {

int64_t floor_to(int64_t t, int64_t width) {
  int64_t q = t / width;
  if (t % width != 0 && t < 0) --q;
  return q * width;
}

nlohmann::json aggregate_json(const Aggregate& a, const std::vector<std::string>& aggs) {
  nlohmann::json out = nlohmann::json::object();
  for (const auto& name : aggs) {
    if (name == "avg") out["avg"] = a.count ? a.sum / static_cast<double>(a.count) : 0.0;
    if (name == "min") out["min"] = a.min;
    if (name == "max") out["max"] = a.max;
    if (name == "count") out["count"] = a.count;
    if (name == "first") out["first"] = a.first;
    if (name == "last") out["last"] = a.last;
    if (name == "sum") out["sum"] = a.sum;
  }
  return out;
}

bool days_from_civil(int64_t y, unsigned m, unsigned d, int64_t& out) {
  if (m < 1 || m > 12 || d < 1 || d > 31) return false;
  static constexpr unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  if (d > kDays[m - 1] || (m == 2 && d == 29 && !leap)) return false;
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  out = era * 146097 + static_cast<int64_t>(doe) - 719468;
  return true;
}

}  // namespace

std::optional<Interval> interval_from(std::string_view text) {
  if (text == "raw") return Interval::kRaw;
  if (text == "1m") return Interval::kMinute;
  if (text == "1h") return Interval::kHour;
  if (text == "1d") return Interval::kDay;
  return std::nullopt;
}

std::string_view to_string(Interval interval) {
  switch (interval) {
    case Interval::kRaw:
      return "raw";
    case Interval::kMinute:
      return "1m";
    case Interval::kHour:
      return "1h";
    case Interval::kDay:
      return "1d";
  }
  return "raw";
}

int64_t interval_ms(Interval interval) {
  switch (interval) {
    case Interval::kRaw:
      return 0;
    case Interval::kMinute:
      return 60000;
    case Interval::kHour:
      return 3600000;
    case Interval::kDay:
      return 86400000;
  }
  return 0;
}

int64_t max_span_ms(Interval interval) {
  constexpr int64_t kDay = 86400000;
  switch (interval) {
    case Interval::kRaw:
      return 3660 * kDay;  // paged
    case Interval::kMinute:
      return 31 * kDay;
    case Interval::kHour:
      return 732 * kDay;
    case Interval::kDay:
      return 3660 * kDay;
  }
  return 0;
}

std::optional<int64_t> parse_time(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    int64_t v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || p != s.data() + s.size() || v > 8640000000000000) return std::nullopt;
    return v;
  }
  // YYYY-MM-DDTHH:MM:SS[.fff]Z
  auto num = [&](std::size_t at, std::size_t len, unsigned& out) {
    if (at + len > s.size()) return false;
    unsigned v = 0;
    for (std::size_t i = at; i < at + len; ++i) {
      if (s[i] < '0' || s[i] > '9') return false;
      v = v * 10 + static_cast<unsigned>(s[i] - '0');
    }
    out = v;
    return true;
  };
  unsigned y, mo, d, h, mi, sec, ms = 0;
  if (s.size() < 20 || !num(0, 4, y) || s[4] != '-' || !num(5, 2, mo) || s[7] != '-' ||
      !num(8, 2, d) || (s[10] != 'T' && s[10] != 't') || !num(11, 2, h) || s[13] != ':' ||
      !num(14, 2, mi) || s[16] != ':' || !num(17, 2, sec))
    return std::nullopt;
  std::size_t at = 19;
  if (s[at] == '.') {
    std::size_t digits = 0;
    ++at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9') {
      if (digits < 3) ms = ms * 10 + static_cast<unsigned>(s[at] - '0');
      ++digits;
      ++at;
    }
    if (digits == 0) return std::nullopt;
    for (std::size_t i = digits; i < 3; ++i) ms *= 10;
  }
  if (at + 1 != s.size() || (s[at] != 'Z' && s[at] != 'z')) return std::nullopt;
  if (h > 23 || mi > 59 || sec > 59) return std::nullopt;
  int64_t days;
  if (!days_from_civil(y, mo, d, days)) return std::nullopt;
  const int64_t t = days * 86400000 + h * 3600000LL + mi * 60000LL + sec * 1000LL + ms;
  if (t < 0) return std::nullopt;
  return t;
}

store::TelemetryReader::RawQuery raw_page_query(const SeriesQuery& q) {
  store::TelemetryReader::RawQuery rq;
  rq.device_id = q.device_id;
  rq.owner = q.owner;
  rq.from_ms = q.from_ms;
  rq.to_ms = q.to_ms;
  rq.limit = q.limit + 1;
  if (q.after) {
    rq.after = std::pair{q.after->at("t").get<int64_t>(), q.after->at("i").get<int64_t>()};
    // Start the index range at the cursor: otherwise every page would walk the index from `from`
    // again, and reading a long range page by page would cost quadratic time.
    rq.from_ms = std::max(rq.from_ms, rq.after->first);
  }
  return rq;
}

Result<SeriesPage> query_series(store::TelemetryReader& reader, const SeriesQuery& q) {
  SeriesPage page;
  if (q.interval == Interval::kRaw) {
    auto rows = reader.raw(raw_page_query(q));
    if (!rows) return tl::unexpected(rows.error());
    const bool more = static_cast<int>(rows->size()) > q.limit;
    if (more) rows->pop_back();
    for (const auto& r : *rows) {
      nlohmann::json body = nlohmann::json::parse(r.payload, nullptr, false);
      if (!body.is_object()) body = nlohmann::json::object();
      nlohmann::json point = nlohmann::json::object();
      point["t"] = r.t_ms;
      if (q.fields.empty()) {
        for (auto it = body.begin(); it != body.end(); ++it) {
          if (it.key() != "t") point[it.key()] = std::move(it.value());
        }
      } else {
        for (const auto& f : q.fields) {
          auto it = body.find(f);
          if (it != body.end() && f != "t") point[f] = std::move(*it);
        }
      }
      page.points.push_back(std::move(point));
    }
    if (more && !rows->empty())
      page.next = nlohmann::json{{"t", rows->back().t_ms}, {"i", rows->back().id}};
    return page;
  }

  // Rollups: buckets in time order; the store's rows (one per owner) are merged here, and hours
  // are merged into days for 1d.
  const int64_t width = interval_ms(q.interval);
  const Resolution res = q.interval == Interval::kMinute ? Resolution::kMinute : Resolution::kHour;
  int64_t from = floor_to(q.from_ms, width);
  if (q.after) from = std::max(from, q.after->at("b").get<int64_t>());
  std::optional<int64_t> current;
  std::map<std::string, Aggregate> fields;
  int emitted = 0;
  bool more = false;
  auto flush = [&] {
    if (!current) return;
    nlohmann::json point = nlohmann::json::object();
    point["t"] = *current;
    for (const auto& [name, agg] : fields) point[name] = aggregate_json(agg, q.aggs);
    page.points.push_back(std::move(point));
    ++emitted;
    fields.clear();
  };
  auto r = reader.rollups(res, q.device_id, q.owner, from, q.to_ms, q.fields,
                          [&](const store::TelemetryReader::RollupRow& row) {
                            const int64_t bucket = floor_to(row.bucket, width);
                            if (!current || bucket != *current) {
                              flush();
                              if (emitted == q.limit) {
                                more = true;
                                page.next = nlohmann::json{{"b", bucket}};
                                return false;
                              }
                              current = bucket;
                            }
                            fields[row.field].merge(row.agg);
                            return true;
                          });
  if (!r) return tl::unexpected(r.error());
  if (!more) flush();
  return page;
}

Result<Latest> query_latest(store::TelemetryReader& reader, const std::string& device_id,
                            const std::optional<std::string>& owner, int scan) {
  auto rows = reader.newest(device_id, owner, scan);
  if (!rows) return tl::unexpected(rows.error());
  Latest out;
  for (const auto& r : *rows) {
    nlohmann::json body = nlohmann::json::parse(r.payload, nullptr, false);
    if (!body.is_object()) continue;
    if (!out.found) {
      out.found = true;
      out.t = r.t_ms;
    }
    for (auto it = body.begin(); it != body.end(); ++it) {
      if (!out.fields.contains(it.key())) {
        out.fields[it.key()] = nlohmann::json{{"value", it.value()}, {"t", r.t_ms}};
      }
    }
  }
  return out;
}

}  // namespace sp::telemetry
