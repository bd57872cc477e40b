#include <gtest/gtest.h>

#include "net/http/static_files.hpp"
#include "temp_dir.hpp"

namespace sp::http {
namespace {

namespace fs = std::filesystem;
using testing::TempDir;

class StaticFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = tmp_.path() / "web";
    tmp_.write("web/index.html", "<!doctype html><title>console</title>");
    tmp_.write("web/app.3f9a1c2b.js", "console.log(1)");
    tmp_.write("web/style.css", "body{}");
    tmp_.write("web/sub/data.json", "{}");
    tmp_.write("web/.env", "SECRET=1");
    tmp_.write("web-evil/x.txt", "sibling with a common prefix");
    tmp_.write("secret.txt", "outside the root");
    fs::create_symlink(tmp_.path() / "secret.txt", root_ / "escape.txt");
    fs::create_symlink(tmp_.path(), root_ / "up");
    fs::create_symlink(root_ / "style.css", root_ / "alias.css");
  }

  Result<StaticFile> resolve(std::string_view path) { return StaticFiles(root_).resolve(path); }

  TempDir tmp_;
  fs::path root_;
};

TEST_F(StaticFilesTest, ServesFilesInsideRoot) {
  auto file = resolve("/style.css");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->path, fs::canonical(root_ / "style.css"));
  EXPECT_EQ(file->content_type, "text/css; charset=utf-8");
  EXPECT_EQ(file->size, 6u);
  EXPECT_EQ(resolve("/sub/data.json")->content_type, "application/json");
  EXPECT_TRUE(resolve("/alias.css").has_value());  // a symlink that stays inside is fine
}

TEST_F(StaticFilesTest, RootIsIndex) {
  auto file = resolve("/");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->path.filename(), "index.html");
  EXPECT_EQ(file->cache_control, "no-cache");
  EXPECT_EQ(file->content_type, "text/html; charset=utf-8");
}

TEST_F(StaticFilesTest, RejectsEveryTraversal) {
  for (auto path : {
           "/../secret.txt",
           "/sub/../../secret.txt",
           "/sub/../style.css",  // even a harmless '..' is refused
           "/./style.css",
           "/%2e%2e/secret.txt",
           "/%2E%2E/secret.txt",
           "/.%2e/secret.txt",
           "/sub%2f..%2f..%2fsecret.txt",
           "/sub%2F..",
           "/..%5csecret.txt",
           "/sub\\..\\..\\secret.txt",
           "/style.css%00.png",
           "//etc/passwd",
           "/sub//data.json",
           "/%2fetc/passwd",
           "/escape.txt",     // symlink out of the root
           "/up/secret.txt",  // directory symlink out of the root
           "/up/web-evil/x.txt",
           "/.env",  // dotfiles
           "/%zz",   // broken escape
           "/%2",
           "relative.css",
           "",
       }) {
    EXPECT_FALSE(resolve(path).has_value()) << path;
  }
  std::string with_nul("/style.css\0", 11);
  EXPECT_FALSE(resolve(with_nul).has_value());
  auto error = resolve("/../secret.txt").error();
  EXPECT_EQ(error.kind, ErrorKind::kNotFound);
  EXPECT_EQ(error.name, "NotFound");
}

TEST_F(StaticFilesTest, SpaFallbackOnlyForExtensionlessPaths) {
  auto route = resolve("/devices/abc");
  ASSERT_TRUE(route.has_value());
  EXPECT_EQ(route->path.filename(), "index.html");
  EXPECT_EQ(route->cache_control, "no-cache");
  EXPECT_TRUE(resolve("/sub").has_value());  // a directory is not a file: SPA route
  EXPECT_FALSE(resolve("/missing.js").has_value());
  EXPECT_FALSE(resolve("/sub/missing.json").has_value());
}

TEST_F(StaticFilesTest, NoFallbackWithoutIndex) {
  fs::remove(root_ / "index.html");
  EXPECT_FALSE(resolve("/devices/abc").has_value());
  EXPECT_FALSE(resolve("/").has_value());
}

TEST_F(StaticFilesTest, MissingRootServesNothing) {
  EXPECT_FALSE(StaticFiles(tmp_.path() / "nope").resolve("/index.html").has_value());
}

