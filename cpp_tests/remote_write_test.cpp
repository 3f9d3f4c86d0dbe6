// The Remote-Write exporter through the C++ wrapper
// (ferrometer_remote_write.hpp) and the C API: 5xx is retried and the
// counters add up, a 400 is never retried, bad options are refused.
#include "ferrometer_remote_write.hpp"
#include "http_sink.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace fm = ferrometer;
using namespace std::chrono_literals;

namespace {

fm::RemoteWriteOptions Options(const std::string& url) {
  fm::RemoteWriteOptions o;
  o.url = url + "/api/v1/write";
  o.retry = fm::RemoteWriteRetryPolicy{5, 10ms, 20ms, 2.0};
  o.headers.push_back({"X-Scope-OrgID", "tenant-1"});
  return o;
}

std::uint64_t Accounted(const fm_pipeline_stats& s) {
  return s.points_delivered + s.points_dropped_queue_full + s.points_dropped_permanent_error +
         s.points_dropped_retries_exhausted + s.points_dropped_shutdown + s.points_dropped_superseded +
         s.points_dropped_rejected + s.queued_points;
}

}  // namespace

TEST(RemoteWrite, RetriesA500AndCountsExactly) {
  fmtest::HttpSink sink(500, 2);
  auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
  fm::PipelineOptions p;
  p.self_metrics = false;
  auto exporter = fm::MakeRemoteWriteExporter(Options(sink.Url()), p);
  fm::AddPeriodicReader(provider, exporter, std::chrono::hours(1));
  auto c = provider.GetMeter("game").CreateUInt64Counter("players.joined");
  c.Add(3, {{"region", "eu"}});
  c.Add(4, {{"region", "us"}});

  provider.ForceFlush(5s);  // 500, 500, then 200
  auto s = exporter.Stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->requests_failed_5xx, 2u);
  EXPECT_EQ(s->retries, 2u);
  EXPECT_EQ(s->requests_delivered, 1u);
  EXPECT_EQ(s->points_delivered, 2u);
  EXPECT_EQ(s->points_enqueued + s->points_rejected, Accounted(*s));
  auto bodies = sink.Bodies();
  ASSERT_EQ(bodies.size(), 1u);
  // Snappy keeps a name's first occurrence as a literal.
  EXPECT_NE(bodies[0].find("players_joined_total"), std::string::npos);
  provider.Shutdown(5s);
}

TEST(RemoteWrite, A400IsNeverRetried) {
  fmtest::HttpSink sink(400, 1);
  auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
  fm::PipelineOptions p;
  p.self_metrics = false;
  auto exporter = fm::MakeRemoteWriteExporter(Options(sink.Url()), p);
  fm::AddPeriodicReader(provider, exporter, std::chrono::hours(1));
  provider.GetMeter("game").CreateUInt64Counter("ticks").Add(1);
  provider.ForceFlush(5s);
  auto s = exporter.Stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->requests_failed_4xx, 1u);
  EXPECT_EQ(s->retries, 0u);
  EXPECT_EQ(s->points_dropped_permanent_error, 1u);
  EXPECT_EQ(s->points_enqueued + s->points_rejected, Accounted(*s));
  EXPECT_TRUE(sink.Bodies().empty());
  provider.Shutdown(5s);
}

TEST(RemoteWrite, BadOptionsAreRefused) {
  EXPECT_FALSE(fm::TryMakeRemoteWriteExporter(fm::RemoteWriteOptions{}).ok());  // no URL
  auto o = Options("ftp://127.0.0.1:1");
  EXPECT_FALSE(fm::TryMakeRemoteWriteExporter(o).ok());
  o = Options("http://127.0.0.1:1");
  o.basic_auth = std::make_pair(std::string("u"), std::string("p"));
  o.bearer_token = "t";
  EXPECT_FALSE(fm::TryMakeRemoteWriteExporter(o).ok());
  o.bearer_token.reset();
  o.version = fm::RemoteWriteVersion::kV2;
  EXPECT_TRUE(fm::TryMakeRemoteWriteExporter(o).ok());

  fm_remote_write_options* raw = nullptr;
  const std::string url = "http://127.0.0.1:1/api/v1/write";
  ASSERT_EQ(fm_remote_write_options_new(url.data(), url.size(), &raw), FM_STATUS_OK);
  EXPECT_EQ(fm_remote_write_options_set_version(raw, 3), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_remote_write_options_set_batch(raw, 0, 1), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_remote_write_options_set_timeout_ms(raw, 0), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_remote_write_options_set_retry(raw, 1, 1, 1, 0.5), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_remote_write_options_add_header(raw, "", 0, "v", 1), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_remote_write_options_set_target_info(nullptr, true), FM_STATUS_INVALID_ARGUMENT);
  fm_exporter* e = nullptr;
  EXPECT_EQ(fm_remote_write_exporter_new(nullptr, nullptr, &e), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(e, nullptr);
  EXPECT_EQ(fm_remote_write_exporter_new(raw, nullptr, nullptr), FM_STATUS_INVALID_ARGUMENT);
  ASSERT_EQ(fm_remote_write_exporter_new(raw, nullptr, &e), FM_STATUS_OK);
  fm_exporter_release(e);
  fm_remote_write_options_release(raw);
  fm_remote_write_options_release(nullptr);
}
