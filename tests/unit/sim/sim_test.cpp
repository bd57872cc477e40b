#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "ack_log.hpp"
#include "backoff.hpp"
#include "device_set.hpp"
#include "payload.hpp"
#include "temperature_model.hpp"

namespace fs = std::filesystem;
using namespace sp::sim;

namespace {

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sp-sim-test-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

std::string read_all(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST(DeviceSet, SerialValidation) {
  EXPECT_TRUE(is_valid_serial("SIM-00001"));
  EXPECT_TRUE(is_valid_serial("a_b:C-9"));
  EXPECT_FALSE(is_valid_serial(""));
  EXPECT_FALSE(is_valid_serial("../etc"));
  EXPECT_FALSE(is_valid_serial("a/b"));
  EXPECT_FALSE(is_valid_serial("a+b"));
  EXPECT_FALSE(is_valid_serial("a#"));
  EXPECT_FALSE(is_valid_serial("a b"));
  EXPECT_FALSE(is_valid_serial(std::string(129, 'a')));
  EXPECT_TRUE(is_valid_serial(std::string(128, 'a')));
}

TEST(DeviceSet, MakeSerialsPadsToFiveDigits) {
  EXPECT_EQ(make_serial("SIM-", 1), "SIM-00001");
  EXPECT_EQ(make_serial("X", 123456), "X123456");
  auto s = make_serials("SIM-", 3);
  EXPECT_EQ(s, (std::vector<std::string>{"SIM-00001", "SIM-00002", "SIM-00003"}));
  EXPECT_THROW(make_serials("bad/", 1), std::invalid_argument);
  EXPECT_THROW(make_serials("SIM-", 0), std::invalid_argument);
}

TEST(DeviceSet, ParseSerialList) {
  EXPECT_EQ(parse_serial_list(" A1, B2 ,C3,"), (std::vector<std::string>{"A1", "B2", "C3"}));
  EXPECT_THROW(parse_serial_list("A1,A1"), std::invalid_argument);
  EXPECT_THROW(parse_serial_list("A1,../x"), std::invalid_argument);
  EXPECT_THROW(parse_serial_list(" , "), std::invalid_argument);
}

TEST(DeviceSet, MissingCredentials) {
  TempDir dir;
  std::ofstream(dir.path() / "A.crt") << "x";
  std::ofstream(dir.path() / "A.key") << "x";
  std::ofstream(dir.path() / "B.crt") << "x";  // key missing
  auto ids = identities_in(dir.path(), {"A", "B", "C"});
  ASSERT_EQ(ids.size(), 3U);
  EXPECT_EQ(ids[0].cert, dir.path() / "A.crt");
  EXPECT_EQ(ids[0].key, dir.path() / "A.key");
  EXPECT_EQ(missing_credentials(ids), (std::vector<std::string>{"B", "C"}));
}

TEST(Backoff, GrowsExponentiallyWithJitterAndCaps) {
  Backoff b(std::chrono::milliseconds(100), std::chrono::milliseconds(1000), 42);
  const std::int64_t ceilings[] = {100, 200, 400, 800, 1000, 1000, 1000};
  for (auto ceiling : ceilings) {
    auto d = b.next().count();
    EXPECT_GE(d, ceiling / 2);
    EXPECT_LE(d, ceiling);
  }
  b.reset();
  auto d = b.next().count();
  EXPECT_GE(d, 50);
  EXPECT_LE(d, 100);
}

TEST(Backoff, JitterSpreadsAFleet) {
  std::set<std::int64_t> first_delays;
  for (unsigned seed = 0; seed < 50; ++seed) {
    Backoff b(std::chrono::milliseconds(1000), std::chrono::milliseconds(30000), seed);
    first_delays.insert(b.next().count());
  }
  EXPECT_GT(first_delays.size(), 25U);
}

TEST(Backoff, ManyAttemptsDoNotOverflow) {
  Backoff b(std::chrono::milliseconds(500), std::chrono::milliseconds(30000), 1);
  for (int i = 0; i < 200; ++i) {
    auto d = b.next().count();
    ASSERT_GE(d, 250);
    ASSERT_LE(d, 30000);
  }
}

TEST(Payload, SmallIsCompactJsonWithAllFields) {
  TelemetrySample s{12345, 1700000000123, 71.5, 72.25};
  auto text = make_telemetry_payload(PayloadKind::kSmall, "SIM-00001", s);
  EXPECT_LE(text.size(), 110U);
  EXPECT_GE(text.size(), 80U);
  auto j = nlohmann::json::parse(text);
  EXPECT_EQ(j["seq"], 12345);
  EXPECT_EQ(j["timestamp"], 1700000000123);
  EXPECT_DOUBLE_EQ(j["actualTemperature"].get<double>(), 71.5);
  EXPECT_DOUBLE_EQ(j["targetTemperature"].get<double>(), 72.25);
  EXPECT_FALSE(j.contains("deviceId"));
}

TEST(Payload, SeedHasTheSeedKeys) {
  TelemetrySample s{7, 1556739787113, 45.75, 70};
  auto j = nlohmann::json::parse(make_telemetry_payload(PayloadKind::kSeed, "SN1", s));
  EXPECT_EQ(j["deviceId"], "SN1");
  EXPECT_EQ(j["timestamp"], 1556739787113);
  EXPECT_EQ(j["seq"], 7);
  EXPECT_DOUBLE_EQ(j["actualTemperature"].get<double>(), 45.75);
  EXPECT_TRUE(j["createdAt"].is_string());
  EXPECT_EQ(j["createdAt"], j["sentAt"]);
}

TEST(Payload, IsoLocalWithOffset) {
  ::setenv("TZ", "America/Los_Angeles", 1);
  ::tzset();
  EXPECT_EQ(iso_local_with_offset(1556739787113), "2019-05-01T12:43:07-07:00");
  ::setenv("TZ", "UTC", 1);
  ::tzset();
  EXPECT_EQ(iso_local_with_offset(1556739787113), "2019-05-01T19:43:07+00:00");
}

TEST(TemperatureModel, SeedPhysics) {
  TemperatureModel m(3);
  EXPECT_DOUBLE_EQ(m.actual(), 71.5);
  EXPECT_EQ(m.power(), PowerStatus::kOff);
  for (int i = 0; i < 20; ++i) {
    double before = m.actual();
    double after = m.step();
    EXPECT_DOUBLE_EQ(std::abs(after - before), 0.5);
  }
  m.set_power(PowerStatus::kHeat);
  double before = m.actual();
  m.step();
  m.step();
  EXPECT_DOUBLE_EQ(m.actual(), before + 1.0);
  m.set_power(PowerStatus::kAc);
  m.step();
  EXPECT_DOUBLE_EQ(m.actual(), before + 0.5);
  EXPECT_EQ(to_string(PowerStatus::kHeat), "HEAT");
}

TEST(AckLog, WritersAppendWholeLinesAndFlushOnDestruction) {
  TempDir dir;
  auto path = dir.path() / "acks.log";
  {
    auto file = std::make_shared<AckLogFile>(path.string());
    AckLogWriter a(file, std::chrono::hours(1));
    AckLogWriter b(file, std::chrono::hours(1));
    a.record("SIM-00001", 1);
    b.record("SIM-00002", 1);
    a.record("SIM-00001", 2);
    // Nothing flushed yet: the interval is an hour and the buffers are small.
    EXPECT_EQ(read_all(path), "");
    a.flush();
    EXPECT_EQ(read_all(path), "SIM-00001 1\nSIM-00001 2\n");
  }
  EXPECT_EQ(read_all(path), "SIM-00001 1\nSIM-00001 2\nSIM-00002 1\n");
}

TEST(AckLog, MaybeFlushHonoursTheInterval) {
  TempDir dir;
  auto path = dir.path() / "acks.log";
  auto file = std::make_shared<AckLogFile>(path.string());
  AckLogWriter w(file, std::chrono::milliseconds(100));
  w.record("A", 9);
  auto now = std::chrono::steady_clock::now();
  w.maybe_flush(now);
  EXPECT_EQ(read_all(path), "");
  w.maybe_flush(now + std::chrono::milliseconds(200));
  EXPECT_EQ(read_all(path), "A 9\n");
}

TEST(AckLog, UnwritablePathThrows) {
  EXPECT_THROW(AckLogFile("/nonexistent-dir/x/acks.log"), std::runtime_error);
}
