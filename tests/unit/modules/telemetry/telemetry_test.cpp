// The telemetry pipeline (activities, the seed's transform on the seed's sample payloads), and the
// rollups kept in the ingest transaction checked against values computed independently from the
// raw rows, through the real service and SQLite store; owners' histories kept apart.

#include <gtest/gtest.h>

#include <future>
#include <map>
#include <random>

#include "../../store/test_util.hpp"
#include "smartproduct/core/clock.hpp"
#include "smartproduct/core/event_bus.hpp"
#include "smartproduct/expr/expr.hpp"
#include "smartproduct/telemetry/csv.hpp"
#include "smartproduct/telemetry/pipeline.hpp"
#include "smartproduct/telemetry/query.hpp"
#include "smartproduct/telemetry/service.hpp"
#include "store/sqlite/repositories/repositories.hpp"
#include "store/sqlite/store.hpp"

namespace sp::telemetry {
namespace {

using nlohmann::json;

json run(const std::vector<std::string>& activities, json message,
         const DeviceAttributes* device = nullptr, bool* kept = nullptr) {
  auto p = Pipeline::compile(activities);
  EXPECT_TRUE(p.has_value()) << (p ? "" : p.error().message);
  expr::Evaluator e;
  bool k = p->apply(message, device, 1000, e);
  if (kept) *kept = k;
  return message;
}

TEST(Pipeline, SeedTransformOnTheSeedSamplePayload) {
  // seed-behaviour.md §5.3 and §15.
  json sample = json::parse(R"({ "createdAt": "2019-05-01T12:43:07-07:00", "deviceId": "SN1",
    "actualTemperature": 45.75, "targetTemperature": 70,
    "sentAt": "2019-05-01T12:43:07-07:00", "timestamp": 1556739787113 })");
  json out = run(Pipeline::default_activities(), sample);
  json expected = sample;
  expected["actualTemperatureC"] = 7.64;
  expected["targetTemperatureC"] = 21.11;
  expected["sentAtUtc"] = "2019-05-01T19:43:07.113Z";
  expected["createdAtUtc"] = "2019-05-01T19:43:07.113Z";
  EXPECT_EQ(out, expected);
  EXPECT_EQ(out.dump().find("7.64,") != std::string::npos, true) << out.dump();

