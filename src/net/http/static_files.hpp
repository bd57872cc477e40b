#pragma once
// The console's static files, served from one root directory (no Beast here).

#include <cstdint>
#include <filesystem>
#include <string>
#include <string_view>

#include "smartproduct/http/types.hpp"

namespace sp::http {

/// A file chosen to answer a request, with the headers that describe it.
struct StaticFile {
  std::filesystem::path path;  // canonical, inside the root
  std::uintmax_t size = 0;
  std::string content_type;
  std::string etag;  // strong, quoted
  std::string cache_control;
};

/// MIME type for a file name by extension ("application/octet-stream" when unknown).
std::string_view mime_type_for(std::string_view filename);

/// True when a file name carries a content hash (app.3f9a1c2b.js, chunk-5KOJ6VGK.js): such files
/// never change and may be cached for a year.
bool has_content_hash(std::string_view filename);

/// Resolves request paths to files under `root` and never outside it.
class StaticFiles {
 public:
  /// `root` need not exist yet; every request is answered 404 until it does.
  explicit StaticFiles(std::filesystem::path root);

  /// Maps an *encoded* request path ("/assets/app.js", no query) to a file. Rejected with 404
  /// NotFound: '..' or '.'-prefixed segments, encoded dots/slashes/backslashes/NUL, backslashes,
  /// empty segments, and anything whose canonical target (after symlinks) leaves the root. A path
  /// whose last segment has no extension and names no file falls back to index.html (SPA routes).
  Result<StaticFile> resolve(std::string_view encoded_path) const;

  /// Answers a GET or HEAD: 200 with the body (the server drops it for HEAD), 304 when
  /// If-None-Match matches the ETag, or a JSON 404.
  Response serve(const Request& request) const;

  const std::filesystem::path& root() const { return root_; }

 private:
  std::filesystem::path root_;  // weakly canonical
};

}  // namespace sp::http
