// The live hub without a transport: entitlement, fan-out, the client protocol, limits, the owner
// cache, and what a full client queue does to the others.

#include "smartproduct/live/hub.hpp"

#include <gtest/gtest.h>

#include <deque>
#include <map>

#include "fakes/fixed_clock.hpp"
#include "smartproduct/http/errors.hpp"
#include "smartproduct/telemetry/watch.hpp"

namespace sp::live {
namespace {

using nlohmann::json;

// A client connection that records what it was sent; `capacity` emulates the transport's bounded
// queue (0: unbounded).
class FakePeer final : public Peer {
 public:
  explicit FakePeer(std::size_t capacity = 0) : capacity_(capacity) {}
  bool send(std::shared_ptr<const std::string> text) override {
    if (closed_code) return false;
    if (capacity_ && sent.size() >= capacity_) {
      overflowed = true;
      return false;
    }
    sent.push_back(json::parse(*text));
    return true;
  }
  void close(std::uint16_t code, std::string reason) override {
    if (!closed_code) closed_code = code;
    close_reason = std::move(reason);
  }
  std::vector<json> of_type(const std::string& type) const {
    std::vector<json> out;
    for (const auto& m : sent) {
      if (m.value("type", "") == type) out.push_back(m);
    }
    return out;
  }

  std::vector<json> sent;
  std::optional<std::uint16_t> closed_code;
  std::string close_reason;
  bool overflowed = false;

 private:
  std::size_t capacity_;
};

constexpr std::int64_t kHourMs = 3600 * 1000;

class HubTest : public ::testing::Test {
 protected:
  HubTest() { watch_.filter_by_device(); }

  std::unique_ptr<Hub> make_hub(LiveConfig config = {}) {
    return std::make_unique<Hub>(
        config, clock_,
        [this](std::string_view token) -> Result<Identity> {
          auto it = tokens_.find(std::string(token));
          if (it == tokens_.end()) return fail(errors::kInvalidToken);
          return it->second;
        },
        [this](const std::string& device) -> std::optional<std::string> {
          lookups_++;
          auto it = owners_.find(device);
          if (it == owners_.end()) return std::nullopt;
          return it->second;
        },
        [this](std::function<void()> work) {
          if (defer_) {
            deferred_.push_back(std::move(work));
          } else {
            work();
          }
        },
        &watch_);
  }

  struct Client {
    std::shared_ptr<FakePeer> peer;
    std::shared_ptr<Hub::Connection> connection;
    void say(const json& m) { connection->on_text(m.dump()); }
  };

  Client connect(Hub& hub, std::size_t capacity = 0) {
    auto peer = std::make_shared<FakePeer>(capacity);
    auto c = hub.open(peer);
    EXPECT_TRUE(c.has_value());
    return {peer, c ? *c : nullptr};
  }

  Client signed_in(Hub& hub, const std::string& token, std::size_t capacity = 0) {
    auto client = connect(hub, capacity);
    client.say({{"type", "auth"}, {"token", token}});
    EXPECT_EQ(client.peer->of_type("authenticated").size(), 1u) << token;
    return client;
  }