  // The simulator's initial state (71.5 °F), and fields absent: nothing added.
  EXPECT_EQ(run(Pipeline::default_activities(), json{{"actualTemperature", 71.5}}),
            (json{{"actualTemperature", 71.5}, {"actualTemperatureC", 21.94}}));
  EXPECT_EQ(run(Pipeline::default_activities(), json{{"x", 1}}), (json{{"x", 1}}));
  // Freezing point and below zero.
  EXPECT_EQ(
      run(Pipeline::default_activities(), json{{"targetTemperature", 32}})["targetTemperatureC"],
      0);
  EXPECT_EQ(
      run(Pipeline::default_activities(), json{{"targetTemperature", -40}})["targetTemperatureC"],
      -40);
}

TEST(Pipeline, ActivitiesInOrder) {
  DeviceAttributes dev{"Kitchen", "M-1", "user-1", json{{"color", "red"}, {"maxTemp", 90}}};
  bool kept = true;
  run({"filter actualTemperature < 200"}, json{{"actualTemperature", 500}}, nullptr, &kept);
  EXPECT_FALSE(kept);
  run({"filter actualTemperature < 200"}, json{{"x", 1}}, nullptr, &kept);
  EXPECT_FALSE(kept) << "null is false";
  run({"filter actualTemperature < 200"}, json{{"actualTemperature", 50}}, nullptr, &kept);
  EXPECT_TRUE(kept);

  EXPECT_EQ(run({"math double = a * 2", "math a = a + 1"}, json{{"a", 2}}),
            (json{{"a", 3}, {"double", 4}}));
  EXPECT_EQ(run({"enrich deviceName, modelNumber, userId, details.color"}, json{{"a", 1}}, &dev),
            (json{{"a", 1},
                  {"deviceName", "Kitchen"},
                  {"modelNumber", "M-1"},
                  {"userId", "user-1"},
                  {"color", "red"}}));
  EXPECT_EQ(run({"enrich details"}, json::object(), &dev)["details"]["maxTemp"], 90);
  EXPECT_EQ(run({"enrich deviceName"}, json{{"a", 1}}, nullptr), (json{{"a", 1}}))
      << "an unregistered device gets nothing";
  EXPECT_EQ(run({"select a, c"}, json{{"a", 1}, {"b", 2}, {"c", 3}}), (json{{"a", 1}, {"c", 3}}));
  EXPECT_EQ(run({"remove a, c"}, json{{"a", 1}, {"b", 2}, {"c", 3}}), (json{{"b", 2}}));
  EXPECT_EQ(run({"rename a to z"}, json{{"a", 1}, {"b", 2}}), (json{{"b", 2}, {"z", 1}}));
  // Filter after math and enrich: sees their attributes.
  run({"enrich details.maxTemp", "filter t <= maxTemp", "remove maxTemp"}, json{{"t", 95}}, &dev,
      &kept);
  EXPECT_FALSE(kept);
  EXPECT_EQ(run({"enrich details.maxTemp", "filter t <= maxTemp", "remove maxTemp"},
                json{{"t", 85}}, &dev),
            (json{{"t", 85}}));
}

TEST(Pipeline, ConfigErrorsHavePositions) {
  struct Case {
    std::vector<std::string> activities;
    std::size_t index, offset;
    const char* fragment;
  };
  const Case cases[] = {
      {{"math x = 1", "frobnicate a"}, 1, 0, "unknown activity 'frobnicate'"},
      {{"math x = (1 +"}, 0, 13, "unexpected end"},
      {{"math = 1"}, 0, 5, "expected the attribute name"},
      {{"math x 1"}, 0, 7, "expected '='"},
      {{"filter a >< 2"}, 0, 10, "unexpected '<'"},
      {{"enrich deviceName, password"}, 0, 19, "enrich adds"},
      {{"select a,"}, 0, 9, "expected an attribute name"},
      {{"rename a b"}, 0, 9, "expected 'to'"},
      {{"  filter nope("}, 0, 9, "unknown function 'nope'"},
  };
  for (const auto& c : cases) {
    auto p = Pipeline::compile(c.activities);
    ASSERT_FALSE(p.has_value()) << c.activities.back();
    EXPECT_EQ(p.error().index, c.index) << c.activities.back();
    EXPECT_EQ(p.error().offset, c.offset) << c.activities.back() << ": " << p.error().message;
    EXPECT_NE(p.error().message.find(c.fragment), std::string::npos) << p.error().message;
  }
}

class ManualClock final : public Clock {
 public:
  int64_t now_ms() const override { return now; }
  int64_t now = 0;
};

class TelemetryStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = sqlite::open_store(
        sqlite::StoreConfig{dir_.path(), 2000, 64, sqlite::Synchronous::kNormal});
    ASSERT_TRUE(store) << store.error().detail;
    store_ = std::move(*store);
    repo_ = sqlite::make_telemetry_repository(store_->telemetry_ptr());
    reader_ = sqlite::make_telemetry_reader(store_->telemetry_ptr());
    service_ = std::make_unique<TelemetryService>(IngestConfig{"smartproduct/telemetry", 4096},
                                                  *repo_, clock_, bus_);
    service_->set_device_lookup([this](const std::string& id) -> std::optional<DeviceAttributes> {
      auto it = owners_.find(id);
      if (it == owners_.end()) return std::nullopt;
      return DeviceAttributes{"name", "model", it->second, json::object()};
    });
  }

  void ingest(const std::string& device, const json& body) { ingest_text(device, body.dump()); }
  void ingest_text(const std::string& device, const std::string& payload) {
    std::promise<bool> done;
    service_->ingest("smartproduct/telemetry/" + device, payload,
                     [&done](bool ok) { done.set_value(ok); });
    ASSERT_TRUE(done.get_future().get());
  }

  sqlite::test::TempDir dir_;
  std::unique_ptr<sqlite::Store> store_;
  std::unique_ptr<store::TelemetryRepository> repo_;
  std::unique_ptr<store::TelemetryReader> reader_;
  ManualClock clock_;
  EventBus bus_;
  std::unique_ptr<TelemetryService> service_;
  std::map<std::string, std::string> owners_;
};

