// The error catalogue (smartproduct/http/errors.hpp): one status per name, the store's failures
// never reach a client in their own words, and the OpenAPI document lists the same catalogue.

#include "smartproduct/http/errors.hpp"

#include <gtest/gtest.h>

#include <set>

#include <nlohmann/json.hpp>

#include "smartproduct/api/openapi.hpp"
#include "smartproduct/http/types.hpp"

namespace sp::errors {
namespace {

using nlohmann::json;

TEST(ErrorCatalogue, NamesAreUniqueAndStatusesAreErrors) {
  std::set<std::string_view> names;
  for (const Code& code : kCatalogue) {
    EXPECT_TRUE(names.insert(code.name).second) << code.name;
    EXPECT_GE(code.status(), 400) << code.name;
    EXPECT_FALSE(code.message.empty()) << code.name;
    EXPECT_EQ(find(code.name), &code) << code.name;
  }
  EXPECT_EQ(find("NoSuchErrorName"), nullptr);
}

TEST(ErrorCatalogue, TheInconsistentNamesHaveOneStatus) {
  EXPECT_EQ(kAccountDisabled.status(), 401);
  EXPECT_EQ(kInvalidLimit.status(), 422);
  EXPECT_EQ(kInvalidCursor.status(), 400);
  static_assert(kDeviceNotFoundFailure.status() == 404);
}

TEST(ErrorCatalogue, FailUsesTheDefaultMessageUnlessGivenOne) {
  auto plain = fail(kMissingDevice);
  EXPECT_EQ(plain.value().kind, ErrorKind::kNotFound);
  EXPECT_EQ(plain.value().name, "MissingDevice");
  EXPECT_EQ(plain.value().message, "No such device.");
  auto told = fail(kMissingDevice, "The device \"x\" does not exist.", "cause");
  EXPECT_EQ(told.value().message, "The device \"x\" does not exist.");
  EXPECT_EQ(told.value().detail, "cause");
}

TEST(ErrorResponse, TheCatalogueDecidesTheStatusOfAName) {
  // A call site that picked another kind for a catalogue name still answers the one status.
  auto r = http::Response::error(Error{ErrorKind::kInternal, "InvalidLimit", "bad limit", ""});
  EXPECT_EQ(r.status, 422);
  EXPECT_EQ(json::parse(r.body),
            (json{{"code", 422}, {"error", "InvalidLimit"}, {"message", "bad limit"}}));
  auto c = http::Response::error(kCatalogEntryNotFound);
  EXPECT_EQ(c.status, 404);
  EXPECT_EQ(json::parse(c.body)["message"], "No such catalog entry.");
}

TEST(ErrorResponse, StoreFailuresBecomeStoreUnavailableOrInternalError) {
  const Error busy{ErrorKind::kUnavailable, "DatabaseBusy", "The database is busy.",
                   "list devices: database is locked (code 5)"};
  auto mapped = from_store(busy);
  EXPECT_EQ(mapped.name, "StoreUnavailable");
  EXPECT_EQ(mapped.kind, ErrorKind::kUnavailable);
  EXPECT_NE(mapped.detail.find("database is locked"), std::string::npos) << mapped.detail;

  auto r = http::Response::error(busy);
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(json::parse(r.body)["error"], "StoreUnavailable");

  const Error broken{ErrorKind::kInternal, "DatabaseError", "A storage error occurred.",
                     "disk I/O error (code 10) [/data/main.db]"};
  auto internal = http::Response::error(broken);
  EXPECT_EQ(internal.status, 500);
  const auto body = json::parse(internal.body);
  EXPECT_EQ(body["error"], "InternalError");
  EXPECT_EQ(internal.body.find("main.db"), std::string::npos) << internal.body;

  auto typed = store::fail(store::Failure::kCorrupt, "a stored device record is invalid", "x");
  EXPECT_EQ(from_store(typed.value()).name, "InternalError");
  auto gone = store::fail(store::Failure::kNotFound, "the registration does not exist");
  EXPECT_EQ(http::Response::error(gone.value()).status, 500);  // a service must map it

  // Catalogue errors pass through untouched.
  EXPECT_EQ(from_store(kMissingDevice.error()).name, "MissingDevice");
}

TEST(ErrorCatalogue, TheOpenApiDocumentListsIt) {
  const auto doc = json::parse(api::openapi_document());
  ASSERT_TRUE(doc.contains("x-error-catalogue"));
  const auto& listed = doc["x-error-catalogue"];
  ASSERT_EQ(listed.size(), std::size(kCatalogue));
  std::size_t i = 0;
  for (const Code& code : kCatalogue) {
    EXPECT_EQ(listed[i]["name"], code.name);
    EXPECT_EQ(listed[i]["status"], code.status()) << code.name;
    EXPECT_EQ(listed[i]["message"], code.message) << code.name;
    ++i;
  }
  const auto& names = doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"];
  ASSERT_EQ(names.size(), std::size(kCatalogue));
}

}  // namespace
}  // namespace sp::errors