  test::FixedClock clock_;
  telemetry::TelemetryWatch watch_;
  std::map<std::string, Identity> tokens_ = {
      {"alice-token", {"alice", false, test::FixedClock::kDefaultNowMs + kHourMs}},
      {"alice-token-2", {"alice", false, test::FixedClock::kDefaultNowMs + 2 * kHourMs}},
      {"bob-token", {"bob", false, test::FixedClock::kDefaultNowMs + kHourMs}},
      {"admin-token", {"root", true, test::FixedClock::kDefaultNowMs + kHourMs}},
  };
  std::map<std::string, std::string> owners_ = {{"SN-A", "alice"}, {"SN-B", "bob"}};
  int lookups_ = 0;
  bool defer_ = false;
  std::deque<std::function<void()>> deferred_;
};

json connectivity(const std::string& device) {
  return {{"type", "connectivity"}, {"deviceId", device}, {"connected", true}};
}

TEST_F(HubTest, AuthenticatedReplyCarriesUserAndExpiry) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  auto ok = alice.peer->of_type("authenticated").at(0);
  EXPECT_EQ(ok["userId"], "alice");
  EXPECT_EQ(ok["admin"], false);
  EXPECT_EQ(ok["expiresAt"], test::FixedClock::kDefaultNowMs + kHourMs);
  EXPECT_FALSE(alice.peer->closed_code);
  EXPECT_EQ(hub->stats().authenticated, 1u);
}

TEST_F(HubTest, AnythingBeforeAuthClosesWith4001) {
  auto hub = make_hub();
  auto c = connect(*hub);
  c.say({{"type", "subscribe"}, {"deviceId", "SN-A"}});
  ASSERT_TRUE(c.peer->closed_code);
  EXPECT_EQ(*c.peer->closed_code, kCloseUnauthenticated);
  auto errors = c.peer->of_type("error");
  ASSERT_EQ(errors.size(), 1u);
  EXPECT_EQ(errors[0]["code"], 401);
  EXPECT_EQ(errors[0]["error"], "Unauthorized");
  // Not JSON at all: the same.
  auto d = connect(*hub);
  d.connection->on_text("not json");
  ASSERT_TRUE(d.peer->closed_code);
  EXPECT_EQ(*d.peer->closed_code, kCloseUnauthenticated);
}

TEST_F(HubTest, BadOrMissingTokenClosesWith4001) {
  auto hub = make_hub();
  auto bad = connect(*hub);
  bad.say({{"type", "auth"}, {"token", "forged"}});
  ASSERT_TRUE(bad.peer->closed_code);
  EXPECT_EQ(*bad.peer->closed_code, kCloseUnauthenticated);
  EXPECT_EQ(bad.peer->of_type("error").at(0)["error"], "InvalidToken");
  auto missing = connect(*hub);
  missing.say({{"type", "auth"}});
  ASSERT_TRUE(missing.peer->closed_code);
  EXPECT_EQ(*missing.peer->closed_code, kCloseUnauthenticated);
  auto wrong_type = connect(*hub);
  wrong_type.say({{"type", "auth"}, {"token", 42}});
  ASSERT_TRUE(wrong_type.peer->closed_code);
  EXPECT_EQ(hub->stats().rejected_auth, 3u);
  // A refused client receives nothing afterwards.
  owners_["SN-X"] = "alice";
  hub->publish_device("SN-X", connectivity("SN-X"));
  EXPECT_TRUE(bad.peer->of_type("connectivity").empty());
}

TEST_F(HubTest, NoAuthWithinTheTimeoutCloses) {
  LiveConfig config;
  config.auth_timeout = std::chrono::seconds(5);
  auto hub = make_hub(config);
  auto c = connect(*hub);
  clock_.advance(std::chrono::milliseconds(4999));
  hub->tick();
  EXPECT_FALSE(c.peer->closed_code);
  clock_.advance(std::chrono::milliseconds(1));
  hub->tick();
  ASSERT_TRUE(c.peer->closed_code);
  EXPECT_EQ(*c.peer->closed_code, kCloseUnauthenticated);
}

TEST_F(HubTest, TokenExpiryClosesUnlessRenewed) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  auto renewing = signed_in(*hub, "alice-token");
  renewing.say({{"type", "auth"}, {"token", "alice-token-2"}});
  EXPECT_EQ(renewing.peer->of_type("authenticated").size(), 2u);
  clock_.advance(std::chrono::milliseconds(kHourMs - 1));
  hub->tick();
  EXPECT_FALSE(alice.peer->closed_code);
  clock_.advance(std::chrono::milliseconds(1));
  hub->tick();
  ASSERT_TRUE(alice.peer->closed_code);
  EXPECT_EQ(*alice.peer->closed_code, kCloseTokenExpired);
  EXPECT_FALSE(renewing.peer->closed_code);
  EXPECT_EQ(hub->stats().expired, 1u);
  // The expired one is out of the fan-out; the renewed one still receives.
  hub->publish_device("SN-A", connectivity("SN-A"));
  EXPECT_TRUE(alice.peer->of_type("connectivity").empty());
  EXPECT_EQ(renewing.peer->of_type("connectivity").size(), 1u);
}

TEST_F(HubTest, ATokenPastItsExpiryIsRefused) {
  auto hub = make_hub();
  clock_.advance(std::chrono::milliseconds(kHourMs));
  auto c = connect(*hub);
  c.say({{"type", "auth"}, {"token", "alice-token"}});
  ASSERT_TRUE(c.peer->closed_code);
  EXPECT_EQ(*c.peer->closed_code, kCloseUnauthenticated);
  EXPECT_EQ(c.peer->of_type("error").at(0)["error"], "TokenExpired");
}

