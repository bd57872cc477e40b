// The paging helper (smartproduct/http/paging.hpp): one limit rule, opaque cursors, the seed's
// "null" cursor and the {Items, Count, LastEvaluatedKey?} shape.

#include "smartproduct/http/paging.hpp"

#include <gtest/gtest.h>

namespace sp::http {
namespace {

using nlohmann::json;

std::optional<std::int64_t> id_key(const json& key) {
  const auto it = key.find("r");
  if (it == key.end() || !it->is_number_integer()) return std::nullopt;
  return it->get<std::int64_t>();
}

TEST(PageLimit, OneDefaultAndOneMaximum) {
  Request request;
  EXPECT_EQ(page_limit(request).value(), kDefaultPageLimit);
  EXPECT_EQ(kDefaultPageLimit, 20);
  EXPECT_EQ(kMaxPageLimit, 100);
  for (auto [text, want] : {std::pair{"1", 1}, {"100", 100}}) {
    request.query["limit"] = text;
    auto r = page_limit(request);
    ASSERT_TRUE(r) << text;
    EXPECT_EQ(*r, want);
  }
  // `limit=` with nothing after it is a mistake, not "the default".
  for (const char* bad : {"", "0", "101", "-1", "10x", "x", "1.5", "99999999999"}) {
    request.query["limit"] = bad;
    auto r = page_limit(request);
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().kind, ErrorKind::kUnprocessable);
    EXPECT_EQ(r.error().name, "InvalidLimit");
    EXPECT_EQ(r.error().message, "limit must be an integer from 1 to 100.");
  }
}

TEST(Cursor, RoundTripsAnyObjectKeyAsOpaqueBase64url) {
  const json key{{"d", "SN-1"}, {"m", "25HNB9/2"}};
  const std::string cursor = encode_cursor(key);
  EXPECT_EQ(
      cursor.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"),
      std::string::npos)
      << cursor;
  EXPECT_EQ(decode_cursor(cursor), key);
  // The encoding of the lists' keys before the helper existed: cursors a client holds still work.
  EXPECT_EQ(encode_cursor(json{{"r", 42}}), "eyJyIjo0Mn0");
}

TEST(Cursor, GarbageIsRefused) {
  for (const char* bad : {"garbage!", "e30=", "bnVsbA", "WzFd", "Ig", "not a cursor", "%%%"}) {
    EXPECT_FALSE(decode_cursor(bad)) << bad;  // bnVsbA = null, WzFd = [1], Ig = invalid JSON
  }
}

TEST(PageCursor, NullOrEmptyMeansTheFirstPage) {
  Request request;
  auto absent = page_cursor(request);
  ASSERT_TRUE(absent);
  EXPECT_FALSE(*absent);
  for (const char* first : {"", "null"}) {
    request.query["lastevalkey"] = first;
    auto r = page_cursor(request);
    ASSERT_TRUE(r) << first;
    EXPECT_FALSE(*r) << first;
  }
  request.query["lastevalkey"] = encode_cursor(json{{"r", 7}});
  auto r = page_cursor(request);
  ASSERT_TRUE(r);
  EXPECT_EQ(**r, (json{{"r", 7}}));
}

TEST(PageCursor, GarbageIs400InvalidCursor) {
  Request request;
  request.query["lastevalkey"] = "garbage!";
  auto r = page_cursor(request);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::kBadRequest);
  EXPECT_EQ(r.error().name, "InvalidCursor");
  EXPECT_EQ(r.error().message, "lastevalkey is not a valid cursor.");
}

TEST(ParsePage, TypedKeyAndItsRefusal) {
  Request request;
  auto first = parse_page<std::int64_t>(request, id_key);
  ASSERT_TRUE(first);
  EXPECT_EQ(first->limit, 20);
  EXPECT_FALSE(first->after);

  request.query = {{"limit", "5"}, {"lastevalkey", encode_cursor(json{{"r", 9}})}};
  auto next = parse_page<std::int64_t>(request, id_key);
  ASSERT_TRUE(next);
  EXPECT_EQ(next->limit, 5);
  EXPECT_EQ(next->after, 9);

  // A well-formed cursor of another list is not a key of this one.
  request.query["lastevalkey"] = encode_cursor(json{{"d", "x"}, {"m", "y"}});
  auto foreign = parse_page<std::int64_t>(request, id_key);
  ASSERT_FALSE(foreign);
  EXPECT_EQ(foreign.error().name, "InvalidCursor");

  request.query = {{"limit", "0"}};
  auto bad_limit = parse_page<std::int64_t>(request, id_key);
  ASSERT_FALSE(bad_limit);
  EXPECT_EQ(bad_limit.error().name, "InvalidLimit");
}

TEST(PageJson, LastEvaluatedKeyOnlyWhenMoreExists) {
  const json last = page_json(json::array({1, 2}), std::nullopt);
  EXPECT_EQ(last, (json{{"Items", {1, 2}}, {"Count", 2}}));
  const json more = page_json(json::array({1}), json{{"r", 1}});
  EXPECT_EQ(more["Count"], 1);
  ASSERT_TRUE(more.contains("LastEvaluatedKey"));
  EXPECT_EQ(decode_cursor(more["LastEvaluatedKey"].get<std::string>()), (json{{"r", 1}}));
  EXPECT_EQ(page_json(json::array(), std::nullopt), (json{{"Items", json::array()}, {"Count", 0}}));
}

}  // namespace
}  // namespace sp::http
