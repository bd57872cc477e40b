#include "net/http/static_files.hpp"

#include <array>
#include <cctype>
#include <fstream>
#include <system_error>
#include <vector>

#include <fmt/format.h>

#include "net/http/target.hpp"

namespace sp::http {
namespace fs = std::filesystem;
namespace {

constexpr std::string_view kIndex = "index.html";

Result<StaticFile> not_found() {
  return fail(ErrorKind::kNotFound, "NotFound", "no such resource");
}

bool ends_with_icase(std::string_view s, std::string_view suffix) {
  if (suffix.size() > s.size()) return false;
  for (size_t i = 0; i < suffix.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(s[s.size() - suffix.size() + i])) != suffix[i]) {
      return false;
    }
  }
  return true;
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// Decodes one path segment. Refuses encodings of '.', '/', '\' and NUL outright: a client has no
// honest reason to encode them, and decoding them is how traversal filters are usually bypassed.
bool decode_segment(std::string_view in, std::string& out) {
  out.clear();
  for (size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c == '%') {
      if (i + 2 >= in.size()) return false;
      int hi = hex_value(in[i + 1]);
      int lo = hex_value(in[i + 2]);
      if (hi < 0 || lo < 0) return false;
      c = static_cast<char>(hi * 16 + lo);
      if (c == '.' || c == '/' || c == '\\' || c == '\0') return false;
      i += 2;
    } else if (c == '\\' || c == '\0') {
      return false;
    }
    if (static_cast<unsigned char>(c) < 0x20) return false;
    out.push_back(c);
  }
  return true;
}

// True when `path` is `root` or below it, compared element by element (a string prefix test would
// accept /srv/web-evil for /srv/web).
bool is_within(const fs::path& root, const fs::path& path) {
  auto r = root.begin();
  auto p = path.begin();
  for (; r != root.end(); ++r, ++p) {
    if (r->empty() && std::next(r) == root.end()) break;  // trailing "/" of the root
    if (p == path.end() || *p != *r) return false;
  }
  return true;
}

std::string make_etag(std::uintmax_t size, fs::file_time_type mtime) {
  auto ticks = static_cast<unsigned long long>(mtime.time_since_epoch().count());
  return fmt::format("\"{:x}-{:x}\"", size, ticks);
}

std::string cache_control_for(std::string_view filename) {
  if (filename == kIndex) return "no-cache";
  if (has_content_hash(filename)) return "public, max-age=31536000, immutable";
  return "public, max-age=300";
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  // Weak comparison (RFC 9110 §13.1.2): W/"x" matches "x".
  size_t pos = 0;
  while (pos < if_none_match.size()) {
    size_t comma = if_none_match.find(',', pos);
    std::string_view item = if_none_match.substr(
        pos, comma == std::string_view::npos ? std::string_view::npos : comma - pos);
    while (!item.empty() && (item.front() == ' ' || item.front() == '\t')) item.remove_prefix(1);
    while (!item.empty() && (item.back() == ' ' || item.back() == '\t')) item.remove_suffix(1);
    if (item == "*") return true;
    if (item.substr(0, 2) == "W/") item.remove_prefix(2);
    if (item == etag) return true;
    if (comma == std::string_view::npos) break;
    pos = comma + 1;
  }
  return false;
}

}  // namespace

std::string_view mime_type_for(std::string_view filename) {
  struct Entry {
    std::string_view ext;
    std::string_view type;
  };
  static constexpr std::array<Entry, 19> kTypes{{
      {".html", "text/html; charset=utf-8"},
      {".htm", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".json", "application/json"},
      {".map", "application/json"},
      {".webmanifest", "application/manifest+json"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".jpg", "image/jpeg"},
      {".jpeg", "image/jpeg"},
      {".gif", "image/gif"},
      {".webp", "image/webp"},
      {".ico", "image/x-icon"},
      {".woff2", "font/woff2"},
      {".woff", "font/woff"},
      {".txt", "text/plain; charset=utf-8"},
      {".wasm", "application/wasm"},
  }};
  for (const auto& entry : kTypes) {
    if (ends_with_icase(filename, entry.ext)) return entry.type;
  }
  return "application/octet-stream";
}

