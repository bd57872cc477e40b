#include "text_template.hpp"

#include <cctype>
#include <cstdio>
#include <vector>

namespace sp::cli {
namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

bool is_placeholder_char(char c) {
  return std::isupper(static_cast<unsigned char>(c)) ||
         std::isdigit(static_cast<unsigned char>(c)) || c == '_';
}

}  // namespace

Result<std::string> render_template(std::string_view tmpl,
                                    const std::map<std::string, std::string>& values) {
  std::string out;
  out.reserve(tmpl.size());
  std::size_t i = 0;
  while (i < tmpl.size()) {
    if (tmpl[i] == '@') {
      std::size_t j = i + 1;
      while (j < tmpl.size() && is_placeholder_char(tmpl[j])) ++j;
      if (j < tmpl.size() && tmpl[j] == '@' && j > i + 1) {
        std::string name(tmpl.substr(i + 1, j - i - 1));
        auto it = values.find(name);
        if (it == values.end()) {
          return fail(ErrorKind::kInternal, "TemplateInvalid",
                      "template placeholder @" + name + "@ has no value");
        }
        out += it->second;
        i = j + 1;
        continue;
      }
    }
    out += tmpl[i++];
  }
  return out;
}

bool set_toml_value(std::string& toml, std::string_view section, std::string_view key,
                    std::string_view value_literal) {
  std::string current;
  std::size_t pos = 0;
  while (pos < toml.size()) {
    std::size_t end = toml.find('\n', pos);
    if (end == std::string::npos) end = toml.size();
    std::string_view line(toml.data() + pos, end - pos);
    std::string_view t = trim(line);
    if (t.starts_with("[") && !t.starts_with("[[")) {
      auto close = t.find(']');
      current = close == std::string_view::npos ? "" : std::string(trim(t.substr(1, close - 1)));
    } else if (current == section && !t.starts_with("#")) {
      auto eq = line.find('=');
      if (eq != std::string_view::npos && trim(line.substr(0, eq)) == key) {
        // Value ends at the first '#' outside a string: enough for the scalars we set.
        std::size_t value_start = eq + 1;
        std::size_t comment = std::string_view::npos;
        bool in_str = false;
        for (std::size_t k = value_start; k < line.size(); ++k) {
          if (line[k] == '"' && (k == 0 || line[k - 1] != '\\')) in_str = !in_str;
          if (line[k] == '#' && !in_str) {
            comment = k;
            break;
          }
        }
        std::string replacement(line.substr(0, value_start));
        replacement += " ";
        replacement += value_literal;
        if (comment != std::string_view::npos) {
          // Keep the comment aligned where it was when the new value fits.
          std::size_t used = replacement.size();
          replacement += used + 1 < comment ? std::string(comment - used, ' ') : std::string(" ");
          replacement += line.substr(comment);
        }
        toml.replace(pos, end - pos, replacement);
        return true;
      }
    }
    pos = end + 1;
  }
  return false;
}

// Non-ASCII characters are written as \u/\U escapes: the daemon refuses some raw non-ASCII code
// points in its config file (toml++ 3.3 mishandles them, see core/config.cpp), and an install
// directory such as /home/jürgen/sp must still give a config that loads.
std::string toml_string(std::string_view s) {
  std::string out = "\"";
  char buf[16];
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    const auto b = static_cast<unsigned char>(c);
    switch (c) {
      case '"':
        out += "\\\"";
        continue;
      case '\\':
        out += "\\\\";
        continue;
      case '\n':
        out += "\\n";
        continue;
      case '\t':
        out += "\\t";
        continue;
      default:
        break;
    }
    if (b < 0x20 || b == 0x7F) {
      std::snprintf(buf, sizeof buf, "\\u%04X", static_cast<unsigned>(b));
      out += buf;
      continue;
    }
    const std::size_t len = b < 0x80           ? 1
                            : (b >> 5) == 0x6  ? 2
                            : (b >> 4) == 0xE  ? 3
                            : (b >> 3) == 0x1E ? 4
                                               : 0;
    bool valid = len > 1 && i + len <= s.size();
    char32_t cp = valid ? (b & (0x7F >> len)) : b;
    for (std::size_t k = 1; valid && k < len; ++k) {
      const auto cont = static_cast<unsigned char>(s[i + k]);
      valid = (cont & 0xC0) == 0x80;
      cp = (cp << 6) | (cont & 0x3F);
    }
    valid = valid && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF);
    if (!valid) {
      out += c;  // ASCII, or bytes that are not UTF-8 (which TOML cannot hold; the parse says so)
      continue;
    }
    std::snprintf(buf, sizeof buf, cp <= 0xFFFF ? "\\u%04X" : "\\U%08X", static_cast<unsigned>(cp));
    out += buf;
    i += len - 1;
  }
  out += "\"";
  return out;
}

}  // namespace sp::cli
