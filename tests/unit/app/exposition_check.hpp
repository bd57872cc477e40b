#pragma once
// A strict reader of the Prometheus text format (0.0.4) for tests: returns every problem found,
// so a test can assert that a rendering has none, and that broken renderings are caught.
// Checks: names match [a-zA-Z_:][a-zA-Z0-9_:]*; # TYPE once per family, before its samples;
// counters end in _total and nothing else does; no non-base units (_ms, _milliseconds, _kb, ...);
// a histogram's buckets per label set have ascending le, are cumulative, end with le="+Inf",
// and _count equals the +Inf bucket; every value parses as a float.

#include <cmath>
#include <cstdlib>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

namespace sp::testing {

struct ExpositionSample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;
  double value = 0;
};

inline std::optional<double> parse_prometheus_float(const std::string& text) {
  if (text == "+Inf" || text == "Inf") return INFINITY;
  if (text == "-Inf") return -INFINITY;
  if (text == "NaN") return NAN;
  char* end = nullptr;
  const double v = std::strtod(text.c_str(), &end);
  if (text.empty() || end != text.c_str() + text.size()) return std::nullopt;
  return v;
}

// name{k="v",...} value   (labels optional; values may hold \" \\ \n escapes)
inline std::optional<ExpositionSample> parse_sample_line(const std::string& line) {
  ExpositionSample s;
  std::size_t i = 0;
  while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
  s.name = line.substr(0, i);
  if (i < line.size() && line[i] == '{') {
    ++i;
    while (i < line.size() && line[i] != '}') {
      const auto eq = line.find('=', i);
      if (eq == std::string::npos || eq + 1 >= line.size() || line[eq + 1] != '"') {
        return std::nullopt;
      }
      std::string key = line.substr(i, eq - i);
      std::string value;
      std::size_t j = eq + 2;
      for (; j < line.size() && line[j] != '"'; ++j) {
        if (line[j] == '\\' && j + 1 < line.size()) ++j;
        value += line[j];
      }
      if (j >= line.size()) return std::nullopt;
      s.labels.emplace_back(std::move(key), std::move(value));
      i = j + 1;
      if (i < line.size() && line[i] == ',') ++i;
    }
    if (i >= line.size()) return std::nullopt;
    ++i;  // '}'
  }
  if (i >= line.size() || line[i] != ' ') return std::nullopt;
  auto v = parse_prometheus_float(line.substr(i + 1));
  if (!v) return std::nullopt;
  s.value = *v;
  return s;
}

inline std::vector<std::string> check_exposition(const std::string& text) {
  static const std::regex kName("[a-zA-Z_:][a-zA-Z0-9_:]*");
  static const std::regex kLabelName("[a-zA-Z_][a-zA-Z0-9_]*");
  static const std::regex kBadUnit(
      ".*_(ms|milliseconds|microseconds|us|kb|mb|kilobytes|megabytes)(_total)?$");
  std::vector<std::string> problems;
  std::map<std::string, std::string> types;  // family -> type
  std::set<std::string> sampled;             // families with samples already
  std::string current;                       // family of the last # TYPE
  struct Series {
    std::vector<std::pair<double, double>> buckets;  // (le, value) in order
    std::optional<double> count;
    bool sum = false;
  };
  std::map<std::pair<std::string, std::string>, Series> histograms;  // (family, labels w/o le)

  std::istringstream in(text);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    const std::string where = "line " + std::to_string(n) + ": " + line + ": ";
    if (line.rfind("# HELP ", 0) == 0) continue;
    if (line.rfind("# TYPE ", 0) == 0) {
      std::istringstream t(line.substr(7));
      std::string name, type;
      t >> name >> type;
      if (!std::regex_match(name, kName)) problems.push_back(where + "bad metric name");
      if (types.count(name)) problems.push_back(where + "second # TYPE for the family");
      if (type != "counter" && type != "gauge" && type != "histogram") {
        problems.push_back(where + "unknown type");
      }
      const bool total = name.size() > 6 && name.compare(name.size() - 6, 6, "_total") == 0;
      if (type == "counter" && !total) problems.push_back(where + "counter without _total");
      if (type != "counter" && total) problems.push_back(where + "_total on a " + type);
      if (std::regex_match(name, kBadUnit)) problems.push_back(where + "not a base unit");
      types[name] = type;
      current = name;
      continue;
    }
    if (line.empty() || line[0] == '#') {
      problems.push_back(where + "unexpected line");
      continue;
    }
    auto s = parse_sample_line(line);
    if (!s) {
      problems.push_back(where + "unparseable sample");
      continue;
    }
    if (!std::regex_match(s->name, kName)) problems.push_back(where + "bad metric name");
    for (auto& [k, v] : s->labels) {
      if (!std::regex_match(k, kLabelName)) problems.push_back(where + "bad label name " + k);
    }
    const auto it = types.find(current);
    if (it == types.end()) {
      problems.push_back(where + "sample before any # TYPE");
      continue;
    }
    sampled.insert(current);
    if (it->second != "histogram") {
      if (s->name != current) problems.push_back(where + "sample outside its family");
      continue;
    }
    std::string suffix = s->name.substr(std::min(current.size(), s->name.size()));
    if (s->name.compare(0, current.size(), current) != 0 ||
        (suffix != "_bucket" && suffix != "_sum" && suffix != "_count")) {
      problems.push_back(where + "histogram sample outside its family");
      continue;
    }
    std::string key;
    std::optional<double> le;
    for (auto& [k, v] : s->labels) {
      if (k == "le") {
        le = parse_prometheus_float(v);
        if (!le) problems.push_back(where + "bad le");
      } else {
        key += k + "=" + v + ",";
      }
    }
    auto& series = histograms[{current, key}];
    if (suffix == "_bucket") {
      if (!le) {
        problems.push_back(where + "bucket without le");
        continue;
      }
      if (!series.buckets.empty()) {
        if (*le <= series.buckets.back().first) problems.push_back(where + "le not ascending");
        if (s->value < series.buckets.back().second) problems.push_back(where + "not cumulative");
      }
      series.buckets.emplace_back(*le, s->value);
    } else if (suffix == "_count") {
      series.count = s->value;
    } else {
      series.sum = true;
    }
  }
  for (auto& [key, series] : histograms) {
    const std::string where = key.first + "{" + key.second + "}: ";
    if (series.buckets.empty() || !std::isinf(series.buckets.back().first)) {
      problems.push_back(where + "buckets do not end with le=\"+Inf\"");
    } else if (!series.count || *series.count != series.buckets.back().second) {
      problems.push_back(where + "_count differs from the +Inf bucket");
    }
    if (!series.sum) problems.push_back(where + "no _sum");
  }
  return problems;
}

}  // namespace sp::testing
