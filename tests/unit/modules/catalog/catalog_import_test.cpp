// Catalog import files: RFC 4180 CSV and JSON lines, validation of every row, and row numbers.

#include <gtest/gtest.h>

#include "smartproduct/catalog/import.hpp"

namespace sp::catalog {
namespace {

ParsedImport csv(std::string_view text) { return parse_import(text, ImportFormat::kCsv); }
ParsedImport jsonl(std::string_view text) { return parse_import(text, ImportFormat::kJsonLines); }

TEST(CatalogImport, CsvQuotedDetailsWithEmbeddedCommasAndNewlines) {
  auto p =
      csv("deviceId,modelNumber,details,claimCode\r\n"
          "SN-001,25HNB9,\"{\"\"model\"\":\"\"INFINITY 19, HEAT PUMP\"\"}\",ABCD-1234\r\n"
          "SN-002,25HNB9,\"{\"\"note\"\":\"\"a,b\"\",\n\"\"n\"\":1}\",\r\n"
          "SN-003,25HNB9,,\n");
  ASSERT_TRUE(p.fatal.empty()) << p.fatal;
  ASSERT_TRUE(p.errors.empty()) << p.errors[0].message;
  ASSERT_EQ(p.entries.size(), 3u);
  EXPECT_EQ(p.rows, 3u);
  EXPECT_EQ(p.entries[0].device_id, "SN-001");
  EXPECT_EQ(p.entries[0].details["model"], "INFINITY 19, HEAT PUMP");
  EXPECT_EQ(p.entries[0].claim_code, "ABCD-1234");
  // The line break inside the quoted field is JSON whitespace between two members.
  EXPECT_EQ(p.entries[1].details["n"], 1);
  EXPECT_FALSE(p.entries[1].claim_code.has_value());
  EXPECT_EQ(p.entries[2].details, nlohmann::json::object());
}

TEST(CatalogImport, CsvHeaderInAnyOrderWithoutClaimCode) {
  auto p = csv("modelNumber,details,deviceId\nM1,{},D1\n");
  ASSERT_TRUE(p.fatal.empty()) << p.fatal;
  ASSERT_EQ(p.entries.size(), 1u);
  EXPECT_EQ(p.entries[0].device_id, "D1");
  EXPECT_EQ(p.entries[0].model_number, "M1");
}

TEST(CatalogImport, CaIdColumnAndKeyAreOptional) {
  auto p = csv("deviceId,modelNumber,details,caId\nD1,M1,, ab:cd \nD2,M1,,\n");
  ASSERT_TRUE(p.fatal.empty()) << p.fatal;
  ASSERT_EQ(p.entries.size(), 2u);
  EXPECT_EQ(p.entries[0].ca_id, "ab:cd");
  EXPECT_FALSE(p.entries[1].ca_id.has_value());
  auto j = jsonl(
      "{\"deviceId\":\"D1\",\"modelNumber\":\"M1\",\"caId\":\"ABCD\"}\n"
      "{\"deviceId\":\"D2\",\"modelNumber\":\"M1\",\"caId\":7}\n");
  ASSERT_EQ(j.entries.size(), 1u);
  EXPECT_EQ(j.entries[0].ca_id, "ABCD");
  EXPECT_EQ(j.errors.size(), 1u);
}

TEST(CatalogImport, CsvBadHeaderIsFatal) {
  EXPECT_FALSE(csv("deviceId,modelNumber\nD1,M1\n").fatal.empty());
  EXPECT_FALSE(csv("deviceId,modelNumber,details,serial\nD1,M1,{},x\n").fatal.empty());
  EXPECT_FALSE(csv("").fatal.empty());
}

TEST(CatalogImport, CsvReportsBadRowsWithRowAndLineNumbers) {
  auto p =
      csv("deviceId,modelNumber,details\n"
          "GOOD-1,M1,{}\n"                   // row 1
          "BAD ID,M1,{}\n"                   // row 2: space in deviceId
          "GOOD-2,M 1,{}\n"                  // row 3: space in modelNumber
          "GOOD-3,M1,\"{not json}\"\n"       // row 4
          "GOOD-4,M1,[1]\n"                  // row 5: not an object (unquoted brackets are fine)
          "GOOD-5,M1\n"                      // row 6: too few fields
          "GOOD-6,M1,\"{}\"x\n"              // row 7: text after the closing quote
          "GOOD-1,M1,{}\n"                   // row 8: duplicate of row 1
          "GOOD-7,M1,\"{\"\"a\"\":1}\"\n");  // row 9
  ASSERT_TRUE(p.fatal.empty());
  EXPECT_EQ(p.rows, 9u);
  ASSERT_EQ(p.entries.size(), 2u);
  EXPECT_EQ(p.entries[1].device_id, "GOOD-7");
  ASSERT_EQ(p.errors.size(), 7u);
  std::vector<std::size_t> rows;
  for (const auto& e : p.errors) rows.push_back(e.row);
  EXPECT_EQ(rows, (std::vector<std::size_t>{2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(p.errors[0].line, 3u);
  EXPECT_NE(p.errors[0].message.find("deviceId"), std::string::npos);
  EXPECT_NE(p.errors[1].message.find("modelNumber"), std::string::npos);
  EXPECT_NE(p.errors[2].message.find("JSON"), std::string::npos);
  EXPECT_NE(p.errors[6].message.find("duplicate of row 1"), std::string::npos);
}

TEST(CatalogImport, CsvLineNumbersCountEmbeddedNewlines) {
  auto p =
      csv("deviceId,modelNumber,details,claimCode\n"
          "A,M,\"{}\",\"multi\nline\"\n"  // lines 2-3; claim code with a newline is invalid
          "B C,M,{}\n");                  // line 4
  ASSERT_EQ(p.errors.size(), 2u);
  EXPECT_EQ(p.errors[0].line, 2u);
  EXPECT_NE(p.errors[0].message.find("claimCode"), std::string::npos);
  EXPECT_EQ(p.errors[1].row, 2u);
  EXPECT_EQ(p.errors[1].line, 4u);
}

TEST(CatalogImport, CsvUnterminatedQuoteIsOneBadRow) {
  auto p = csv("deviceId,modelNumber,details\nA,M,{}\nB,M,\"{\n");
  ASSERT_EQ(p.entries.size(), 1u);
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_EQ(p.errors[0].row, 2u);
  EXPECT_NE(p.errors[0].message.find("unterminated"), std::string::npos);
}

TEST(CatalogImport, CsvBomAndBlankLinesAreIgnored) {
  auto p =
      csv("\xEF\xBB\xBF"
          "deviceId,modelNumber,details\n\nA,M,{}\n\n");
  ASSERT_TRUE(p.fatal.empty()) << p.fatal;
  EXPECT_EQ(p.rows, 1u);
  EXPECT_EQ(p.entries.size(), 1u);
}

TEST(CatalogImport, CsvDetailsSizeLimit) {
  std::string big = "{\"\"x\"\":\"\"" + std::string(kMaxDetailsBytes, 'a') + "\"\"}";
  auto p = csv("deviceId,modelNumber,details\nA,M,\"" + big + "\"\n");
  ASSERT_EQ(p.errors.size(), 1u);
  EXPECT_NE(p.errors[0].message.find("details"), std::string::npos);
}

TEST(CatalogImport, JsonLines) {
  auto p = jsonl(
      "{\"deviceId\":\"A\",\"modelNumber\":\"25HNB9\",\"details\":{\"model\":\"X\"},"
      "\"claimCode\":\"secret-1\"}\n"
      "\n"
      "{\"deviceId\":\"B\",\"modelNumber\":\"25HNB9\"}\r\n"
      "not json\n"
      "[1,2]\n"
      "{\"deviceId\":\"C\",\"modelNumber\":\"25HNB9\",\"details\":\"str\"}\n"
      "{\"deviceId\":7,\"modelNumber\":\"25HNB9\"}\n"
      "{\"deviceId\":\"A\",\"modelNumber\":\"25HNB9\"}\n"
      "{\"deviceId\":\"D\",\"modelNumber\":\"25HNB9\",\"claimCode\":\"abc\"}\n");
  EXPECT_EQ(p.rows, 8u);
  ASSERT_EQ(p.entries.size(), 2u);
  EXPECT_EQ(p.entries[0].claim_code, "secret-1");
  EXPECT_EQ(p.entries[0].details["model"], "X");
  EXPECT_EQ(p.entries[1].details, nlohmann::json::object());
  ASSERT_EQ(p.errors.size(), 6u);
  EXPECT_EQ(p.errors[0].row, 3u);
  EXPECT_EQ(p.errors[0].line, 4u);
  EXPECT_NE(p.errors[2].message.find("details"), std::string::npos);
  EXPECT_NE(p.errors[3].message.find("deviceId"), std::string::npos);
  EXPECT_NE(p.errors[4].message.find("duplicate of row 1"), std::string::npos);
  EXPECT_NE(p.errors[5].message.find("claimCode"), std::string::npos);  // too short
}

TEST(CatalogImport, DetectFormat) {
  EXPECT_EQ(detect_format("a.csv", "{"), ImportFormat::kCsv);
  EXPECT_EQ(detect_format("a.jsonl", "deviceId"), ImportFormat::kJsonLines);
  EXPECT_EQ(detect_format("-", "  \n{\"deviceId\":1}"), ImportFormat::kJsonLines);
  EXPECT_EQ(detect_format("-", "deviceId,modelNumber,details\n"), ImportFormat::kCsv);
}

TEST(CatalogValidation, Charsets) {
  EXPECT_TRUE(valid_device_id("SN:01_a-Z"));
  EXPECT_FALSE(valid_device_id(""));
  EXPECT_FALSE(valid_device_id("a/b"));
  EXPECT_FALSE(valid_device_id(std::string(129, 'a')));
  EXPECT_TRUE(valid_device_id(std::string(128, 'a')));
  EXPECT_TRUE(valid_model_number("25HNB9-_.,:/@#"));
  EXPECT_FALSE(valid_model_number("a b"));
  EXPECT_FALSE(valid_model_number(std::string(65, 'a')));
  EXPECT_FALSE(valid_claim_code("abc"));
  EXPECT_FALSE(valid_claim_code("ab cd"));
  EXPECT_FALSE(valid_claim_code("ABCD-12"));  // 7: new codes need at least 8
  EXPECT_TRUE(valid_claim_code("ABCD-123"));
}

}  // namespace
}  // namespace sp::catalog
