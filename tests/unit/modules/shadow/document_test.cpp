// The shadow's pure functions: request parsing with AWS's error codes and messages, merge rules,
// metadata, delta, limits, and the published payloads.

#include "modules/shadow/document.hpp"

#include <string>

#include <gtest/gtest.h>

namespace sp::shadow {
namespace {

using nlohmann::json;

constexpr std::int64_t kT0 = 1700000000;
constexpr std::int64_t kT1 = 1700000100;

json ts(std::int64_t t) { return json{{"timestamp", t}}; }

// ---- merge rules ---------------------------------------------------------------------------

struct MergeCase {
  const char* name;
  const char* before;
  const char* patch;
  const char* after;
};

class MergeRules : public ::testing::TestWithParam<MergeCase> {};

TEST_P(MergeRules, MergesAsAws) {
  const auto& c = GetParam();
  json target = json::parse(c.before);
  merge_state(target, json::parse(c.patch));
  EXPECT_EQ(target, json::parse(c.after)) << c.name;
}

INSTANTIATE_TEST_SUITE_P(
    Table, MergeRules,
    ::testing::Values(
        MergeCase{"adds a key", R"({})", R"({"a":1})", R"({"a":1})"},
        MergeCase{"replaces a scalar", R"({"a":1,"b":2})", R"({"a":3})", R"({"a":3,"b":2})"},
        MergeCase{"merges nested objects", R"({"o":{"x":1,"y":2}})", R"({"o":{"y":3,"z":4}})",
                  R"({"o":{"x":1,"y":3,"z":4}})"},
        MergeCase{"null removes a key", R"({"a":1,"b":2})", R"({"a":null})", R"({"b":2})"},
        MergeCase{"null removes a nested key", R"({"o":{"x":1,"y":2}})", R"({"o":{"x":null}})",
                  R"({"o":{"y":2}})"},
        MergeCase{"null on a missing key is a no-op", R"({"a":1})", R"({"zz":null})", R"({"a":1})"},
        MergeCase{"arrays replace whole", R"({"l":[1,2,3]})", R"({"l":[9]})", R"({"l":[9]})"},
        MergeCase{"array replaces an object", R"({"o":{"x":1}})", R"({"o":[1]})", R"({"o":[1]})"},
        MergeCase{"object replaces a scalar", R"({"a":1})", R"({"a":{"x":1}})", R"({"a":{"x":1}})"},
        MergeCase{"scalar replaces an object", R"({"a":{"x":1}})", R"({"a":"s"})", R"({"a":"s"})"},
        MergeCase{"removing the last nested key keeps the empty object", R"({"o":{"x":1}})",
                  R"({"o":{"x":null}})", R"({"o":{}})"},
        MergeCase{"types are kept", R"({})", R"({"b":true,"n":1.5,"s":"x","i":-3})",
                  R"({"b":true,"n":1.5,"s":"x","i":-3})"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

// ---- metadata ----------------------------------------------------------------------------------

TEST(Metadata, LeavesObjectsAndArrays) {
  json v = json::parse(R"({"a":1,"o":{"x":"s"},"l":[1,{"k":2}],"n":null})");
  EXPECT_EQ(metadata_of(v, kT0), json::parse(R"({"a":{"timestamp":1700000000},
      "o":{"x":{"timestamp":1700000000}},
      "l":[{"timestamp":1700000000},{"k":{"timestamp":1700000000}}],
      "n":{"timestamp":1700000000}})"));
}

TEST(Metadata, MergeStampsOnlyTouchedLeavesAndDropsRemovedOnes) {
  json meta = metadata_of(json::parse(R"({"a":1,"b":2,"o":{"x":1,"y":2}})"), kT0);
  merge_metadata(meta, json::parse(R"({"a":5,"b":null,"o":{"y":3}})"), kT1);
  EXPECT_EQ(meta["a"], ts(kT1));
  EXPECT_FALSE(meta.contains("b"));
  EXPECT_EQ(meta["o"]["x"], ts(kT0));
  EXPECT_EQ(meta["o"]["y"], ts(kT1));
}

TEST(Metadata, ScalarBecomingObjectLosesItsLeafTimestamp) {
  json meta = metadata_of(json::parse(R"({"a":1})"), kT0);
  merge_metadata(meta, json::parse(R"({"a":{"x":1}})"), kT1);
  EXPECT_EQ(meta["a"], json::parse(R"({"x":{"timestamp":1700000100}})"));
}

TEST(Metadata, StateKeyNamedTimestampIsNotMistakenForALeaf) {
  json meta = metadata_of(json::parse(R"({"o":{"timestamp":5}})"), kT0);
  merge_metadata(meta, json::parse(R"({"o":{"other":1}})"), kT1);
  EXPECT_EQ(meta["o"]["timestamp"], ts(kT0));
  EXPECT_EQ(meta["o"]["other"], ts(kT1));
}

// ---- delta -------------------------------------------------------------------------------------

struct DeltaCase {
  const char* desired;
  const char* reported;
  const char* delta;  // nullptr: none
};

class Delta : public ::testing::TestWithParam<DeltaCase> {};

TEST_P(Delta, OnlyDifferingLeaves) {
  const auto& c = GetParam();
  auto d = compute_delta(json::parse(c.desired), json::parse(c.reported));
  if (c.delta == nullptr) {
    EXPECT_FALSE(d.has_value()) << d->dump();
  } else {
    ASSERT_TRUE(d.has_value());
    EXPECT_EQ(*d, json::parse(c.delta));
  }
}

INSTANTIATE_TEST_SUITE_P(
    Table, Delta,
    ::testing::Values(DeltaCase{R"({})", R"({"a":1})", nullptr},
                      DeltaCase{R"({"a":1})", R"({"a":1})", nullptr},
                      DeltaCase{R"({"a":72})", R"({"a":72.0})", nullptr},
                      DeltaCase{R"({"a":1})", R"({})", R"({"a":1})"},
                      DeltaCase{R"({"a":1,"b":2})", R"({"a":1,"b":3})", R"({"b":2})"},
                      DeltaCase{R"({"o":{"x":1,"y":2}})", R"({"o":{"x":1,"y":0}})",
                                R"({"o":{"y":2}})"},
                      DeltaCase{R"({"o":{"x":1}})", R"({"o":5})", R"({"o":{"x":1}})"},
                      DeltaCase{R"({"l":[1,2]})", R"({"l":[1]})", R"({"l":[1,2]})"},
                      DeltaCase{R"({"l":[1,2]})", R"({"l":[1,2]})", nullptr},
                      DeltaCase{R"({"powerStatus":"HEAT","targetTemperature":72})",
                                R"({"powerStatus":"HEAT","targetTemperature":70,"actual":68})",
                                R"({"targetTemperature":72})"}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

TEST(Delta, MetadataFollowsTheDeltaLeaves) {
  json desired = json::parse(R"({"a":1,"o":{"x":1,"y":2}})");
  json meta = metadata_of(desired, kT0);
  merge_metadata(meta, json::parse(R"({"o":{"y":2}})"), kT1);
  json delta = json::parse(R"({"o":{"y":2}})");
  EXPECT_EQ(delta_metadata(delta, meta), json::parse(R"({"o":{"y":{"timestamp":1700000100}}})"));
}

// ---- request parsing ---------------------------------------------------------------------------

struct RejectCase {
  const char* payload;
  int code;
  std::string message;
  bool echoes_token;
};

class Rejections : public ::testing::TestWithParam<RejectCase> {};

TEST_P(Rejections, AwsCodeAndMessage) {
  const auto& c = GetParam();
  auto r = parse_update_request(c.payload, Limits{});
  ASSERT_FALSE(r.has_value()) << c.payload;
  EXPECT_EQ(r.error().code, c.code) << c.payload;
  EXPECT_EQ(r.error().message, c.message) << c.payload;
  if (c.echoes_token) {
    EXPECT_EQ(r.error().client_token, "t1") << c.payload;
  } else {
    EXPECT_FALSE(r.error().client_token.has_value()) << c.payload;
  }
}

const std::string kDeep = "JSON contains too many levels of nesting; maximum is 6";

INSTANTIATE_TEST_SUITE_P(
    Table, Rejections,
    ::testing::Values(
        RejectCase{"", 400, "Invalid JSON", false}, RejectCase{"{", 400, "Invalid JSON", false},
        RejectCase{"not json", 400, "Invalid JSON", false},
        RejectCase{"[1,2]", 400, "Invalid JSON", false},
        RejectCase{"\"state\"", 400, "Invalid JSON", false},
        RejectCase{R"({"state":{"reported":{"a":1}}} trailing)", 400, "Invalid JSON", false},
        RejectCase{"{\"state\":{\"reported\":{\"a\":\"\xff\"}}}", 415,
                   "Unsupported documented encoding; supported encoding is UTF-8", false},
        RejectCase{"{\"state\":{\"reported\":{\"a\":\"\xc0\xaf\"}}}", 415,
                   "Unsupported documented encoding; supported encoding is UTF-8", false},
        RejectCase{"{\"state\":{\"reported\":{\"a\":\"\xed\xa0\x80\"}}}", 415,
                   "Unsupported documented encoding; supported encoding is UTF-8", false},
        RejectCase{"{\"state\":{\"reported\":{\"a\":\"\xe2\x82\"}}}", 415,
                   "Unsupported documented encoding; supported encoding is UTF-8", false},
        RejectCase{R"({"clientToken":"t1"})", 400, "Missing required node: state", true},
        RejectCase{R"({"clientToken":"t1","state":null})", 400, "State node must be an object",
                   true},
        RejectCase{R"({"clientToken":"t1","state":[1]})", 400, "State node must be an object",
                   true},
        RejectCase{R"({"clientToken":"t1","state":{"desired":1}})", 400,
                   "Desired node must be an object", true},
        RejectCase{R"({"clientToken":"t1","state":{"desired":[]}})", 400,
                   "Desired node must be an object", true},
        RejectCase{R"({"clientToken":"t1","state":{"reported":"x"}})", 400,
                   "Reported node must be an object", true},
        RejectCase{R"({"clientToken":"t1","state":{"delta":{"a":1}}})", 400,
                   "State contains an invalid node", true},
        RejectCase{R"({"clientToken":"t1","state":{"reported":{}},"version":"3"})", 400,
                   "Invalid version", true},
        RejectCase{R"({"clientToken":"t1","state":{"reported":{}},"version":-1})", 400,
                   "Invalid version", true},
        RejectCase{R"({"clientToken":"t1","state":{"reported":{}},"version":1.5})", 400,
                   "Invalid version", true},
        RejectCase{R"({"clientToken":7,"state":{"reported":{}}})", 400, "Invalid clientToken",
                   false},
        RejectCase{
            R"({"clientToken":"12345678901234567890123456789012345678901234567890123456789012345","state":{}})",
            400, "Invalid clientToken", false},
        RejectCase{
            R"({"clientToken":"t1","state":{"reported":{"1":{"2":{"3":{"4":{"5":{"6":{"7":1}}}}}}}}})",
            400, kDeep, true},
        RejectCase{R"({"clientToken":"t1","state":{"desired":{"1":[[[[[[1]]]]]]}}})", 400, kDeep,
                   true}),
    [](const auto& info) { return "case" + std::to_string(info.index); });

TEST(Parse, AcceptsSixLevels) {
  auto r = parse_update_request(R"({"state":{"reported":{"1":{"2":{"3":{"4":{"5":{"6":1}}}}}}}})",
                                Limits{});
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

TEST(Parse, AbsurdNestingIsRefusedBeforeParsing) {
  std::string payload =
      R"({"clientToken":"t1","x":)" + std::string(50000, '[') + std::string(50000, ']') + "}";
  auto r = parse_update_request(payload, Limits{});
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, 400);
  EXPECT_EQ(r.error().message, kDeep);
}

TEST(Parse, BracketsInsideStringsDoNotCount) {
  std::string s(200, '{');
  auto r = parse_update_request(R"({"state":{"reported":{"s":")" + s + R"("}}})", Limits{});
  ASSERT_TRUE(r.has_value()) << r.error().message;
}

TEST(Parse, SectionsTokenAndVersion) {
  auto r = parse_update_request(
      R"({"state":{"desired":{"a":1},"reported":null},"clientToken":"t1","version":7,"x":1})",
      Limits{});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->desired, json::parse(R"({"a":1})"));
  ASSERT_TRUE(r->reported.has_value());
  EXPECT_TRUE(r->reported->is_null());
  EXPECT_EQ(r->client_token, "t1");
  EXPECT_EQ(r->version, 7);
}

TEST(Parse, MultibyteUtf8IsAccepted) {
  auto r = parse_update_request(
      "{\"state\":{\"reported\":{\"name\":\"K\xc3\xbc"
      "che \xe2\x82\xac \xf0\x9f\x8c\xa1\"}}}",
      Limits{});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ((*r->reported)["name"],
            "K\xc3\xbc"
            "che \xe2\x82\xac \xf0\x9f\x8c\xa1");
}

TEST(Parse, TokenOfSixtyFourBytesIsAccepted) {
  std::string token(64, 'k');
  auto r = parse_update_request(R"({"state":{},"clientToken":")" + token + "\"}", Limits{});
  ASSERT_TRUE(r.has_value()) << r.error().message;
  EXPECT_EQ(r->client_token, token);
}

std::string reported_of_bytes(std::size_t state_size) {
  // {"desired":{},"reported":{"k":"xxx"}} has 32 bytes of structure around the x's.
  const std::size_t overhead = std::string(R"({"desired":{},"reported":{"k":""}})").size();
  return R"({"state":{"reported":{"k":")" + std::string(state_size - overhead, 'x') + R"("}}})";
}

TEST(Parse, StateOfExactly8KiBIsAcceptedOneMoreByteIs413) {
  auto ok = parse_update_request(reported_of_bytes(8192), Limits{});
  ASSERT_TRUE(ok.has_value()) << ok.error().message;
  EXPECT_EQ(state_bytes(json::object(), *ok->reported), 8192u);
  auto big = parse_update_request(reported_of_bytes(8193), Limits{});
  ASSERT_FALSE(big.has_value());
  EXPECT_EQ(big.error().code, 413);
  EXPECT_EQ(big.error().message, "The payload exceeds the maximum size allowed");
}

TEST(Parse, PayloadBeyondTheMessageLimitIs413BeforeParsing) {
  Limits limits;
  limits.max_payload_bytes = 100;
  auto r = parse_update_request(std::string(101, ' '), limits);
  ASSERT_FALSE(r.has_value());
  EXPECT_EQ(r.error().code, 413);
}

TEST(ParseClientToken, EmptyPayloadHasNoToken) {
  auto r = parse_client_token("", Limits{});
  ASSERT_TRUE(r.has_value());
  EXPECT_FALSE(r->has_value());
  auto t = parse_client_token(R"({"clientToken":"abc"})", Limits{});
  ASSERT_TRUE(t.has_value());
  EXPECT_EQ(*t, "abc");
  auto bad = parse_client_token("{", Limits{});
  ASSERT_FALSE(bad.has_value());
  EXPECT_EQ(bad.error().code, 400);
}

// ---- apply + payloads --------------------------------------------------------------------------

UpdateRequest req(const char* payload) {
  auto r = parse_update_request(payload, Limits{});
  EXPECT_TRUE(r.has_value()) << payload;
  return r.value_or(UpdateRequest{});
}

TEST(Apply, VersionTimestampAndMetadata) {
  auto first =
      apply_update(ShadowDocument{}, req(R"({"state":{"desired":{"a":1,"b":2}}})"), kT0, Limits{});
  ASSERT_TRUE(first);
  EXPECT_EQ(first->version, 1);
  EXPECT_EQ(first->timestamp_s, kT0);
  EXPECT_EQ(first->metadata_desired, json::parse(R"({"a":{"timestamp":1700000000},
                                                    "b":{"timestamp":1700000000}})"));
  auto second = apply_update(*first, req(R"({"state":{"desired":{"b":3},"reported":{"a":1}}})"),
                             kT1, Limits{});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->version, 2);
  EXPECT_EQ(second->metadata_desired["a"], ts(kT0));
  EXPECT_EQ(second->metadata_desired["b"], ts(kT1));
  EXPECT_EQ(second->metadata_reported["a"], ts(kT1));
}

TEST(Apply, NullSectionClearsIt) {
  auto first = apply_update(
      ShadowDocument{}, req(R"({"state":{"desired":{"a":1},"reported":{"a":2}}})"), kT0, Limits{});
  ASSERT_TRUE(first);
  auto second = apply_update(*first, req(R"({"state":{"desired":null}})"), kT1, Limits{});
  ASSERT_TRUE(second);
  EXPECT_EQ(second->desired, json::object());
  EXPECT_EQ(second->metadata_desired, json::object());
  EXPECT_EQ(second->reported, json::parse(R"({"a":2})"));
}

TEST(Apply, MergedStateBeyond8KiBIs413) {
  Limits limits;
  limits.max_state_bytes = 64;
  auto first = apply_update(ShadowDocument{}, req(R"({"state":{"reported":{"a":"0123456789"}}})"),
                            kT0, limits);
  ASSERT_TRUE(first);
  auto second = apply_update(
      *first, req(R"({"clientToken":"t1","state":{"desired":{"b":"0123456789012345"}}})"), kT1,
      limits);
  ASSERT_FALSE(second);
  EXPECT_EQ(second.error().code, 413);
  EXPECT_EQ(second.error().client_token, "t1");
}

TEST(Payloads, AcceptedEchoesTheAppliedRequest) {
  auto request = req(R"({"state":{"desired":{"a":null,"o":{"x":1}}},"clientToken":"t1"})");
  ShadowDocument current;
  current.version = 4;
  current.timestamp_s = kT1;
  json accepted = accepted_json(request, current);
  EXPECT_EQ(accepted, json::parse(R"({
      "state":{"desired":{"a":null,"o":{"x":1}}},
      "metadata":{"desired":{"a":{"timestamp":1700000100},"o":{"x":{"timestamp":1700000100}}}},
      "version":4,"timestamp":1700000100,"clientToken":"t1"})"));
}

TEST(Payloads, DeltaAndDocumentsAndGet) {
  auto first =
      apply_update(ShadowDocument{},
                   req(R"({"state":{"reported":{"powerStatus":"HEAT","targetTemperature":70}}})"),
                   kT0, Limits{});
  ASSERT_TRUE(first);
  EXPECT_FALSE(delta_json(*first, std::nullopt).has_value());
  auto second =
      apply_update(*first, req(R"({"state":{"desired":{"targetTemperature":72}}})"), kT1, Limits{});
  ASSERT_TRUE(second);
  auto delta = delta_json(*second, std::string("t2"));
  ASSERT_TRUE(delta.has_value());
  EXPECT_EQ(*delta, json::parse(R"({"version":2,"timestamp":1700000100,
      "state":{"targetTemperature":72},
      "metadata":{"targetTemperature":{"timestamp":1700000100}},"clientToken":"t2"})"));

  json docs = documents_json(first.value(), *second, std::nullopt);
  EXPECT_EQ(docs["previous"]["version"], 1);
  EXPECT_EQ(docs["previous"]["state"]["desired"], json::object());
  EXPECT_EQ(docs["current"]["version"], 2);
  EXPECT_EQ(docs["current"]["state"]["desired"]["targetTemperature"], 72);
  EXPECT_EQ(docs["current"]["metadata"]["reported"]["powerStatus"], ts(kT0));
  EXPECT_EQ(docs["timestamp"], kT1);
  EXPECT_FALSE(docs.contains("clientToken"));
  EXPECT_FALSE(documents_json(std::nullopt, *first, std::nullopt).contains("previous"));

  json got = document_json(*second, kT1 + 5, std::string("g"));
  EXPECT_EQ(got["state"]["delta"], json::parse(R"({"targetTemperature":72})"));
  EXPECT_EQ(got["state"]["reported"]["powerStatus"], "HEAT");
  EXPECT_EQ(got["version"], 2);
  EXPECT_EQ(got["timestamp"], kT1 + 5);
  EXPECT_EQ(got["clientToken"], "g");
}

TEST(Payloads, GetLeavesOutEmptySections) {
  auto doc =
      apply_update(ShadowDocument{}, req(R"({"state":{"reported":{"a":1}}})"), kT0, Limits{});
  ASSERT_TRUE(doc);
  json got = document_json(*doc, kT0);
  EXPECT_EQ(got["state"], json::parse(R"({"reported":{"a":1}})"));
  EXPECT_EQ(got["metadata"], json::parse(R"({"reported":{"a":{"timestamp":1700000000}}})"));
}

TEST(Rejection, JsonAndErrorMapping) {
  Rejection r{409, "Version conflict", std::string("t"), {}};
  EXPECT_EQ(
      r.to_json(kT0),
      json::parse(
          R"({"code":409,"message":"Version conflict","timestamp":1700000000,"clientToken":"t"})"));
  EXPECT_EQ(r.to_error().kind, ErrorKind::kConflict);
  auto kind_of = [](int code) { return Rejection{code, "x", {}, {}}.to_error().kind; };
  EXPECT_EQ(kind_of(413), ErrorKind::kPayloadTooLarge);
  EXPECT_EQ(kind_of(404), ErrorKind::kNotFound);
  EXPECT_EQ(kind_of(400), ErrorKind::kBadRequest);
  EXPECT_EQ(kind_of(415), ErrorKind::kBadRequest);
  EXPECT_EQ(kind_of(500), ErrorKind::kInternal);
  EXPECT_FALSE(Rejection{}.to_json(kT0).contains("clientToken"));
}

}  // namespace
}  // namespace sp::shadow