TEST_F(HubTest, ReauthAsAnotherUserCloses) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  alice.say({{"type", "auth"}, {"token", "bob-token"}});
  ASSERT_TRUE(alice.peer->closed_code);
  EXPECT_EQ(*alice.peer->closed_code, kCloseForbidden);
}

TEST_F(HubTest, DeviceMessagesReachOwnerAndAdminsOnly) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  auto alice2 = signed_in(*hub, "alice-token");
  auto bob = signed_in(*hub, "bob-token");
  auto admin = signed_in(*hub, "admin-token");
  hub->publish_device("SN-A", connectivity("SN-A"));
  hub->publish_device("SN-B", connectivity("SN-B"));
  hub->publish_device("SN-unowned", connectivity("SN-unowned"));
  ASSERT_EQ(alice.peer->of_type("connectivity").size(), 1u);
  EXPECT_EQ(alice.peer->of_type("connectivity")[0]["deviceId"], "SN-A");
  ASSERT_EQ(alice2.peer->of_type("connectivity").size(), 1u);
  ASSERT_EQ(bob.peer->of_type("connectivity").size(), 1u);
  EXPECT_EQ(bob.peer->of_type("connectivity")[0]["deviceId"], "SN-B");
  EXPECT_EQ(admin.peer->of_type("connectivity").size(), 3u);
  EXPECT_EQ(hub->stats().pushed, 4u + 6u);  // 4 authenticated replies, then 3 + 2 + 1 pushes
}

TEST_F(HubTest, AdminOwnerIsPushedOnce) {
  owners_["SN-R"] = "root";
  auto hub = make_hub();
  auto admin = signed_in(*hub, "admin-token");
  hub->publish_device("SN-R", connectivity("SN-R"));
  EXPECT_EQ(admin.peer->of_type("connectivity").size(), 1u);
}

TEST_F(HubTest, UserMessagesReachThatUserOnly) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  auto bob = signed_in(*hub, "bob-token");
  auto admin = signed_in(*hub, "admin-token");
  hub->publish_user("alice", {{"type", "alerts"}});
  EXPECT_EQ(alice.peer->of_type("alerts").size(), 1u);
  EXPECT_TRUE(bob.peer->of_type("alerts").empty());
  EXPECT_TRUE(admin.peer->of_type("alerts").empty());
}

TEST_F(HubTest, ResyncReachesEveryAuthenticatedConnection) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  auto admin = signed_in(*hub, "admin-token");
  auto anonymous = connect(*hub);
  hub->publish_all({{"type", "resync"}});
  EXPECT_EQ(alice.peer->of_type("resync").size(), 1u);
  EXPECT_EQ(admin.peer->of_type("resync").size(), 1u);
  EXPECT_TRUE(anonymous.peer->of_type("resync").empty());
}

TEST_F(HubTest, TelemetryOnlyToSubscribersOfOwnDevices) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  auto bob = signed_in(*hub, "bob-token");
  auto admin = signed_in(*hub, "admin-token");
  json t = {{"type", "telemetry"}, {"deviceId", "SN-A"}};
  hub->publish_telemetry("SN-A", t);  // nobody subscribed
  EXPECT_TRUE(alice.peer->of_type("telemetry").empty());
  EXPECT_EQ(watch_.watched_devices(), 0u);
  EXPECT_FALSE(watch_.wanted("SN-A"));

  alice.say({{"type", "subscribe"}, {"deviceId", "SN-A"}});
  EXPECT_EQ(alice.peer->of_type("subscribed").size(), 1u);
  EXPECT_TRUE(watch_.wanted("SN-A"));
  EXPECT_FALSE(watch_.wanted("SN-B"));
  bob.say({{"type", "subscribe"}, {"deviceId", "SN-A"}});
  ASSERT_EQ(bob.peer->of_type("error").size(), 1u);
  EXPECT_EQ(bob.peer->of_type("error")[0]["code"], 403);
  EXPECT_EQ(bob.peer->of_type("error")[0]["error"], "DeviceAccessDenied");
  bob.say({{"type", "subscribe"}, {"deviceId", "SN-nobody"}});
  EXPECT_EQ(bob.peer->of_type("error").at(1)["code"], 404);
  bob.say({{"type", "subscribe"}, {"deviceId", "bad id/../"}});
  EXPECT_EQ(bob.peer->of_type("error").at(2)["code"], 422);
  bob.say({{"type", "subscribe"}});
  EXPECT_EQ(bob.peer->of_type("error").at(3)["code"], 422);
  admin.say({{"type", "subscribe"}, {"deviceId", "SN-A"}});
  EXPECT_EQ(admin.peer->of_type("subscribed").size(), 1u);

  hub->publish_telemetry("SN-A", t);
  EXPECT_EQ(alice.peer->of_type("telemetry").size(), 1u);
  EXPECT_EQ(admin.peer->of_type("telemetry").size(), 1u);
  EXPECT_TRUE(bob.peer->of_type("telemetry").empty());
  EXPECT_FALSE(bob.peer->closed_code);  // errors are answers, not closes

  alice.say({{"type", "unsubscribe"}, {"deviceId", "SN-A"}});
  admin.say({{"type", "unsubscribe"}, {"deviceId", "SN-A"}});
  EXPECT_EQ(alice.peer->of_type("unsubscribed").size(), 1u);
  EXPECT_EQ(watch_.watched_devices(), 0u);
  hub->publish_telemetry("SN-A", t);
  EXPECT_EQ(alice.peer->of_type("telemetry").size(), 1u);
}

