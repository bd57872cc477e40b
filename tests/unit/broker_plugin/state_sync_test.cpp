// The chunked state sync (`stateChunk`): staging, the atomic swap on the last intact chunk, and
// the discarding of incomplete, out-of-order or corrupted generations.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "policy.hpp"
#include "test_support.hpp"

namespace sp::broker_plugin {
namespace {

using nlohmann::json;
using test::attempt;
using test::device_cert;
using test::fp;
using test::test_options;

int k1, k2;

/// Builds the chunks of one generation the way the daemon does: `parts` are partial state
/// objects, one per chunk, fed to the checksum in kStateKeys order.
std::vector<json> generation(std::uint64_t gen, const std::vector<json>& parts) {
  broker::StateChecksum sum;
  std::vector<json> out;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    for (std::size_t k = 0; k < broker::kStateKeys.size(); ++k) {
      const auto key = std::string(broker::kStateKeys[k]);
      if (parts[i].contains(key)) {
        for (const auto& e : parts[i][key]) sum.add(k, e.get<std::string>());
      }
    }
    json c = {{"command", "stateChunk"}, {"id", "c" + std::to_string(i)},
              {"generation", gen},       {"index", i},
              {"count", parts.size()},   {"state", parts[i]}};
    if (i + 1 == parts.size()) {
      c["checksum"] = sum.text();
      c["entries"] = sum.entries();
    }
    out.push_back(std::move(c));
  }
  return out;
}

class StateSync : public ::testing::Test {
 protected:
  StateSync() : p_(test_options(), {}, 77) {
    p_.authenticate(attempt(&k1, "SN1"), device_cert("SN1", 'A', "AA11"), 100);
    p_.authenticate(attempt(&k2, "SN2"), device_cert("SN2", 'B', "AA11"), 200);
  }

  // Sends one chunk in its own control message; returns its response entry.
  json send(const json& chunk) {
    last_ = p_.handle_control("svc-backend", json{{"commands", json::array({chunk})}}.dump());
    EXPECT_TRUE(last_.authorized);
    return json::parse(last_.response).at("responses").at(0);
  }

  std::vector<json> three_chunks(std::uint64_t gen) {
    return generation(
        gen,
        {json{{"revokedFingerprints", {fp('B')}}}, json{{"registeredUsernames", {"SN7", "SN8"}}},
         json{{"activatedFingerprints", {fp('A'), fp('C')}}, {"autoActivateCas", {"aa:11"}}}});
  }