TEST_F(TelemetryStoreTest, RollupsMatchValuesComputedFromRawRows) {
  owners_["SN1"] = "alice";
  const int64_t base = 1795819080000;  // 2026-11-27T... a whole minute
  clock_.now = base + 3 * 3600000;
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> temp(50, 90);
  std::uniform_int_distribution<int64_t> jitter(0, 3 * 3600000 - 1);
  // 600 samples over three hours, in random order, some without targetTemperature; a few
  // redeliveries that must not count twice.
  std::vector<json> sent;
  for (int i = 0; i < 600; ++i) {
    json m = {{"timestamp", base + jitter(rng)},
              {"actualTemperature", std::round(temp(rng) * 100) / 100},
              {"seq", i}};
    if (i % 3) m["targetTemperature"] = 70 + i % 5;
    sent.push_back(m);
    ingest("SN1", m);
    if (i % 100 == 0) ingest("SN1", m);  // redelivered: a duplicate
  }
  EXPECT_EQ(service_->counters().duplicates, 6u);

  // Independently: from the raw rows as read back (the enriched messages).
  store::TelemetryReader::RawQuery rq{"SN1",        std::nullopt, base - 1, base + 4 * 3600000,
                                      std::nullopt, 10000};
  auto raw = reader_->raw(rq);
  ASSERT_TRUE(raw);
  ASSERT_EQ(raw->size(), 600u);
  struct Acc {
    int64_t count = 0;
    double sum = 0, min = 1e300, max = -1e300;
    int64_t first_t = INT64_MAX, last_t = INT64_MIN;
    double first = 0, last = 0;
  };
  std::map<std::pair<int64_t, std::string>, Acc> by_minute, by_hour;
  for (const auto& r : *raw) {
    json b = json::parse(r.payload);
    for (auto field = b.begin(); field != b.end(); ++field) {
      // Every numeric attribute but the device's timestamp is rolled up.
      if (!field->is_number() || field.key() == "timestamp") continue;
      const std::string f = field.key();
      const double v = b[f].get<double>();
      for (auto [width, map] :
           {std::pair{int64_t{60000}, &by_minute}, std::pair{int64_t{3600000}, &by_hour}}) {
        Acc& a = (*map)[{r.t_ms / width * width, f}];
        a.count++;
        a.sum += v;
        a.min = std::min(a.min, v);
        a.max = std::max(a.max, v);
        if (r.t_ms < a.first_t) {
          a.first_t = r.t_ms;
          a.first = v;
        }
        if (r.t_ms >= a.last_t) {
          a.last_t = r.t_ms;
          a.last = v;
        }
      }
    }
  }
  auto check = [&](Interval interval, const std::map<std::pair<int64_t, std::string>, Acc>& want) {
    SeriesQuery q;
    q.device_id = "SN1";
    q.owner = "alice";
    q.from_ms = base;
    q.to_ms = base + 4 * 3600000;
    q.interval = interval;
    q.aggs = {"avg", "min", "max", "count", "first", "last", "sum"};
    q.limit = 10000;
    auto page = query_series(*reader_, q);
    ASSERT_TRUE(page);
    std::size_t cells = 0;
    for (const auto& pt : page->points) {
      const int64_t t = pt["t"];
      for (auto it = pt.begin(); it != pt.end(); ++it) {
        if (it.key() == "t") continue;
        auto w = want.find({t, it.key()});
        ASSERT_NE(w, want.end()) << t << " " << it.key();
        const Acc& a = w->second;
        const json& got = it.value();
        EXPECT_EQ(got["count"], a.count);
        EXPECT_NEAR(got["sum"].get<double>(), a.sum, 1e-6);
        EXPECT_NEAR(got["avg"].get<double>(), a.sum / a.count, 1e-9);
        EXPECT_EQ(got["min"], a.min);
        EXPECT_EQ(got["max"], a.max);
        EXPECT_EQ(got["first"], a.first);
        EXPECT_EQ(got["last"], a.last);
        ++cells;
      }
    }
    EXPECT_EQ(cells, want.size());
  };
  check(Interval::kMinute, by_minute);
  check(Interval::kHour, by_hour);

  // 1d from hours: one day bucket holding everything.
  SeriesQuery q{"SN1",
                "alice",
                base - 86400000,
                base + 86400000,
                Interval::kDay,
                {"actualTemperature"},
                {"count", "min"},
                10,
                std::nullopt};
  auto day = query_series(*reader_, q);
  ASSERT_TRUE(day);
  int64_t total = 0;
  for (const auto& pt : day->points) total += pt["actualTemperature"]["count"].get<int64_t>();
  EXPECT_EQ(total, 600);

  // Paging: 2 buckets per page walk every minute bucket once.
  SeriesQuery pq{
      "SN1",     "alice", base,        base + 4 * 3600000, Interval::kMinute, {"actualTemperature"},
      {"count"}, 2,       std::nullopt};
  int64_t paged = 0;
  std::set<int64_t> buckets;
  for (int pages = 0; pages < 1000; ++pages) {
    auto page = query_series(*reader_, pq);
    ASSERT_TRUE(page);
    EXPECT_LE(page->points.size(), 2u);
    for (const auto& pt : page->points) {
      EXPECT_TRUE(buckets.insert(pt["t"].get<int64_t>()).second);
      paged += pt["actualTemperature"]["count"].get<int64_t>();
    }
    if (!page->next) break;
    pq.after = page->next;
  }
  EXPECT_EQ(paged, 600);
}

