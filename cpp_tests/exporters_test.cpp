// Exporters and host metric producers through the C++ wrappers
// (ferrometer_exporters.hpp).
#include "ferrometer_exporters.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <fstream>
#include <memory>
#include <sstream>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace fm = ferrometer;

namespace {

struct Fixture {
  fm::ManualReader reader;
  fm::MeterProvider provider;
  Fixture() : provider(fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build()) {
    auto meter = provider.GetMeter("game");
    auto c = meter.CreateUInt64Counter("players.joined");
    c.Add(3, {{"region", "eu"}});
  }
};

}  // namespace

TEST(Exporters, BytesCallbackReceivesPrometheusText) {
  Fixture f;
  std::string got, type;
  auto e = fm::Exporter::Bytes(fm::WireFormat::kPrometheusText, [&](std::string_view b, std::string_view ct) {
    got.assign(b);
    type.assign(ct);
    return true;
  });
  e.Export(f.reader.Collect());
  EXPECT_NE(got.find("players_joined_total{region=\"eu\",otel_scope_name=\"game\"} 3\n"), std::string::npos) << got;
  EXPECT_EQ(type.rfind("text/plain", 0), 0u);
  // A callback reporting failure (or throwing) fails the export.
  auto failing = fm::Exporter::Bytes(fm::WireFormat::kOpenMetrics,
                                     [](std::string_view, std::string_view) -> bool { throw std::runtime_error("x"); });
  EXPECT_EQ(failing.TryExport(f.reader.Collect()), FM_STATUS_FAILED);
}

TEST(Exporters, PeriodicReaderExportsOnIntervalFlushAndShutdown) {
  auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
  std::mutex mu;
  std::vector<std::string> bodies;
  auto e = fm::Exporter::Bytes(fm::WireFormat::kPrometheusText, [&](std::string_view b, std::string_view) {
    std::lock_guard<std::mutex> g(mu);
    bodies.emplace_back(b);
    return true;
  });
  fm::AddPeriodicReader(provider, e, std::chrono::milliseconds(20));
  auto c = provider.GetMeter("game").CreateUInt64Counter("ticks");
  c.Add(5, {});
  std::this_thread::sleep_for(std::chrono::milliseconds(250));
  {
    std::lock_guard<std::mutex> g(mu);
    EXPECT_GE(bodies.size(), 2u);
    EXPECT_NE(bodies.back().find("ticks_total{otel_scope_name=\"game\"} 5\n"), std::string::npos) << bodies.back();
  }
  c.Add(2, {});
  provider.Shutdown();
  std::lock_guard<std::mutex> g(mu);
  EXPECT_NE(bodies.back().find("ticks_total{otel_scope_name=\"game\"} 7\n"), std::string::npos)
      << "shutdown does a last export: " << bodies.back();
  size_t n = bodies.size();
  std::this_thread::sleep_for(std::chrono::milliseconds(60));
  EXPECT_EQ(bodies.size(), n) << "no export after shutdown";
  EXPECT_THROW(fm::AddPeriodicReader(provider, e), fm::Error);
}

TEST(Exporters, SnapshotCallbackWalksTheSnapshot) {
  Fixture f;
  uint64_t value = 0;
  auto e = fm::Exporter::Snapshots([&](const fm::SnapshotView& s) {
    auto m = s.Find("players.joined");
    if (!m) return false;
    value = m->FindNumberPoint({{"region", "eu"}})->AsUInt64();
    return true;
  });
  e.Export(f.reader.Collect());
  EXPECT_EQ(value, 3u);
}

TEST(Exporters, TextFileAndConsole) {
  Fixture f;
  std::string path = ::testing::TempDir() + "ferrometer_exporters_test.prom";
  auto e = fm::Exporter::TextFile(path);
  e.Export(f.reader.Collect());
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("players_joined_total{"), std::string::npos);
  std::remove(path.c_str());
  auto console = fm::Exporter::Console();
  console.Export(f.reader.Collect());
  EXPECT_THROW(fm::Exporter::Pushgateway(fm::PushgatewayOptions("ftp://x", "job")), fm::Error);
}

