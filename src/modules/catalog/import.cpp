#include "smartproduct/catalog/import.hpp"

#include <array>
#include <optional>
#include <unordered_map>

namespace sp::catalog {
namespace {

using nlohmann::json;

struct CsvRecord {
  std::vector<std::string> fields;
  std::size_t line = 0;
  std::string error;
};

// RFC 4180 reader that keeps going after a malformed record: it reports the error and resumes at
// the next line, so one stray quote costs one row, not the rest of the file.
class CsvReader {
 public:
  explicit CsvReader(std::string_view text) : s_(text) {}

  bool next(CsvRecord& rec) {
    if (pos_ >= s_.size()) return false;
    rec.fields.clear();
    rec.error.clear();
    rec.line = line_;
    std::string field;
    while (true) {
      field.clear();
      if (pos_ < s_.size() && s_[pos_] == '"') {
        ++pos_;
        bool closed = false;
        while (pos_ < s_.size()) {
          const char c = s_[pos_];
          if (c == '"') {
            if (pos_ + 1 < s_.size() && s_[pos_ + 1] == '"') {
              field += '"';
              pos_ += 2;
              continue;
            }
            ++pos_;
            closed = true;
            break;
          }
          if (c == '\n') ++line_;
          field += c;
          ++pos_;
        }
        if (!closed) {
          rec.error = "unterminated quoted field";
          return true;
        }
        if (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '\n' && s_[pos_] != '\r') {
          rec.error = "unexpected character after a closing quote";
          skip_line();
          return true;
        }
      } else {
        while (pos_ < s_.size() && s_[pos_] != ',' && s_[pos_] != '\n' &&
               !(s_[pos_] == '\r' && (pos_ + 1 >= s_.size() || s_[pos_ + 1] == '\n'))) {
          if (s_[pos_] == '"') {
            rec.error = "quote inside an unquoted field (quote the whole field and double it)";
            skip_line();
            return true;
          }
          field += s_[pos_++];
        }
      }
      rec.fields.push_back(field);
      if (pos_ >= s_.size()) return true;
      if (s_[pos_] == ',') {
        ++pos_;
        continue;
      }
      if (s_[pos_] == '\r') ++pos_;
      if (pos_ < s_.size() && s_[pos_] == '\n') {
        ++pos_;
        ++line_;
      }
      return true;
    }
  }

 private:
  void skip_line() {
    while (pos_ < s_.size() && s_[pos_] != '\n') ++pos_;
    if (pos_ < s_.size()) {
      ++pos_;
      ++line_;
    }
  }

  std::string_view s_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
};

std::string_view trim(std::string_view v) {
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t' || v.back() == '\r'))
    v.remove_suffix(1);
  return v;
}

// Accepts valid entries, remembering keys so a repeated (deviceId, modelNumber) is reported.
class Collector {
 public:
  explicit Collector(ParsedImport& out) : out_(out) {}

  void bad(std::size_t row, std::size_t line, std::string message) {
    out_.errors.push_back(RowError{row, line, std::move(message)});
  }

  void add(std::size_t row, std::size_t line, NewEntry entry) {
    if (auto r = validate_entry(entry); !r) return bad(row, line, r.error().message);
    std::string key = entry.device_id + '\n' + entry.model_number;
    auto [it, fresh] = seen_.emplace(std::move(key), row);
    if (!fresh) {
      return bad(
          row, line,
          "duplicate of row " + std::to_string(it->second) + " (same deviceId and modelNumber)");
    }
    out_.entries.push_back(std::move(entry));
  }