TEST_F(TelemetryStoreTest, ANewOwnerDoesNotSeeThePreviousOwnersHistory) {
  const int64_t base = 1795819080000;
  clock_.now = base + 60000;
  owners_["SN1"] = "alice";
  ingest("SN1", json{{"timestamp", base + 1000}, {"v", 1}});
  owners_["SN1"] = "bob";
  service_->forget("SN1");  // what DeviceRegistered / DeviceDeleted do in the daemon
  ingest("SN1", json{{"timestamp", base + 2000}, {"v", 2}});
  owners_.erase("SN1");
  service_->forget("SN1");
  ingest("SN1", json{{"timestamp", base + 3000}, {"v", 3}});  // unregistered: nobody's

  auto values = [&](std::optional<std::string> owner, Interval interval) {
    SeriesQuery q{"SN1", owner,       base, base + 3600000, interval, {"v"}, {"count", "sum"},
                  100,   std::nullopt};
    auto page = query_series(*reader_, q);
    EXPECT_TRUE(page);
    std::vector<double> out;
    for (const auto& pt : page->points) {
      if (interval == Interval::kRaw)
        out.push_back(pt["v"].get<double>());
      else
        out.push_back(pt["v"]["sum"].get<double>());
    }
    return out;
  };
  EXPECT_EQ(values("alice", Interval::kRaw), std::vector<double>{1});
  EXPECT_EQ(values("bob", Interval::kRaw), std::vector<double>{2});
  EXPECT_EQ(values(std::nullopt, Interval::kRaw), (std::vector<double>{1, 2, 3}));
  EXPECT_EQ(values("alice", Interval::kMinute), std::vector<double>{1});
  EXPECT_EQ(values("bob", Interval::kHour), std::vector<double>{2});
  EXPECT_EQ(values(std::nullopt, Interval::kMinute), std::vector<double>{6});
  auto latest = query_latest(*reader_, "SN1", std::string("bob"));
  ASSERT_TRUE(latest);
  EXPECT_EQ(latest->fields["v"]["value"], 2);
}

