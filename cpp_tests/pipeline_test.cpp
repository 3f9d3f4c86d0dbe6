// The export pipeline through the C++ wrappers: an OTLP/HTTP pipeline
// exporter behind a periodic reader retries 503s, counts exactly, exports
// its self-metrics, and shuts down within its deadline with the sink down.
#include "ferrometer_otlp.hpp"
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

/// A loopback HTTP/1.1 sink with kept-alive connections: the first
/// `fail_first` requests get `fail_status`, the others 200. Keeps the
/// bodies answered with 200.
class Sink {
 public:
  Sink(int fail_status, int fail_first) : fail_status_(fail_status), fail_left_(fail_first) {
    fd_ = fmtest::BindLoopback(8, &port_);
    accept_ = std::thread([this] {
      for (;;) {
        int c = ::accept(fd_, nullptr, nullptr);
        if (c < 0) return;
        std::lock_guard<std::mutex> g(mu_);
        conns_.push_back(c);
        workers_.emplace_back([this, c] { Serve(c); });
      }
    });
  }
  ~Sink() {
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    accept_.join();
    std::lock_guard<std::mutex> g(mu_);
    for (int c : conns_) ::shutdown(c, SHUT_RDWR);
    for (auto& t : workers_) t.join();
    for (int c : conns_) ::close(c);
  }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_) + "/v1/metrics"; }
  std::vector<std::string> Bodies() {
    std::lock_guard<std::mutex> g(mu_);
    return bodies_;
  }

 private:
  void Serve(int c) {
    std::string data;
    char buf[65536];
    for (;;) {
      auto end = data.find("\r\n\r\n");
      while (end == std::string::npos) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        data.append(buf, static_cast<std::size_t>(n));
        end = data.find("\r\n\r\n");
      }
      std::string head = data.substr(0, end);
      std::size_t cl = head.find("Content-Length: ");
      std::size_t len = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
      while (data.size() < end + 4 + len) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) return;
        data.append(buf, static_cast<std::size_t>(n));
      }
      std::string body = data.substr(end + 4, len);
      data.erase(0, end + 4 + len);
      int status = 200;
      if (fail_left_.fetch_sub(1) > 0) {
        status = fail_status_;
      } else {
        std::lock_guard<std::mutex> g(mu_);
        bodies_.push_back(body);
      }
      std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\n\r\n";
      if (::send(c, reply.data(), reply.size(), MSG_NOSIGNAL) < 0) return;
    }
  }

  int fd_ = -1;
  std::uint16_t port_ = 0;
  int fail_status_;
  std::atomic<int> fail_left_;
  std::thread accept_;
  std::mutex mu_;
  std::vector<int> conns_;
  std::vector<std::thread> workers_;
  std::vector<std::string> bodies_;
};

fm::OtlpHttpOptions Options(const std::string& url) {
  fm::OtlpHttpOptions o;
  o.read_env = false;
  o.endpoint = url;
  o.retry = fm::OtlpRetryPolicy{5, 10ms, 20ms, 2.0};
  return o;
}

}  // namespace

TEST(Pipeline, RetriesCountsAndExportsSelfMetrics) {
  Sink sink(503, 2);
  auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
  auto exporter = fm::MakeOtlpPipelineExporter(Options(sink.Url()));
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