TEST_F(StaticFilesTest, CacheControlByName) {
  EXPECT_EQ(resolve("/app.3f9a1c2b.js")->cache_control, "public, max-age=31536000, immutable");
  EXPECT_EQ(resolve("/style.css")->cache_control, "public, max-age=300");
}

TEST_F(StaticFilesTest, PercentEncodedNamesDecode) {
  tmp_.write("web/my file.txt", "x");
  auto file = resolve("/my%20file.txt");
  ASSERT_TRUE(file.has_value());
  EXPECT_EQ(file->content_type, "text/plain; charset=utf-8");
}

TEST_F(StaticFilesTest, ServeWithEtagAnd304) {
  StaticFiles files(root_);
  Request request;
  request.method = "GET";
  request.target = "/style.css?v=1";
  auto first = files.serve(request);
  ASSERT_EQ(first.status, 200);
  EXPECT_EQ(first.body, "body{}");
  std::string etag;
  for (auto& [k, v] : first.headers) {
    if (k == "etag") etag = v;
  }
  ASSERT_FALSE(etag.empty());
  EXPECT_EQ(etag.front(), '"');
  EXPECT_EQ(etag.back(), '"');

  request.headers = {{"if-none-match", "\"other\", " + etag}};
  auto cached = files.serve(request);
  EXPECT_EQ(cached.status, 304);
  EXPECT_TRUE(cached.body.empty());

  request.headers = {{"if-none-match", "W/" + etag}};
  EXPECT_EQ(files.serve(request).status, 304);

  request.headers = {{"if-none-match", "\"stale\""}};
  EXPECT_EQ(files.serve(request).status, 200);

  // A changed file gets a new ETag.
  tmp_.write("web/style.css", "body{color:red}");
  request.headers = {{"if-none-match", etag}};
  EXPECT_EQ(files.serve(request).status, 200);
}

TEST_F(StaticFilesTest, ServeTraversalIsJson404) {
  StaticFiles files(root_);
  Request request;
  request.method = "GET";
  request.target = "/%2e%2e/secret.txt";
  auto response = files.serve(request);
  EXPECT_EQ(response.status, 404);
  EXPECT_EQ(nlohmann::json::parse(response.body).at("error"), "NotFound");
  EXPECT_EQ(response.body.find("outside"), std::string::npos);
}

TEST(MimeTypes, KnownExtensions) {
  EXPECT_EQ(mime_type_for("a.html"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type_for("a.js"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type_for("a.mjs"), "text/javascript; charset=utf-8");
  EXPECT_EQ(mime_type_for("a.css"), "text/css; charset=utf-8");
  EXPECT_EQ(mime_type_for("a.json"), "application/json");
  EXPECT_EQ(mime_type_for("a.svg"), "image/svg+xml");
  EXPECT_EQ(mime_type_for("a.png"), "image/png");
  EXPECT_EQ(mime_type_for("favicon.ico"), "image/x-icon");
  EXPECT_EQ(mime_type_for("f.woff2"), "font/woff2");
  EXPECT_EQ(mime_type_for("app.js.map"), "application/json");
  EXPECT_EQ(mime_type_for("robots.txt"), "text/plain; charset=utf-8");
  EXPECT_EQ(mime_type_for("site.webmanifest"), "application/manifest+json");
  EXPECT_EQ(mime_type_for("INDEX.HTML"), "text/html; charset=utf-8");
  EXPECT_EQ(mime_type_for("archive.tar"), "application/octet-stream");
  EXPECT_EQ(mime_type_for("noext"), "application/octet-stream");
}

TEST(ContentHash, DetectsHashedNames) {
  EXPECT_TRUE(has_content_hash("app.3f9a1c2b.js"));
  EXPECT_TRUE(has_content_hash("chunk-5KOJ6VGK.js"));
  EXPECT_TRUE(has_content_hash("app.3f9a1c2b.js.map"));
  EXPECT_FALSE(has_content_hash("index.html"));
  EXPECT_FALSE(has_content_hash("my-component.js"));
  EXPECT_FALSE(has_content_hash("report-20240101.txt"));
  EXPECT_FALSE(has_content_hash("jquery-3.7.1.min.js"));
  EXPECT_FALSE(has_content_hash("3f9a1c2b.js"));  // the base name itself is not a hash marker
}

}  // namespace
}  // namespace sp::http
