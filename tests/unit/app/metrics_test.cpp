#include "app/metrics.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <array>
#include <chrono>
#include <map>

#include "exposition_check.hpp"
#include "smartproduct/core/histogram.hpp"

namespace sp::app {
namespace {

http::Request from(std::string address, std::string authorization = {}) {
  http::Request r;
  r.method = "GET";
  r.target = "/metrics";
  r.remote_address = std::move(address);
  if (!authorization.empty()) r.headers.emplace_back("authorization", std::move(authorization));
  return r;
}

const std::string kToken(40, 'k');

TEST(MetricsAccess, LoopbackOnlyByDefault) {
  config::MetricsSettings access;
  EXPECT_TRUE(metrics_access_allowed(access, from("127.0.0.1")));
  EXPECT_TRUE(metrics_access_allowed(access, from("127.8.9.10")));
  EXPECT_TRUE(metrics_access_allowed(access, from("::1")));
  EXPECT_TRUE(metrics_access_allowed(access, from("::ffff:127.0.0.1")));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7")));
  EXPECT_FALSE(metrics_access_allowed(access, from("::ffff:10.0.0.7")));
  EXPECT_FALSE(metrics_access_allowed(access, from("2001:db8::1")));
  EXPECT_FALSE(metrics_access_allowed(access, from("")));
  // Without a configured token no header opens it.
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Bearer ")));
}

TEST(MetricsAccess, TokenOpensItFromAnywhereAndOnlyTheExactToken) {
  config::MetricsSettings access;
  access.token = kToken;
  EXPECT_TRUE(metrics_access_allowed(access, from("10.0.0.7", "Bearer " + kToken)));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Bearer " + kToken + "x")));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Bearer " + kToken.substr(1))));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Bearer " + std::string(40, 'j'))));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", "Basic " + kToken)));
  EXPECT_FALSE(metrics_access_allowed(access, from("10.0.0.7", kToken)));
}

TEST(MetricsAccess, LoopbackCanBeMadeToNeedTheTokenToo) {
  config::MetricsSettings access;
  access.token = kToken;
  access.allow_loopback = false;
  EXPECT_FALSE(metrics_access_allowed(access, from("127.0.0.1")));
  EXPECT_TRUE(metrics_access_allowed(access, from("127.0.0.1", "Bearer " + kToken)));
}

std::string problems_of(const std::string& text) {
  std::string all;
  for (const auto& p : testing::check_exposition(text)) all += p + "\n";
  return all;
}

constexpr std::array<double, 3> kBounds = {0.01, 0.1, 1};

TEST(RenderPrometheus, HistogramAsCumulativeBucketsSumAndCount) {
  Histogram h(kBounds);
  for (double v : {0.0078125, 0.0625, 0.0625, 0.5, 3.0}) h.observe(v);  // exact in binary
  std::vector<MetricSample> samples;
  add_histogram(samples, "smartproduct_x_duration_seconds", "How long x took", h, "db=\"main\"");
  EXPECT_EQ(render_prometheus(samples),
            "# HELP smartproduct_x_duration_seconds How long x took\n"
            "# TYPE smartproduct_x_duration_seconds histogram\n"
            "smartproduct_x_duration_seconds_bucket{db=\"main\",le=\"0.01\"} 1\n"
            "smartproduct_x_duration_seconds_bucket{db=\"main\",le=\"0.1\"} 3\n"
            "smartproduct_x_duration_seconds_bucket{db=\"main\",le=\"1\"} 4\n"
            "smartproduct_x_duration_seconds_bucket{db=\"main\",le=\"+Inf\"} 5\n"
            "smartproduct_x_duration_seconds_sum{db=\"main\"} 3.6328125\n"
            "smartproduct_x_duration_seconds_count{db=\"main\"} 5\n");
}

TEST(RenderPrometheus, EveryLinePassesTheChecker) {
  Histogram a(kBounds), b(kBounds), empty(kBounds);
  a.observe(0.2);
  b.observe(7.0);
  std::vector<MetricSample> samples;
  add_counter(samples, "smartproduct_things_total", "Things", 3, "kind=\"a\"");
  add_gauge(samples, "smartproduct_queue_jobs", "Queued\nwith a \\ in the help", 2);
  add_histogram(samples, "smartproduct_op_duration_seconds", "Op", a,
                "route=\"/api/devices/{id}\"");
  add_gauge(samples, "smartproduct_ratio", "A fraction", 0.25);
  add_gauge(samples, "smartproduct_unknown", "Not known yet", std::nan(""));
  add_histogram(samples, "smartproduct_op_duration_seconds", "Op", b, "route=\"/api/users\"");
  add_histogram(samples, "smartproduct_idle_duration_seconds", "Never observed", empty);
  add_counter(samples, "smartproduct_things_total", "Things", 4, "kind=\"b\"");
  const auto text = render_prometheus(samples);
  EXPECT_EQ(problems_of(text), "") << text;
  // One family's samples stay together, HELP escaped onto one line, NaN spelled as the format
  // wants it.
  EXPECT_NE(
      text.find(
          "smartproduct_things_total{kind=\"a\"} 3\nsmartproduct_things_total{kind=\"b\"} 4\n"),
      std::string::npos);
  EXPECT_NE(text.find("# HELP smartproduct_queue_jobs Queued\\nwith a \\\\ in the help\n"),
            std::string::npos);
  EXPECT_NE(text.find("smartproduct_unknown NaN\n"), std::string::npos);
  EXPECT_NE(text.find("smartproduct_idle_duration_seconds_count 0\n"), std::string::npos);
}

