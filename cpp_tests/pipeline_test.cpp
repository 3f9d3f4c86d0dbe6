// The export pipeline through the C++ wrappers: an OTLP/HTTP pipeline
// exporter behind a periodic reader retries 503s, counts exactly, exports
// its self-metrics, and shuts down within its deadline with the sink down.
#include "ferrometer_otlp.hpp"
#include "http_sink.hpp"
#include "loopback.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fm = ferrometer;
using namespace std::chrono_literals;

namespace {

fm::OtlpHttpOptions Options(const std::string& url) {
  fm::OtlpHttpOptions o;
  o.read_env = false;
  o.endpoint = url;
  o.retry = fm::OtlpRetryPolicy{5, 10ms, 20ms, 2.0};
  return o;
}

}  // namespace

TEST(Pipeline, RetriesCountsAndExportsSelfMetrics) {
  fmtest::HttpSink sink(503, 2);
  auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
  auto exporter = fm::MakeOtlpPipelineExporter(Options(sink.Url() + "/v1/metrics"));
  fm::AddPeriodicReader(provider, exporter, std::chrono::hours(1));
  auto c = provider.GetMeter("game").CreateUInt64Counter("players.joined");
  c.Add(3, {{"region", "eu"}});

  provider.ForceFlush(5s);  // 503, 503, then 200
  auto s = exporter.Stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->requests_failed_5xx, 2u);
  EXPECT_EQ(s->retries, 2u);
  EXPECT_EQ(s->requests_delivered, 1u);
  EXPECT_EQ(s->points_enqueued + s->points_rejected,
            s->points_delivered + s->points_dropped_queue_full + s->points_dropped_permanent_error +
                s->points_dropped_retries_exhausted + s->points_dropped_shutdown +
                s->points_dropped_superseded + s->queued_points);
  EXPECT_EQ(s->queued_points, 0u);
  EXPECT_EQ(s->circuit_state, 0u);

  provider.ForceFlush(5s);  // carries the self-metrics of its collection
  auto bodies = sink.Bodies();
  ASSERT_EQ(bodies.size(), 2u);
  EXPECT_NE(bodies[0].find("players.joined"), std::string::npos);
  EXPECT_NE(bodies[1].find("ferrometer.exporter.requests.failed"), std::string::npos);
  EXPECT_NE(bodies[1].find("ferrometer.exporter.points.dropped"), std::string::npos);
  provider.Shutdown(5s);
  EXPECT_EQ(exporter.Stats()->points_dropped_shutdown, 0u);
}

TEST(Pipeline, ShutdownWithTheSinkDownMeetsItsDeadline) {
  // A port that was free a moment ago: connections are refused.
  std::uint16_t port = 0;
  ::close(fmtest::BindLoopback(0, &port));
  std::string url = "http://127.0.0.1:" + std::to_string(port) + "/v1/metrics";

  auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
  fm::PipelineOptions p;
  p.self_metrics = false;
  auto exporter = fm::MakeOtlpPipelineExporter(Options(url), p);
  fm::AddPeriodicReader(provider, exporter, 50ms);
  auto c = provider.GetMeter("game").CreateUInt64Counter("ticks");
  std::atomic<bool> stop{false};
  std::thread recorder([&] {
    while (!stop.load()) {
      c.Add(1, {{"shard", "a"}});
      std::this_thread::sleep_for(1ms);
    }
  });
  std::this_thread::sleep_for(300ms);
  auto t0 = std::chrono::steady_clock::now();
  fm_status st = fm_provider_shutdown(provider.get(), 2000);
  auto took = std::chrono::steady_clock::now() - t0;
  stop = true;
  recorder.join();
  EXPECT_EQ(st, FM_STATUS_FAILED);
  EXPECT_NE(std::string(fm_last_error_message()).find("not delivered"), std::string::npos)
      << fm_last_error_message();
  // The status's name comes once: the last error text is the detail.
  std::string full = fm::detail::Message(st);
  EXPECT_EQ(full.rfind("operation failed: otlp export pipeline shutdown: ", 0), 0u) << full;
  EXPECT_EQ(full.find("operation failed", 1), std::string::npos) << full;
  EXPECT_LE(took, 2100ms);
  auto s = exporter.Stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_GT(s->points_dropped_shutdown, 0u);
  EXPECT_GT(s->requests_failed_connection, 0u);
  EXPECT_EQ(s->queued_points, 0u);
}

TEST(Pipeline, BadOptionsAndOtherExporters) {
  fm::PipelineOptions p;
  p.max_queue_points = 0;
  EXPECT_FALSE(fm::TryMakeOtlpPipelineExporter(Options("http://127.0.0.1:1/v1/metrics"), p).ok());
  EXPECT_FALSE(fm::Exporter::Console().Stats().has_value());
  fm_pipeline_options* o = nullptr;
  ASSERT_EQ(fm_pipeline_options_new(&o), FM_STATUS_OK);
  EXPECT_EQ(fm_pipeline_options_set_queue_policy(o, 7, 0), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_pipeline_options_set_batch_limits(o, 0, 1), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_pipeline_options_set_queue_policy(nullptr, 0, 0), FM_STATUS_INVALID_ARGUMENT);
  fm_pipeline_options_release(o);
  fm_pipeline_options_release(nullptr);
}

TEST(Pipeline, HostBytesCallbackRunsBehindThePipeline) {
  std::atomic<int> calls{0};
  std::mutex mu;
  std::vector<std::string> got;
  // Declared after what the callback uses: destroying the provider does
  // its final export through the callback.
  auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
  fm::PipelineOptions p;
  p.self_metrics = false;
  auto exporter = fm::Exporter::BytesPipeline(
      fm::WireFormat::kPrometheusText,
      [&](std::string_view bytes, std::string_view) {
        if (calls.fetch_add(1) == 0) return false;  // first attempt fails: retried
        std::lock_guard<std::mutex> g(mu);
        got.emplace_back(bytes);
        return true;
      },
      fm::Temporality::kCumulative, p);
  fm::AddPeriodicReader(provider, exporter, std::chrono::hours(1));
  provider.GetMeter("host").CreateUInt64Counter("jobs").Add(4, {{"kind", "a"}});
  provider.ForceFlush(10s);
  auto s = exporter.Stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->retries, 1u);
  EXPECT_EQ(s->requests_failed_other, 1u);
  EXPECT_EQ(s->requests_delivered, 1u);
  std::lock_guard<std::mutex> g(mu);
  ASSERT_EQ(got.size(), 1u);
  EXPECT_NE(got[0].find("jobs_total{kind=\"a\""), std::string::npos) << got[0];
}