TEST(Producers, PointsAreValidatedAndMerged) {
  Fixture f;
  fm::ProducedMetric depth{"queue.depth"};
  fm::ProducedMetric events{"events", fm::ProducedKind::kCounter};
  fm_status dup = FM_STATUS_OK, dup_label = FM_STATUS_OK;
  auto t = std::chrono::system_clock::now();
  fm::ProducerRegistration reg(f.provider, "host", [&](fm::ProducerBatch& b) {
    b.Add(depth, int64_t{7}, {{"queue", "io"}}, t);
    dup = b.Add(depth, int64_t{8}, {{"queue", "io"}}, t);
    dup_label = b.Add(depth, int64_t{9}, {{"queue", "a"}, {"queue", "b"}}, t);
    b.Add(events, uint64_t{5});
    b.AddHistogram(fm::ProducedMetric{"lat", fm::ProducedKind::kHistogram}, {1.0}, {2, 1}, 2.5);
    return true;
  });
  fm::SilenceDiagnostics();
  auto s = f.reader.Collect();
  fm::ResetDiagnosticsHandler();
  EXPECT_EQ(dup, FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(dup_label, FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(reg.Refused(), 2u);
  auto m = s.Find("queue.depth");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->PointCount(), 1u);
  EXPECT_TRUE(m->NumberPointAt(0).HasExplicitTime());
  EXPECT_EQ(s.Find("events")->NumberPointAt(0).AsUInt64(), 5u);
  EXPECT_EQ(s.Find("lat")->HistogramPointAt(0).Count(), 3u);
  reg.Unregister();
  EXPECT_FALSE(f.reader.Collect().Find("queue.depth"));
}

TEST(Producers, ExponentialHistogramsReachTheSnapshotAndBadOnesAreRefused) {
  Fixture f;
  fm::ProducedMetric sizes{"packet.size", fm::ProducedKind::kExponentialHistogram, "", "By"};
  fm::ExponentialHistogramValue v;
  v.scale = -3;
  v.zero_count = 2;
  v.positive_offset = -1;
  v.positive_counts = {4, 0, 1};
  v.negative_offset = 7;
  v.negative_counts = {3};
  v.sum = 41.5;
  v.min_max = std::make_pair(-300.0, 90.0);
  fm_status bad_scale = FM_STATUS_OK, bad_count = FM_STATUS_OK, null_value = FM_STATUS_OK, wrong_kind = FM_STATUS_OK;
  fm::ProducerRegistration reg(f.provider, "net", [&](fm::ProducerBatch& b) {
    b.AddExponentialHistogram(sizes, v, {{"if", "eth0"}});
    fm::ExponentialHistogramValue fine = v;
    fine.scale = 21;
    bad_scale = b.AddExponentialHistogram(sizes, fine, {{"if", "eth1"}});
    bad_count = b.AddExponentialHistogram(sizes, v, {{"if", "eth2"}}, {}, {}, v.Count() + 1);
    fm_produced_metric raw = sizes.raw();
    null_value = fm_producer_batch_add_exponential_histogram(b.get(), &raw, nullptr, 0, nullptr, 0, 0);
    wrong_kind = b.AddExponentialHistogram(fm::ProducedMetric{"lat", fm::ProducedKind::kHistogram}, v);
    return true;
  });
  fm::SilenceDiagnostics();
  auto s = f.reader.Collect();
  fm::ResetDiagnosticsHandler();
  EXPECT_EQ(bad_scale, FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(bad_count, FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(null_value, FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(wrong_kind, FM_STATUS_INVALID_ARGUMENT);
  // A NULL value is an argument error of the call, not a refused point.
  EXPECT_EQ(reg.Refused(), 3u);
  auto m = s.Find("packet.size");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->Type(), FM_METRIC_TYPE_EXPONENTIAL_HISTOGRAM);
  EXPECT_EQ(m->Temporality(), FM_TEMPORALITY_CUMULATIVE);
  ASSERT_EQ(m->PointCount(), 1u);
  auto p = m->ExponentialHistogramPointAt(0);
  EXPECT_EQ(p.Count(), 10u);
  EXPECT_EQ(p.Sum(), 41.5);
  EXPECT_EQ(p.Min(), std::optional<double>(-300.0));
  EXPECT_EQ(p.Max(), std::optional<double>(90.0));
  EXPECT_EQ(p.Scale(), -3);
  EXPECT_EQ(p.ZeroCount(), 2u);
  EXPECT_EQ(p.ZeroThreshold(), 0.0);
  EXPECT_EQ(p.Positive(), std::make_pair(int32_t{-1}, std::vector<uint64_t>{4, 0, 1}));
  EXPECT_EQ(p.Negative(), std::make_pair(int32_t{7}, std::vector<uint64_t>{3}));
  EXPECT_TRUE(p.Attributes().Contains({{"if", "eth0"}}));
  EXPECT_EQ(fm_exponential_histogram_point_scale(nullptr), 0);
}

namespace {

// A host callback blocked until the test opens the gate.
struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  bool open = false;
  std::atomic<int> entered{0};
  std::atomic<int> left{0};
  // Calls that had returned when the callback's state was freed (-1: not
  // freed yet).
  std::atomic<int> left_at_free{-1};
};

// Owned by the callback only: destroyed with it (free_user_data).
struct OnFree {
  std::shared_ptr<Gate> g;
  ~OnFree() { g->left_at_free = g->left.load(); }
};

}  // namespace

// A host callback that blocks: fm_provider_force_flush and
// fm_provider_shutdown return at their deadline (plus 100 ms) with
// FM_STATUS_TIMEOUT and the undelivered points in the message, while the
// callback keeps running; its state is freed only after it returned.
TEST(Exporters, BlockingCallbackCannotHoldFlushOrShutdown) {
  auto gate = std::make_shared<Gate>();
  {
    auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
    {
      std::shared_ptr<OnFree> on_free(new OnFree{gate});
      auto e = fm::Exporter::Bytes(fm::WireFormat::kOtlpProtobuf,
                                   [gate, on_free](std::string_view, std::string_view) {
                                     gate->entered++;
                                     std::unique_lock<std::mutex> l(gate->mu);
                                     gate->cv.wait(l, [&] { return gate->open; });
                                     gate->left++;
                                     return true;
                                   });
      on_free.reset();
      fm::AddPeriodicReader(provider, e, std::chrono::milliseconds(20));
    }
    provider.GetMeter("game").CreateUInt64Counter("ticks").Add(1, {{"k", "v"}});
    for (int i = 0; i < 500 && gate->entered.load() == 0; ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ASSERT_GT(gate->entered.load(), 0);
    for (int shutdown = 0; shutdown < 2; ++shutdown) {
      auto t0 = std::chrono::steady_clock::now();
      fm_status st =
          shutdown ? fm_provider_shutdown(provider.get(), 500) : fm_provider_force_flush(provider.get(), 500);
      auto took = std::chrono::steady_clock::now() - t0;
      std::string msg = fm_last_error_message();
      EXPECT_LE(took, std::chrono::milliseconds(600)) << (shutdown ? "shutdown" : "force_flush");
      EXPECT_EQ(st, FM_STATUS_TIMEOUT) << msg;
      EXPECT_NE(msg.find("not delivered"), std::string::npos) << msg;
    }
    EXPECT_EQ(gate->left_at_free.load(), -1) << "freed while the callback runs";
    {
      std::lock_guard<std::mutex> l(gate->mu);
      gate->open = true;
    }
    gate->cv.notify_all();
  }
  for (int i = 0; i < 500 && gate->left_at_free.load() < 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(gate->left_at_free.load(), gate->entered.load()) << "freed before every call returned";
}