 private:
  ParsedImport& out_;
  std::unordered_map<std::string, std::size_t> seen_;
};

void parse_csv(std::string_view text, ParsedImport& out) {
  CsvReader reader(text);
  CsvRecord rec;
  // Skip blank lines before the header.
  bool have_header = false;
  while (reader.next(rec)) {
    if (rec.error.empty() && rec.fields.size() == 1 && trim(rec.fields[0]).empty()) continue;
    have_header = true;
    break;
  }
  if (!have_header) {
    out.fatal =
        "the file is empty (expected the header deviceId,modelNumber,details[,claimCode][,caId])";
    return;
  }
  if (!rec.error.empty()) {
    out.fatal = "line 1: bad CSV header: " + rec.error;
    return;
  }
  constexpr std::array<std::string_view, 5> kColumns = {"deviceId", "modelNumber", "details",
                                                        "claimCode", "caId"};
  std::array<int, 5> index = {-1, -1, -1, -1, -1};
  for (std::size_t i = 0; i < rec.fields.size(); ++i) {
    const auto name = trim(rec.fields[i]);
    std::size_t k = 0;
    while (k < kColumns.size() && kColumns[k] != name) ++k;
    if (k == kColumns.size() || index[k] != -1) {
      out.fatal =
          "bad CSV header: column \"" + std::string(name) +
          "\" is unknown or repeated (expected deviceId,modelNumber,details[,claimCode][,caId])";
      return;
    }
    index[k] = static_cast<int>(i);
  }
  if (index[0] < 0 || index[1] < 0 || index[2] < 0) {
    out.fatal = "bad CSV header: deviceId, modelNumber and details are required";
    return;
  }
  const std::size_t width = rec.fields.size();
  Collector collect(out);
  while (reader.next(rec)) {
    if (rec.error.empty() && rec.fields.size() == 1 && rec.fields[0].empty()) continue;
    const std::size_t row = ++out.rows;
    if (!rec.error.empty()) {
      collect.bad(row, rec.line, rec.error);
      continue;
    }
    if (rec.fields.size() != width) {
      collect.bad(row, rec.line,
                  "expected " + std::to_string(width) + " fields, found " +
                      std::to_string(rec.fields.size()));
      continue;
    }
    NewEntry e;
    e.device_id = rec.fields[index[0]];
    e.model_number = rec.fields[index[1]];
    const std::string_view details = trim(rec.fields[index[2]]);
    if (!details.empty()) {
      e.details = json::parse(details, nullptr, false);
      if (e.details.is_discarded()) {
        collect.bad(row, rec.line, "details is not valid JSON");
        continue;
      }
    }
    if (index[3] >= 0 && !rec.fields[index[3]].empty()) e.claim_code = rec.fields[index[3]];
    if (index[4] >= 0 && !trim(rec.fields[index[4]]).empty()) {
      e.ca_id = std::string(trim(rec.fields[index[4]]));
    }
    collect.add(row, rec.line, std::move(e));
  }
}

void parse_json_lines(std::string_view text, ParsedImport& out) {
  Collector collect(out);
  std::size_t line = 0;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    std::string_view l = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    ++line;
    l = trim(l);
    if (l.empty()) continue;
    const std::size_t row = ++out.rows;
    const auto j = json::parse(l, nullptr, false);
    if (j.is_discarded()) {
      collect.bad(row, line, "not valid JSON");
      continue;
    }
    auto e = entry_from_json(j);
    if (!e) {
      collect.bad(row, line, e.error().message);
      continue;
    }
    collect.add(row, line, std::move(*e));
  }
}

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

}  // namespace

ImportFormat detect_format(std::string_view file_name, std::string_view content) {
  if (ends_with(file_name, ".csv")) return ImportFormat::kCsv;
  if (ends_with(file_name, ".jsonl") || ends_with(file_name, ".ndjson") ||
      ends_with(file_name, ".json")) {
    return ImportFormat::kJsonLines;
  }
  if (content.starts_with("\xEF\xBB\xBF")) content.remove_prefix(3);
  const auto first = content.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && content[first] == '{' ? ImportFormat::kJsonLines
                                                                  : ImportFormat::kCsv;
}

ParsedImport parse_import(std::string_view content, ImportFormat format) {
  ParsedImport out;
  if (content.starts_with("\xEF\xBB\xBF")) content.remove_prefix(3);  // spreadsheet exports
  if (format == ImportFormat::kCsv) {
    parse_csv(content, out);
  } else {
    parse_json_lines(content, out);
  }
  return out;
}

}  // namespace sp::catalog