bool has_content_hash(std::string_view filename) {
  size_t dot = filename.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  std::string_view stem = filename.substr(0, dot);
  // Tokens separated by '.' or '-'; the first token is the base name, never the hash.
  size_t start = stem.find_first_of(".-");
  while (start != std::string_view::npos) {
    size_t end = stem.find_first_of(".-", start + 1);
    std::string_view token = stem.substr(
        start + 1, end == std::string_view::npos ? std::string_view::npos : end - start - 1);
    bool alnum = token.size() >= 8 && token.size() <= 64;
    bool digit = false, alpha = false;
    for (char c : token) {
      auto u = static_cast<unsigned char>(c);
      alnum = alnum && std::isalnum(u);
      digit = digit || std::isdigit(u);
      alpha = alpha || std::isalpha(u);
    }
    // Both letters and digits: tells "3f9a1c2b" from "20240101" or "component".
    if (alnum && digit && alpha) return true;
    start = end;
  }
  return false;
}

StaticFiles::StaticFiles(fs::path root) {
  std::error_code ec;
  root_ = fs::weakly_canonical(fs::absolute(root, ec), ec);
  if (ec) root_ = root.lexically_normal();
}

Result<StaticFile> StaticFiles::resolve(std::string_view encoded_path) const {
  if (root_.empty() || encoded_path.empty() || encoded_path.front() != '/') return not_found();

  std::vector<std::string> segments;
  std::string_view rest = encoded_path.substr(1);
  std::string decoded;
  while (!rest.empty()) {
    size_t slash = rest.find('/');
    std::string_view raw = rest.substr(0, slash);
    rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
    if (raw.empty()) {
      // Only a trailing slash may leave an empty segment ("/docs/"); "//x" could mean an
      // absolute path once joined.
      if (slash == std::string_view::npos || !rest.empty()) return not_found();
      break;
    }
    if (!decode_segment(raw, decoded)) return not_found();
    // Also refuses dotfiles (.git, .env) and '.' / '..'.
    if (decoded.empty() || decoded.front() == '.') return not_found();
    segments.push_back(decoded);
  }
  if (segments.empty()) segments.emplace_back(kIndex);

  fs::path candidate = root_;
  for (const auto& segment : segments) candidate /= segment;

  std::error_code ec;
  fs::path target = candidate;
  auto status = fs::status(target, ec);
  if (ec || !fs::is_regular_file(status)) {
    // SPA fallback: "/devices/abc" is a console route, "/app.js" is a missing file.
    if (segments.back().find('.') != std::string::npos) return not_found();
    target = root_ / kIndex;
    status = fs::status(target, ec);
    if (ec || !fs::is_regular_file(status)) return not_found();
  }

  fs::path canonical = fs::weakly_canonical(target, ec);
  if (ec || !is_within(root_, canonical)) return not_found();

  StaticFile file;
  file.path = canonical;
  file.size = fs::file_size(canonical, ec);
  if (ec) return not_found();
  auto mtime = fs::last_write_time(canonical, ec);
  if (ec) return not_found();
  // The name the client asked for decides the type; a symlink inside the root keeps its name.
  std::string name = target.filename().string();
  file.content_type = std::string(mime_type_for(name));
  file.etag = make_etag(file.size, mtime);
  file.cache_control = cache_control_for(name);
  return file;
}

Response StaticFiles::serve(const Request& request) const {
  auto file = resolve(encoded_path_of(request.target));
  if (!file) return Response::error(file.error());

  Response response;
  response.set_header("etag", file->etag);
  response.set_header("cache-control", file->cache_control);
  if (auto inm = request.header("if-none-match"); inm && etag_matches(*inm, file->etag)) {
    response.status = 304;
    return response;
  }

  std::ifstream in(file->path, std::ios::binary);
  std::string body(static_cast<size_t>(file->size), '\0');
  if (!in || !in.read(body.data(), static_cast<std::streamsize>(body.size()))) {
    return Response::error(ErrorKind::kNotFound, "NotFound", "no such resource");
  }
  response.status = 200;
  response.body = std::move(body);
  response.set_header("content-type", file->content_type);
  return response;
}

}  // namespace sp::http