TEST_F(TelemetryStoreTest, FilteredMessagesAreAcknowledgedNotStored) {
  service_->set_pipeline(*Pipeline::compile({"filter v > 0"}));
  clock_.now = 1795819080000;
  ingest("SN1", json{{"v", -1}, {"seq", 1}});
  ingest("SN1", json{{"v", 1}, {"seq", 2}});
  EXPECT_EQ(service_->filtered(), 1u);
  EXPECT_EQ(*repo_->count("SN1"), 1);
}

// Every piece of an export, concatenated; `pieces` counts them.
std::string export_all(CsvExport& csv, int* pieces = nullptr) {
  std::string all;
  for (int n = 1;; ++n) {
    std::string piece;
    auto more = csv.next(piece);
    EXPECT_TRUE(more);
    all += piece;
    if (!more || !*more) {
      if (pieces) *pieces = n;
      return all;
    }
  }
}

TEST_F(TelemetryStoreTest, CsvIsTheSameWhateverThePageSize) {
  owners_["SN1"] = "alice";
  const int64_t base = 1795819080000;
  clock_.now = base + 60000;
  // Two samples share a time (keyset paging on (t, id) must keep both), and cells that need
  // quoting or formula neutralising.
  ingest("SN1", json{{"timestamp", base + 1}, {"a", 1.5}, {"s", "x,y"}});
  ingest("SN1", json{{"timestamp", base + 2}, {"a", 2}, {"s", "=SUM(A1)"}, {"b", true}});
  ingest("SN1", json{{"timestamp", base + 2}, {"a", 3}, {"s", "say \"hi\""}});
  for (int i = 3; i < 23; ++i) ingest("SN1", json{{"timestamp", base + i}, {"a", i}});

  SeriesQuery q;
  q.device_id = "SN1";
  q.owner = "alice";
  q.from_ms = base;
  q.to_ms = base + 60000;
  CsvExport whole(*reader_, q, std::nullopt);
  int pieces = 0;
  const std::string text = export_all(whole, &pieces);
  EXPECT_EQ(pieces, 1);
  // The default pipeline adds createdAtUtc and sentAtUtc.
  auto iso = [](int64_t t) {
    std::string out;
    expr::iso_utc(static_cast<double>(t), out);
    return out;
  };
  const std::string t1 = std::to_string(base + 1), t2 = std::to_string(base + 2);
  const std::string i1 = iso(base + 1), i2 = iso(base + 2);
  const std::string head = "t,time,a,b,createdAtUtc,s,sentAtUtc,timestamp\r\n" + t1 + "," + i1 +
                           ",1.5,," + i1 + ",\"x,y\"," + i1 + "," + t1 + "\r\n" + t2 + "," + i2 +
                           ",2,true," + i2 + ",\"'=SUM(A1)\"," + i2 + "," + t2 + "\r\n" + t2 + "," +
                           i2 + ",3,," + i2 + ",\"say \"\"hi\"\"\"," + i2 + "," + t2 + "\r\n";
  EXPECT_EQ(text.substr(0, head.size()), head);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 24);

  // Pages of 2 (the columns named: they come from the first page otherwise): the same bytes.
  q.fields = {"a", "b", "createdAtUtc", "s", "sentAtUtc", "timestamp"};
  CsvExport paged(*reader_, q, std::nullopt, 2);
  EXPECT_EQ(export_all(paged, &pieces), text);
  EXPECT_EQ(pieces, 12);
  EXPECT_FALSE(paged.rest());

  // A limit cuts it short and says where the rest starts; starting there gives the rest.
  CsvExport first(*reader_, q, 10, 4);
  const std::string part = export_all(first);
  ASSERT_TRUE(first.rest());
  q.after = first.rest();
  CsvExport rest(*reader_, q, std::nullopt, 5);
  const std::string tail = export_all(rest);
  const std::string rest_rows = tail.substr(tail.find("\r\n") + 2);
  EXPECT_EQ(part + rest_rows, text);
  EXPECT_EQ(std::count(part.begin(), part.end(), '\n'), 11);
}