TEST_F(HubTest, ClosingAConnectionReleasesItsSubscriptions) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  alice.say({{"type", "subscribe"}, {"deviceId", "SN-A"}});
  EXPECT_EQ(watch_.watched_devices(), 1u);
  alice.connection->on_closed();
  EXPECT_EQ(watch_.watched_devices(), 0u);
  EXPECT_EQ(hub->stats().connections, 0u);
  EXPECT_EQ(hub->stats().subscriptions, 0u);
}

TEST_F(HubTest, ADeviceThatChangesHandsStopsReachingItsOldOwner) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  auto bob = signed_in(*hub, "bob-token");
  alice.say({{"type", "subscribe"}, {"deviceId", "SN-A"}});
  hub->device_deleted("SN-A");
  hub->device_registered("SN-A", "bob");
  hub->publish_telemetry("SN-A", {{"type", "telemetry"}});
  hub->publish_device("SN-A", connectivity("SN-A"));
  EXPECT_TRUE(alice.peer->of_type("telemetry").empty());
  EXPECT_TRUE(alice.peer->of_type("connectivity").empty());
  EXPECT_EQ(bob.peer->of_type("connectivity").size(), 1u);
}

TEST_F(HubTest, OwnerLookupsAreCachedAndInvalidated) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  for (int i = 0; i < 100; ++i) hub->publish_device("SN-A", connectivity("SN-A"));
  EXPECT_EQ(lookups_, 1);
  EXPECT_EQ(alice.peer->of_type("connectivity").size(), 100u);
  hub->device_deleted("SN-A");
  hub->publish_device("SN-A", connectivity("SN-A"));
  EXPECT_EQ(lookups_, 2);
  hub->device_registered("SN-A", "alice");
  hub->publish_device("SN-A", connectivity("SN-A"));
  EXPECT_EQ(lookups_, 2);  // registration filled the cache
}

TEST_F(HubTest, NobodyConnectedCostsNoLookup) {
  auto hub = make_hub();
  hub->publish_device("SN-A", connectivity("SN-A"));
  EXPECT_EQ(lookups_, 0);
}

TEST_F(HubTest, AFullClientQueueDoesNotAffectOthers) {
  auto hub = make_hub();
  auto slow = signed_in(*hub, "alice-token", /*capacity=*/5);
  auto fast = signed_in(*hub, "alice-token");
  for (int i = 0; i < 50; ++i) hub->publish_device("SN-A", connectivity("SN-A"));
  EXPECT_TRUE(slow.peer->overflowed);
  EXPECT_EQ(slow.peer->of_type("connectivity").size(), 4u);  // 5 minus the authenticated reply
  EXPECT_EQ(fast.peer->of_type("connectivity").size(), 50u);
  EXPECT_EQ(hub->stats().refused, 46u);
}