// The checker must catch what it claims to, or a passing scrape test proves nothing.
TEST(ExpositionCheck, CatchesConventionAndFormatErrors) {
  const auto fails = [](const std::string& text) {
    return !testing::check_exposition(text).empty();
  };
  EXPECT_FALSE(fails("# TYPE a_total counter\na_total 1\n"));
  EXPECT_TRUE(fails("# TYPE requests counter\nrequests 1\n"));      // counter without _total
  EXPECT_TRUE(fails("# TYPE queue_total gauge\nqueue_total 1\n"));  // _total on a gauge
  EXPECT_TRUE(fails("# TYPE commit_ms gauge\ncommit_ms 1\n"));      // not a base unit
  EXPECT_TRUE(fails("# TYPE 1bad gauge\n1bad 1\n"));                // name
  EXPECT_TRUE(fails("# TYPE g gauge\ng{x=\"1\" 1\n"));              // unterminated labels
  EXPECT_TRUE(fails("# TYPE g gauge\ng one\n"));                    // value
  EXPECT_TRUE(fails("g 1\n"));                                      // no TYPE
  const std::string ok =
      "# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n";
  EXPECT_FALSE(fails(ok));
  EXPECT_TRUE(
      fails("# TYPE h histogram\nh_bucket{le=\"1\"} 3\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 3\nh_count 2\n"));  // not cumulative
  EXPECT_TRUE(
      fails("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"2\"} 2\n"
            "h_sum 3\nh_count 2\n"));  // no +Inf
  EXPECT_TRUE(
      fails("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
            "h_sum 3\nh_count 3\n"));  // _count != +Inf
  EXPECT_TRUE(
      fails("# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
            "h_bucket{le=\"+Inf\"} 2\nh_sum 3\nh_count 2\n"));  // le not ascending
}

TEST(ProcStat, ParsesFieldsAfterACommandNameWithSpacesAndParentheses) {
  const std::string line =
      "4242 (smart (d) x) S 1 4242 4242 0 -1 4194560 2000 0 0 0 150 25 0 0 20 0 9 0 123456 "
      "987654321 2048 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n";
  const auto st = parse_proc_stat(line);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->utime_ticks, 150u);
  EXPECT_EQ(st->stime_ticks, 25u);
  EXPECT_EQ(st->start_ticks, 123456u);
  EXPECT_EQ(st->vsize_bytes, 987654321u);
  EXPECT_EQ(st->rss_pages, 2048u);
  EXPECT_FALSE(parse_proc_stat("4242 (x) S 1 2 3").has_value());
  EXPECT_FALSE(parse_proc_stat("no parenthesis at all").has_value());
}

TEST(ProcessMetrics, ReadsThisProcessFromProc) {
  std::vector<MetricSample> samples;
  report_process_metrics(samples);
  std::map<std::string, double> by_name;
  for (const auto& s : samples) by_name[s.name] = s.value;
  ASSERT_EQ(by_name.size(), 6u) << problems_of(render_prometheus(samples));
  EXPECT_GE(by_name["process_cpu_seconds_total"], 0.0);
  EXPECT_GT(by_name["process_resident_memory_bytes"], 1e6);
  EXPECT_GE(by_name["process_virtual_memory_bytes"], by_name["process_resident_memory_bytes"]);
  EXPECT_GE(by_name["process_open_fds"], 3.0);  // at least stdin, stdout, stderr
  const double max_fds = by_name["process_max_fds"];
  EXPECT_TRUE(max_fds == -1 || max_fds >= by_name["process_open_fds"]);
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  const double started = by_name["process_start_time_seconds"];
  EXPECT_LE(started, now + 1);
  EXPECT_GT(started, now - 3600);  // this test binary started moments ago
  EXPECT_EQ(problems_of(render_prometheus(samples)), "");
}

}  // namespace
}  // namespace sp::app