TEST_F(TelemetryStoreTest, StoredTextIsTheDevicesTextWithThePipelinesAttributesAppended) {
  const int64_t t = 1795819080000;
  clock_.now = t;
  // The seed's transform only adds attributes: the device's text is kept (its spacing, order and
  // escapes) and what the pipeline computed follows, in the pipeline's order.
  const std::string sent =
      R"({ "timestamp": 1795819080000, "actualTemperature": 50, "note": "caf\u00e9" } )";
  ingest_text("SN1", sent);
  // The device sends an attribute the pipeline computes: the pipeline's value replaces it, once.
  ingest_text("SN2",
              R"({"timestamp":1795819080000,"actualTemperature":50,"actualTemperatureC":99})");
  auto stored = [&](const std::string& device) {
    store::TelemetryReader::RawQuery rq{device, std::nullopt, t - 1, t + 1, std::nullopt, 10};
    auto raw = reader_->raw(rq);
    EXPECT_TRUE(raw && raw->size() == 1u);
    return raw && raw->size() == 1u ? (*raw)[0].payload : std::string();
  };
  EXPECT_EQ(stored("SN1"),
            R"({ "timestamp": 1795819080000, "actualTemperature": 50, "note": "caf\u00e9" ,)"
            R"("actualTemperatureC":10,"sentAtUtc":"2026-11-27T22:38:00.000Z",)"
            R"("createdAtUtc":"2026-11-27T22:38:00.000Z"} )");
  EXPECT_EQ(json::parse(stored("SN1"))["note"], "caf\u00e9");
  const json sn2 = json::parse(stored("SN2"));
  EXPECT_EQ(sn2["actualTemperatureC"], 10.0);
  EXPECT_EQ(stored("SN2").find("99"), std::string::npos) << stored("SN2");
}

TEST(AppendAttributes, AfterTheLastMemberOrAsTheFirst) {
  const json body = {{"a", 1}, {"x", 2}, {"y", "s"}};
  EXPECT_EQ(append_attributes(R"({"a":1})", body, {"x", "z", "y"}, false),
            R"({"a":1,"x":2,"y":"s"})");
  EXPECT_EQ(append_attributes("{ }\n", body, {"x"}, true), "{ \"x\":2}\n");
  EXPECT_EQ(append_attributes(R"({"a":1})", body, {"z"}, false), R"({"a":1})");
  // A byte order mark is dropped: SQLite's json functions refuse a text that starts with one.
  EXPECT_EQ(append_attributes("\xEF\xBB\xBF{\"a\":1}", body, {"x"}, false), R"({"a":1,"x":2})");
}

TEST(SampleTime, DeviceTimestampOnlyWhenPlausible) {
  const int64_t now = 1795819080000;
  EXPECT_EQ(sample_time(now - 5000, now), now - 5000);
  EXPECT_EQ(sample_time(std::nullopt, now), now);
  EXPECT_EQ(sample_time(1000, now), now);               // 1970: a device without a clock
  EXPECT_EQ(sample_time(now + 2 * 3600000, now), now);  // far in the future
}

TEST(ParseTime, EpochAndIso) {
  EXPECT_EQ(parse_time("1556739787113"), 1556739787113);
  EXPECT_EQ(parse_time("2019-05-01T19:43:07.113Z"), 1556739787113);
  EXPECT_EQ(parse_time("2019-05-01T19:43:07Z"), 1556739787000);
  EXPECT_FALSE(parse_time("2019-02-29T00:00:00Z"));
  EXPECT_FALSE(parse_time("2019-05-01T19:43:07+02:00"));
  EXPECT_FALSE(parse_time("-5"));
  EXPECT_FALSE(parse_time("99999999999999999999"));
}

}  // namespace
}  // namespace sp::telemetry
