// The ingest spool: record encoding and parsing (torn records, CRC), the writer's segments,
// roll and quota.

#include "smartproduct/broker/spool.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

namespace sp::spool {
namespace {

namespace fs = std::filesystem;

Record sample(std::uint64_t seq = 7) {
  Record r;
  r.seq = seq;
  r.received_ms = 1795815971546;
  r.qos = 1;
  r.retain = false;
  r.client_id = "SN0001";
  r.topic = "smartproduct/telemetry/SN0001";
  r.properties = std::string("application/json\0", 17);
  r.payload = R"({"actualTemperature":21.5,"timestamp":1795815971000})";
  return r;
}

void expect_same(const Record& a, const Record& b) {
  EXPECT_EQ(a.seq, b.seq);
  EXPECT_EQ(a.received_ms, b.received_ms);
  EXPECT_EQ(a.qos, b.qos);
  EXPECT_EQ(a.retain, b.retain);
  EXPECT_EQ(a.client_id, b.client_id);
  EXPECT_EQ(a.topic, b.topic);
  EXPECT_EQ(a.properties, b.properties);
  EXPECT_EQ(a.payload, b.payload);
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = (fs::temp_directory_path() / "sp-spool-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() { fs::remove_all(path_); }
  const fs::path& path() const { return path_; }

 private:
  fs::path path_;
};

TEST(SpoolCrc, MatchesTheCrc32cCheckValue) {
  // RFC 3720 / the catalogue of CRCs: CRC-32C("123456789") = 0xE3069283.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c_portable("123456789", 9), 0xE3069283u);
  // The instruction path (8 bytes at a time, then the tail) and the table agree on every length
  // and alignment, and when continued from a previous value.
  std::string data;
  for (int i = 0; i < 300; ++i) data.push_back(static_cast<char>(i * 131 + 7));
  for (std::size_t start = 0; start < 8; ++start) {
    for (std::size_t len = 0; start + len <= data.size(); len += 13) {
      ASSERT_EQ(crc32c(data.data() + start, len), crc32c_portable(data.data() + start, len))
          << start << " " << len;
      ASSERT_EQ(crc32c(data.data() + start, len, 0x1234u),
                crc32c_portable(data.data() + start, len, 0x1234u));
    }
  }
}

TEST(SpoolRecord, RoundTrips) {
  const auto r = sample();
  const auto bytes = encode_record(r);
  auto p = parse_record(bytes);
  ASSERT_EQ(p.status, ParseStatus::kOk);
  EXPECT_EQ(p.consumed, bytes.size());
  expect_same(p.record, r);
}

TEST(SpoolRecord, RoundTripsEmptyFieldsAndRetain) {
  Record r;
  r.seq = 1;
  r.retain = true;
  r.qos = 0;
  const auto bytes = encode_record(r);
  auto p = parse_record(bytes);
  ASSERT_EQ(p.status, ParseStatus::kOk);
  expect_same(p.record, r);
}

TEST(SpoolRecord, EveryProperPrefixNeedsMore) {
  const auto bytes = encode_record(sample());
  for (std::size_t n = 0; n < bytes.size(); ++n) {
    EXPECT_EQ(parse_record(std::string_view(bytes).substr(0, n)).status, ParseStatus::kNeedMore)
        << "prefix of " << n << " bytes";
  }
}

TEST(SpoolRecord, EveryFlippedBitIsCorruptOrIncomplete) {
  // A flipped bit in the length may make the record look longer (need more); anywhere else the
  // magic, the CRC or the field lengths catch it. Never a different record.
  const auto bytes = encode_record(sample());
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      std::string b = bytes;
      b[i] = static_cast<char>(b[i] ^ (1 << bit));
      const auto st = parse_record(b).status;
      EXPECT_NE(st, ParseStatus::kOk) << "byte " << i << " bit " << bit;
    }
  }
}

TEST(SpoolRecord, InconsistentFieldLengthsAreCorruptEvenWithAGoodCrc) {
  auto bytes = encode_record(sample());
  // Topic length +1 (and payload length unchanged): the sum no longer matches the body length.
  bytes[12 + 20] = static_cast<char>(bytes[12 + 20] + 1);
  const std::uint32_t crc = crc32c(bytes.data() + 12, bytes.size() - 12);
  for (int i = 0; i < 4; ++i) bytes[8 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
  EXPECT_EQ(parse_record(bytes).status, ParseStatus::kCorrupt);
}

TEST(SpoolRecord, GarbageIsCorrupt) {
  EXPECT_EQ(parse_record("XXXXXXXXXXXXXXXXXXXXXXXX").status, ParseStatus::kCorrupt);
  EXPECT_EQ(parse_record("X").status, ParseStatus::kCorrupt);
  // A body length beyond the limit is corrupt, not "need more" (would wait forever).
  std::string huge = encode_record(sample());
  huge[7] = static_cast<char>(0x7f);
  EXPECT_EQ(parse_record(huge).status, ParseStatus::kCorrupt);
}

TEST(SpoolRecord, ParsesConsecutiveRecords) {
  const auto a = encode_record(sample(1));
  const auto b = encode_record(sample(2));
  const std::string both = a + b;
  auto p1 = parse_record(both);
  ASSERT_EQ(p1.status, ParseStatus::kOk);
  auto p2 = parse_record(std::string_view(both).substr(p1.consumed));
  ASSERT_EQ(p2.status, ParseStatus::kOk);
  EXPECT_EQ(p1.record.seq, 1u);
  EXPECT_EQ(p2.record.seq, 2u);
}

TEST(SpoolSegments, NamesSortAndForeignFilesAreIgnored) {
  TempDir d;
  for (std::uint64_t n : {10u, 2u, 1u}) std::ofstream(d.path() / segment_file_name(n)) << "x";
  std::ofstream(d.path() / "notes.txt") << "x";
  std::ofstream(d.path() / "seg-0000000000000000000x.spool") << "x";
  EXPECT_EQ(list_segments(d.path().string()), (std::vector<std::uint64_t>{1, 2, 10}));
  EXPECT_EQ(segment_file_name(3), "seg-00000000000000000003.spool");
}

std::vector<Record> read_segment(const fs::path& file, std::uint64_t number,
                                 std::string* rest = nullptr) {
  const auto data = read_file(file);
  EXPECT_TRUE(valid_segment_header(data, number));
  std::vector<Record> out;
  std::size_t at = kSegmentHeaderBytes;
  for (;;) {
    auto p = parse_record(std::string_view(data).substr(at));
    if (p.status != ParseStatus::kOk) break;
    out.push_back(p.record);
    at += p.consumed;
  }
  if (rest) *rest = data.substr(at);
  return out;
}

TEST(SpoolWriter, AppendsNumberedRecordsAndStartsANewSegmentEachOpen) {
  TempDir d;
  {
    Writer w({d.path().string(), 1 << 20, 1 << 30});
    ASSERT_EQ(w.open(), "");
    EXPECT_EQ(w.current_segment(), 1u);
    for (int i = 0; i < 3; ++i) ASSERT_EQ(w.append(sample(99)), AppendStatus::kOk);
    EXPECT_TRUE(w.sync());
  }
  Writer w2({d.path().string(), 1 << 20, 1 << 30});
  ASSERT_EQ(w2.open(), "");
  EXPECT_EQ(w2.current_segment(), 2u);  // never appends after a possibly torn tail
  ASSERT_EQ(w2.append(sample()), AppendStatus::kOk);
  const auto first = read_segment(d.path() / segment_file_name(1), 1);
  ASSERT_EQ(first.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(first[i].seq, i + 1);  // the writer numbers them
  const auto second = read_segment(d.path() / segment_file_name(2), 2);
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].seq, 1u);
}

TEST(SpoolWriter, RollsBySize) {
  TempDir d;
  const auto one = encode_record(sample()).size();
  Writer w({d.path().string(), kSegmentHeaderBytes + 2 * one, 1 << 30});
  ASSERT_EQ(w.open(), "");
  for (int i = 0; i < 5; ++i) ASSERT_EQ(w.append(sample()), AppendStatus::kOk);
  EXPECT_EQ(list_segments(d.path().string()), (std::vector<std::uint64_t>{1, 2, 3}));
  EXPECT_EQ(read_segment(d.path() / segment_file_name(1), 1).size(), 2u);
  EXPECT_EQ(read_segment(d.path() / segment_file_name(2), 2).size(), 2u);
  EXPECT_EQ(read_segment(d.path() / segment_file_name(3), 3).size(), 1u);
  EXPECT_TRUE(w.sync());
}

TEST(SpoolWriter, RefusesAboveTheQuotaAndAcceptsAgainOnceSegmentsAreDeleted) {
  TempDir d;
  const auto one = encode_record(sample()).size();
  Writer w({d.path().string(), kSegmentHeaderBytes + 2 * one, 2 * (kSegmentHeaderBytes + 2 * one)});
  ASSERT_EQ(w.open(), "");
  int ok = 0;
  AppendStatus st = AppendStatus::kOk;
  while ((st = w.append(sample())) == AppendStatus::kOk) ++ok;
  EXPECT_EQ(st, AppendStatus::kQuotaExceeded);
  EXPECT_TRUE(w.quota_exceeded());
  EXPECT_EQ(ok, 4);  // two full segments: a 5th record would exceed the quota
  // The refusal sealed segment 2 (a new, empty segment 3), so the daemon can finish it.
  EXPECT_EQ(list_segments(d.path().string()), (std::vector<std::uint64_t>{1, 2, 3}));
  // The daemon consumed and deleted segments 1 and 2; the writer notices on a rescan (<= 100 ms).
  fs::remove(d.path() / segment_file_name(1));
  fs::remove(d.path() / segment_file_name(2));
  ::usleep(150 * 1000);
  EXPECT_EQ(w.append(sample()), AppendStatus::kOk);
  EXPECT_FALSE(w.quota_exceeded());
}

TEST(SpoolWriter, ATornTailIsDetectedAndEarlierRecordsSurvive) {
  TempDir d;
  {
    Writer w({d.path().string(), 1 << 20, 1 << 30});
    ASSERT_EQ(w.open(), "");
    for (int i = 0; i < 3; ++i) ASSERT_EQ(w.append(sample()), AppendStatus::kOk);
  }
  // A broker killed inside write(): the last record is cut short.
  const auto file = d.path() / segment_file_name(1);
  fs::resize_file(file, fs::file_size(file) - 5);
  std::string rest;
  const auto recs = read_segment(file, 1, &rest);
  EXPECT_EQ(recs.size(), 2u);
  EXPECT_FALSE(rest.empty());
  EXPECT_EQ(parse_record(rest).status, ParseStatus::kNeedMore);
}

TEST(SpoolWriter, FailsToOpenAnUnwritableDirectory) {
  TempDir d;
  const auto file = d.path() / "file";
  std::ofstream(file) << "x";
  Writer w({(file / "spool").string(), 1 << 20, 1 << 30});
  EXPECT_NE(w.open(), "");
}

}  // namespace
}  // namespace sp::spool