  Policy p_;
  ControlOutcome last_;
};

TEST_F(StateSync, LastIntactChunkSwapsTheWholeStateAtOnce) {
  p_.handle_control("svc-backend",
                    R"({"commands":[{"command":"registerDevice","username":"OLD"}]})");
  auto chunks = three_chunks(5);
  auto r0 = send(chunks[0]);
  EXPECT_FALSE(r0.contains("error")) << r0.dump();
  EXPECT_FALSE(last_.state_changed);  // nothing persisted nor applied for a staged chunk
  auto r1 = send(chunks[1]);
  EXPECT_FALSE(r1.contains("error")) << r1.dump();
  // Between chunks the old state still decides: SN2's fingerprint is not revoked yet.
  EXPECT_EQ(p_.state().registered_usernames, StringSet{"OLD"});
  EXPECT_TRUE(p_.state().revoked_fingerprints.empty());
  EXPECT_EQ(p_.staged_generation(), 5u);

  auto r2 = send(chunks[2]);
  EXPECT_FALSE(r2.contains("error")) << r2.dump();
  EXPECT_EQ(r2["applied"], true);
  EXPECT_EQ(r2["generation"], 5);
  EXPECT_EQ(r2["kicked"], 1);
  EXPECT_EQ(last_.kick_client_ids, std::vector<std::string>{"SN2"});
  EXPECT_TRUE(last_.state_changed);
  EXPECT_EQ(p_.state().revoked_fingerprints, StringSet{fp('B')});
  EXPECT_EQ(p_.state().registered_usernames, (StringSet{"SN7", "SN8"}));
  EXPECT_EQ(p_.state().activated_fingerprints, (StringSet{fp('A'), fp('C')}));
  EXPECT_EQ(p_.state().auto_activate_cas, StringSet{"AA11"});  // normalized
  EXPECT_FALSE(p_.staged_generation());
}

TEST_F(StateSync, ASingleChunkGenerationWorks) {
  auto chunks = generation(1, {json{{"revokedUsernames", {"SN1"}}}});
  auto r = send(chunks[0]);
  EXPECT_EQ(r["applied"], true);
  EXPECT_EQ(p_.state().revoked_usernames, StringSet{"SN1"});
  EXPECT_EQ(last_.kick_client_ids, std::vector<std::string>{"SN1"});
}

TEST_F(StateSync, AMissingChunkDiscardsTheGeneration) {
  auto chunks = three_chunks(6);
  send(chunks[0]);
  auto r = send(chunks[2]);  // chunk 1 was lost
  EXPECT_TRUE(r.contains("error"));
  EXPECT_FALSE(r.contains("applied"));
  EXPECT_FALSE(p_.staged_generation());
  EXPECT_TRUE(p_.state().revoked_fingerprints.empty());
  EXPECT_FALSE(last_.state_changed);
  // The late chunk 1 cannot revive it either.
  EXPECT_TRUE(send(chunks[1]).contains("error"));
  EXPECT_TRUE(p_.state().registered_usernames.empty());
}

TEST_F(StateSync, ChunksOfAnotherGenerationDiscardTheStaging) {
  auto old_gen = three_chunks(7);
  auto new_gen = three_chunks(8);
  send(old_gen[0]);
  EXPECT_TRUE(send(new_gen[1]).contains("error"));  // generation 8 never started
  EXPECT_FALSE(p_.staged_generation());
  EXPECT_TRUE(send(old_gen[2]).contains("error"));  // 7 is gone too
  EXPECT_TRUE(p_.state().activated_fingerprints.empty());
}

TEST_F(StateSync, ANewGenerationReplacesAnIncompleteOne) {
  auto old_gen = three_chunks(9);
  send(old_gen[0]);
  send(old_gen[1]);
  // The daemon reconnected and starts over: generation 10 is complete, 9 is forgotten.
  auto next = generation(10, {json{{"registeredUsernames", {"SN9"}}}, json::object()});
  send(next[0]);
  EXPECT_EQ(p_.staged_generation(), 10u);
  EXPECT_EQ(send(next[1])["applied"], true);
  EXPECT_EQ(p_.state().registered_usernames, StringSet{"SN9"});
  EXPECT_TRUE(p_.state().revoked_fingerprints.empty());
}

TEST_F(StateSync, AWrongChecksumOrCountIsNotApplied) {
  auto chunks = three_chunks(11);
  chunks[2]["checksum"] = "fnv1a64:0000000000000000";
  send(chunks[0]);
  send(chunks[1]);
  auto r = send(chunks[2]);
  EXPECT_TRUE(r.contains("error"));
  EXPECT_TRUE(p_.state().registered_usernames.empty());

  chunks = three_chunks(12);
  chunks[1]["state"]["registeredUsernames"] = {"SN7"};  // an entry lost in transit
  for (auto& c : chunks) send(c);
  EXPECT_TRUE(json::parse(last_.response)["responses"][0].contains("error"));
  EXPECT_TRUE(p_.state().registered_usernames.empty());

  chunks = three_chunks(13);
  chunks[2]["entries"] = 99;
  for (auto& c : chunks) send(c);
  EXPECT_TRUE(p_.state().registered_usernames.empty());

  chunks = three_chunks(14);
  chunks[2].erase("checksum");
  for (auto& c : chunks) send(c);
  EXPECT_TRUE(p_.state().registered_usernames.empty());
  EXPECT_FALSE(last_.state_changed);
}

TEST_F(StateSync, MalformedChunksAreRefusedAndDiscardTheStaging) {
  auto chunks = three_chunks(15);
  send(chunks[0]);
  for (const char* bad : {R"({"command":"stateChunk"})",
                          R"({"command":"stateChunk","generation":15,"index":1,"count":0})",
                          R"({"command":"stateChunk","generation":15,"index":3,"count":3})",
                          R"({"command":"stateChunk","generation":-1,"index":0,"count":1})",
                          R"({"command":"stateChunk","generation":"15","index":0,"count":1})",
                          R"({"command":"stateChunk","generation":1,"index":0,"count":1e9})",
                          R"({"command":"stateChunk","generation":1,"index":0,"count":2,
                              "state":{"revokedFingerprints":["zz"]}})",
                          R"({"command":"stateChunk","generation":1,"index":0,"count":2,
                              "state":[]})"}) {
    auto r = send(json::parse(bad));
    EXPECT_TRUE(r.contains("error")) << bad;
    EXPECT_FALSE(p_.staged_generation()) << bad;
  }
  EXPECT_TRUE(send(chunks[1]).contains("error"));
  EXPECT_TRUE(p_.state().revoked_fingerprints.empty());
}