TEST_F(HubTest, ConnectionLimits) {
  LiveConfig config;
  config.max_connections = 3;
  config.max_connections_per_user = 2;
  auto hub = make_hub(config);
  auto a1 = signed_in(*hub, "alice-token");
  auto a2 = signed_in(*hub, "alice-token");
  auto a3 = connect(*hub);
  a3.say({{"type", "auth"}, {"token", "alice-token"}});
  ASSERT_TRUE(a3.peer->closed_code);
  EXPECT_EQ(*a3.peer->closed_code, kCloseTooManyConnections);
  EXPECT_EQ(a3.peer->of_type("error").at(0)["code"], 429);
  // The limit counts open connections: a3 is still open until the transport reports it closed.
  auto refused = hub->open(std::make_shared<FakePeer>());
  ASSERT_FALSE(refused.has_value());
  EXPECT_EQ(refused.error().name, "TooManyConnections");
  EXPECT_EQ(http_status(refused.error().kind), 429);
  a3.connection->on_closed();
  auto b = signed_in(*hub, "bob-token");
  EXPECT_FALSE(b.peer->closed_code);
  EXPECT_EQ(hub->stats().refused_connections, 1u);
}

TEST_F(HubTest, SubscriptionLimit) {
  LiveConfig config;
  config.max_subscriptions = 1;
  owners_["SN-A2"] = "alice";
  auto hub = make_hub(config);
  auto alice = signed_in(*hub, "alice-token");
  alice.say({{"type", "subscribe"}, {"deviceId", "SN-A"}});
  alice.say({{"type", "subscribe"}, {"deviceId", "SN-A"}});  // again: no new slot
  alice.say({{"type", "subscribe"}, {"deviceId", "SN-A2"}});
  EXPECT_EQ(alice.peer->of_type("subscribed").size(), 2u);
  ASSERT_EQ(alice.peer->of_type("error").size(), 1u);
  EXPECT_EQ(alice.peer->of_type("error")[0]["error"], "TooManySubscriptions");
}

TEST_F(HubTest, MalformedMessagesAfterAuthAreAnswered) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  alice.connection->on_text("{not json");
  alice.say({{"kind", "x"}});
  alice.say({{"type", "dance"}});
  alice.say({{"type", "ping"}});
  auto errors = alice.peer->of_type("error");
  ASSERT_EQ(errors.size(), 3u);
  EXPECT_EQ(errors[0]["code"], 400);
  EXPECT_EQ(errors[1]["code"], 422);
  EXPECT_EQ(errors[2]["code"], 400);
  EXPECT_EQ(alice.peer->of_type("pong").size(), 1u);
  EXPECT_FALSE(alice.peer->closed_code);
}

TEST_F(HubTest, AClientFloodingMessagesIsClosed) {
  LiveConfig config;
  config.max_pending_messages = 3;
  auto hub = make_hub(config);
  auto alice = signed_in(*hub, "alice-token");
  defer_ = true;
  for (int i = 0; i < 3; ++i) alice.say({{"type", "ping"}});
  EXPECT_FALSE(alice.peer->closed_code);
  alice.say({{"type", "ping"}});
  ASSERT_TRUE(alice.peer->closed_code);
  EXPECT_EQ(*alice.peer->closed_code, kCloseFlooding);
  EXPECT_EQ(deferred_.size(), 3u);
  for (auto& work : deferred_) work();  // handled after the close: answered with nothing
  EXPECT_TRUE(alice.peer->of_type("pong").empty());
}

TEST_F(HubTest, CloseAllClosesEveryone) {
  auto hub = make_hub();
  auto alice = signed_in(*hub, "alice-token");
  auto pending = connect(*hub);
  hub->close_all(1001, "bye");
  ASSERT_TRUE(alice.peer->closed_code);
  EXPECT_EQ(*alice.peer->closed_code, 1001);
  ASSERT_TRUE(pending.peer->closed_code);
}

TEST(TelemetryWatch, WantsEverythingUnlessFiltering) {
  telemetry::TelemetryWatch w;
  EXPECT_TRUE(w.wanted("x"));
  w.filter_by_device();
  EXPECT_FALSE(w.wanted("x"));
  w.watch("x");
  w.watch("x");
  w.unwatch("x");
  EXPECT_TRUE(w.wanted("x"));
  w.unwatch("x");
  EXPECT_FALSE(w.wanted("x"));
  w.want_all();
  EXPECT_TRUE(w.wanted("y"));
}

}  // namespace
}  // namespace sp::live