TEST_F(StateSync, IncrementalCommandsBetweenChunksChangeTheLiveState) {
  auto chunks = three_chunks(16);
  send(chunks[0]);
  auto o =
      p_.handle_control("svc-backend", R"({"commands":[{"command":"revoke","username":"SN1"}]})");
  EXPECT_EQ(o.kick_client_ids, std::vector<std::string>{"SN1"});
  EXPECT_EQ(p_.staged_generation(), 16u);  // the staging survives other commands
  send(chunks[1]);
  EXPECT_EQ(send(chunks[2])["applied"], true);
}

TEST_F(StateSync, SeveralChunksInOneMessageWork) {
  auto chunks = three_chunks(17);
  auto o = p_.handle_control("svc-backend", json{{"commands", chunks}}.dump());
  auto r = json::parse(o.response)["responses"];
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[2]["applied"], true);
  EXPECT_EQ(p_.state().registered_usernames, (StringSet{"SN7", "SN8"}));
}

TEST_F(StateSync, QuarantinedUsernamesAreStagedAndChecksummed) {
  p_.handle_control("svc-backend", R"({"commands":[{"command":"quarantine","username":"OLD"}]})");
  auto chunks = generation(
      18, {json{{"quarantinedUsernames", {"SN1"}}, {"registeredUsernames", {"SN1", "SN2"}}},
           json{{"quarantinedUsernames", {"SN2", "SN3"}}}});
  EXPECT_FALSE(send(chunks[0]).contains("error"));
  EXPECT_EQ(p_.state().quarantined_usernames, StringSet{"OLD"});  // staged only
  auto r = send(chunks[1]);
  EXPECT_EQ(r["applied"], true) << r.dump();
  EXPECT_EQ(r["kicked"], 0);  // quarantine never kicks
  EXPECT_EQ(p_.state().quarantined_usernames, (StringSet{"SN1", "SN2", "SN3"}));
  EXPECT_EQ(p_.check_acl(&k1, "SN1", "smartproduct/telemetry/SN1", Access::kWrite),
            AclResult::kDeny);

  // The quarantined entries are part of the checksum (key index 6): dropping one is detected.
  auto bad = generation(19, {json{{"quarantinedUsernames", {"SN1", "SN2"}}}});
  bad[0]["state"]["quarantinedUsernames"] = {"SN1"};
  EXPECT_TRUE(send(bad[0]).contains("error"));
  EXPECT_EQ(p_.state().quarantined_usernames, (StringSet{"SN1", "SN2", "SN3"}));

  // A generation without the key releases everyone (it is a whole state).
  EXPECT_EQ(send(generation(20, {json{{"revokedUsernames", json::array()}}})[0])["applied"], true);
  EXPECT_TRUE(p_.state().quarantined_usernames.empty());
}

}  // namespace
}  // namespace sp::broker_plugin
