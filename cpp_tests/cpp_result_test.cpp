// The C++ wrapper's non-throwing creation variants (ferrometer::Result and
// the Try* functions) and its diagnostics handler wrapper.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "ferrometer_exporters.hpp"

namespace fm = ferrometer;

namespace {

struct Env {
  fm::ManualReader reader;
  fm::MeterProvider provider;
  fm::Meter meter;
  Env()
      : provider(fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build()),
        meter(provider.GetMeter("result.test", "1.0")) {}
};

}  // namespace

TEST(CppResult, TryCreateSucceedsLikeCreate) {
  Env e;
  auto counter = e.meter.TryCreateUInt64Counter("requests", "Requests", "{request}");
  ASSERT_TRUE(counter.ok());
  ASSERT_TRUE(static_cast<bool>(counter));
  EXPECT_EQ(counter.status(), FM_STATUS_OK);
  EXPECT_EQ(counter.message(), "");
  counter->Add(2, {{"route", "/a"}});
  counter.value().Add(3, {{"route", "/a"}});

  auto hist = e.meter.TryCreateDoubleHistogram("latency", "", "ms", {1.0, 5.0});
  ASSERT_TRUE(hist.ok());
  hist->Record(3.0);

  auto gauge = e.meter.TryCreateInt64ObservableGauge("queue.depth");
  ASSERT_TRUE(gauge.ok());
  gauge->AddCallback([](auto& o) { o.Observe(7); });

  auto snap = e.reader.TryCollect();
  ASSERT_TRUE(snap.ok()) << snap.message();
  auto m = snap->Find("requests");
  ASSERT_TRUE(m.has_value());
  auto p = m->FindNumberPoint({{"route", "/a"}});
  ASSERT_TRUE(p.has_value());
  EXPECT_EQ(p->AsUInt64(), 5u);
  auto h = snap->Find("latency");
  ASSERT_TRUE(h.has_value());
  EXPECT_EQ(h->FindHistogramPoint()->Count(), 1u);
  EXPECT_EQ(h->FindHistogramPoint()->Bounds(), (std::vector<double>{1.0, 5.0}));
  auto g = snap->Find("queue.depth");
  ASSERT_TRUE(g.has_value());
  EXPECT_EQ(g->FindNumberPoint()->AsInt64(), 7);
}

TEST(CppResult, EveryInstrumentKindHasATryVariant) {
  Env e;
  EXPECT_TRUE(e.meter.TryCreateUInt64Counter("a1").ok());
  EXPECT_TRUE(e.meter.TryCreateDoubleCounter("a2").ok());
  EXPECT_TRUE(e.meter.TryCreateInt64UpDownCounter("a3").ok());
  EXPECT_TRUE(e.meter.TryCreateDoubleUpDownCounter("a4").ok());
  EXPECT_TRUE(e.meter.TryCreateUInt64Histogram("a5").ok());
  EXPECT_TRUE(e.meter.TryCreateDoubleHistogram("a6").ok());
  EXPECT_TRUE(e.meter.TryCreateInt64Gauge("a7").ok());
  EXPECT_TRUE(e.meter.TryCreateDoubleGauge("a8").ok());
  EXPECT_TRUE(e.meter.TryCreateUInt64ObservableCounter("a9").ok());
  EXPECT_TRUE(e.meter.TryCreateInt64ObservableCounter("a10").ok());
  EXPECT_TRUE(e.meter.TryCreateDoubleObservableCounter("a11").ok());
  EXPECT_TRUE(e.meter.TryCreateInt64ObservableUpDownCounter("a12").ok());
  EXPECT_TRUE(e.meter.TryCreateDoubleObservableUpDownCounter("a13").ok());
  EXPECT_TRUE(e.meter.TryCreateInt64ObservableGauge("a14").ok());
  EXPECT_TRUE(e.meter.TryCreateDoubleObservableGauge("a15").ok());
}

TEST(CppResult, InvalidNameIsAFailureNotAnException) {
  Env e;
  auto bad = e.meter.TryCreateUInt64Counter("9 starts with a digit");
  ASSERT_FALSE(bad.ok());
  EXPECT_FALSE(static_cast<bool>(bad));
  EXPECT_EQ(bad.status(), FM_STATUS_INVALID_NAME);
  EXPECT_NE(bad.message().find("9 starts with a digit"), std::string::npos) << bad.message();
  // value() on a failure throws the same Error the throwing variant would.
  try {
    (void)bad.value();
    FAIL() << "value() of a failure must throw";
  } catch (const fm::Error& err) {
    EXPECT_EQ(err.status(), FM_STATUS_INVALID_NAME);
    EXPECT_EQ(std::string(err.what()), bad.message());
  }
  // The throwing variant reports the same status.
  try {
    (void)e.meter.CreateUInt64Counter("9 starts with a digit");
    FAIL() << "CreateUInt64Counter must throw";
  } catch (const fm::Error& err) {
    EXPECT_EQ(err.status(), FM_STATUS_INVALID_NAME);
  }
}

TEST(CppResult, InvalidUnitAndBoundaries) {
  Env e;
  auto unit = e.meter.TryCreateDoubleCounter("ok.name", "", "\xC3\xA9 not ascii");
  ASSERT_FALSE(unit.ok());
  EXPECT_EQ(unit.status(), FM_STATUS_INVALID_UNIT);
  auto bounds = e.meter.TryCreateDoubleHistogram("h", "", "ms", {5.0, 1.0});
  ASSERT_FALSE(bounds.ok());
  EXPECT_EQ(bounds.status(), FM_STATUS_INVALID_BOUNDARIES);
}

TEST(CppResult, TryBindAndTryGetMeter) {
  Env e;
  auto c = e.meter.CreateUInt64Counter("bound.c");
  auto b = c.TryBind({{"k", "v"}});
  ASSERT_TRUE(b.ok()) << b.message();
  b->Add(4);
  const char bad_utf8[] = {'\xff', '\xfe', 0};
  auto bad = c.TryBind({{"k", std::string_view(bad_utf8, 2)}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status(), FM_STATUS_INVALID_ATTRIBUTES);

  auto m = e.provider.TryGetMeter("");
  ASSERT_FALSE(m.ok());
  EXPECT_EQ(m.status(), FM_STATUS_INVALID_ARGUMENT);
  auto m2 = e.provider.TryGetMeter("other", "2.0", "https://example.com/schema");
  ASSERT_TRUE(m2.ok()) << m2.message();

  auto snap = e.reader.Collect();
  EXPECT_EQ(snap.Find("bound.c")->FindNumberPoint({{"k", "v"}})->AsUInt64(), 4u);
}

TEST(CppResult, TryBuildTryCreateAndTryCollectAfterShutdown) {
  auto reader = fm::ManualReader::TryCreate(fm::Temporality::kDelta);
  ASSERT_TRUE(reader.ok());
  auto provider = fm::MeterProvider::Builder().AddReader(*reader).SetCardinalityLimit(10).TryBuild();
  ASSERT_TRUE(provider.ok()) << provider.message();
  auto meter = provider->TryGetMeter("m");
  ASSERT_TRUE(meter.ok());
  EXPECT_TRUE(reader->TryCollect().ok());
  provider->Shutdown();
  auto snap = reader->TryCollect();
  ASSERT_FALSE(snap.ok());
  EXPECT_EQ(snap.status(), FM_STATUS_SHUTDOWN);

  auto plain = fm::MeterProvider::TryCreate();
  ASSERT_TRUE(plain.ok());
  auto lonely = fm::ManualReader::TryCreate();
  ASSERT_TRUE(lonely.ok());
  auto unregistered = lonely->TryCollect();
  ASSERT_FALSE(unregistered.ok());
  EXPECT_EQ(unregistered.status(), FM_STATUS_READER_NOT_REGISTERED);
}

// Shutdown() and ForceFlush() run in destructors and exit paths: a failed
// export is reported with its undelivered points, never thrown.
TEST(CppResult, ShutdownAndForceFlushReportInsteadOfThrowing) {
  static_assert(std::is_same_v<decltype(std::declval<fm::MeterProvider&>().Shutdown()), fm::FlushResult>);
  static_assert(std::is_same_v<decltype(std::declval<fm::MeterProvider&>().ForceFlush()), fm::FlushResult>);
  static_assert(std::is_same_v<decltype(std::declval<fm::Exporter&>().Shutdown()), fm::FlushResult>);
  static_assert(std::is_same_v<decltype(std::declval<fm::Exporter&>().ForceFlush()), fm::FlushResult>);
  Env e;
  auto refuse = fm::Exporter::Bytes(fm::WireFormat::kPrometheusText,
                                    [](std::string_view, std::string_view) { return false; });
  fm::AddPeriodicReader(e.provider, refuse, std::chrono::hours(1));
  auto c = e.meter.CreateUInt64Counter("c");
  c.Add(1, {{"q", "a"}});
  c.Add(1, {{"q", "b"}});
  std::optional<fm::FlushResult> flushed;
  EXPECT_NO_THROW(flushed.emplace(e.provider.ForceFlush(std::chrono::seconds(1))));
  ASSERT_TRUE(flushed);
  EXPECT_FALSE(*flushed);
  EXPECT_EQ(flushed->status(), FM_STATUS_FAILED);
  EXPECT_EQ(flushed->undelivered_points(), 2u);
  EXPECT_NE(flushed->message().find("not delivered"), std::string::npos) << flushed->message();
  std::optional<fm::FlushResult> shut;
  EXPECT_NO_THROW(shut.emplace(e.provider.Shutdown(std::chrono::seconds(1))));
  ASSERT_TRUE(shut);
  EXPECT_EQ(shut->status(), FM_STATUS_FAILED);
  EXPECT_EQ(shut->undelivered_points(), 2u);
  fm::FlushResult again = e.provider.Shutdown();  // idempotent
  EXPECT_TRUE(again.ok());
  EXPECT_TRUE(again.message().empty());
}

TEST(CppResult, ResultIsMovable) {
  Env e;
  auto r = e.meter.TryCreateUInt64Counter("moved");
  ASSERT_TRUE(r.ok());
  fm::Counter<uint64_t> c = std::move(r).value();
  c.Add(1);
  std::vector<fm::Result<fm::Counter<uint64_t>>> v;
  v.push_back(e.meter.TryCreateUInt64Counter("moved2"));
  v.push_back(e.meter.TryCreateUInt64Counter("bad name"));
  EXPECT_TRUE(v[0].ok());
  EXPECT_FALSE(v[1].ok());
  EXPECT_EQ(e.reader.Collect().Find("moved")->FindNumberPoint()->AsUInt64(), 1u);
}

// ------------------------------------------------------------ diagnostics

namespace {
struct Captured {
  std::mutex mu;
  std::vector<std::pair<fm::DiagnosticLevel, std::string>> messages;
  void Add(fm::DiagnosticLevel l, std::string_view m) {
    std::lock_guard<std::mutex> g(mu);
    messages.emplace_back(l, std::string(m));
  }
  bool Contains(std::string_view needle) {
    std::lock_guard<std::mutex> g(mu);
    for (auto& m : messages)
      if (m.second.find(needle) != std::string::npos) return true;
    return false;
  }
};
}  // namespace

TEST(CppDiagnostics, HandlerReceivesRejectedMeasurementWarnings) {
  auto cap = std::make_shared<Captured>();
  {
    fm::ScopedDiagnosticsHandler scoped([cap](fm::DiagnosticLevel l, std::string_view m) { cap->Add(l, m); });
    Env e;
    auto c = e.meter.CreateDoubleCounter("diag.cpp.counter");
    c.Add(-1.0);
    EXPECT_EQ(e.provider.Rejected().negative, 1u);
  }
  ASSERT_TRUE(cap->Contains("diag.cpp.counter"));
  std::lock_guard<std::mutex> g(cap->mu);
  EXPECT_EQ(cap->messages.front().first, fm::DiagnosticLevel::kWarn);
  // The scoped handler's function is no longer referenced by the library.
  EXPECT_EQ(cap.use_count(), 1);
}

TEST(CppDiagnostics, ThrowingHandlerIsContainedAndSilenceWorks) {
  std::atomic<int> calls{0};
  fm::SetDiagnosticsHandler([&calls](fm::DiagnosticLevel, std::string_view) {
    ++calls;
    throw std::runtime_error("handler failure must not escape");
  });
  {
    Env e;
    auto c = e.meter.CreateDoubleCounter("diag.throwing");
    c.Add(-1.0);
    EXPECT_EQ(e.provider.Rejected().negative, 1u);
  }
  EXPECT_GE(calls.load(), 1);

  fm::SilenceDiagnostics();
  int before = calls.load();
  {
    Env e;
    auto c = e.meter.CreateDoubleCounter("diag.silent");
    c.Add(-1.0);
    EXPECT_EQ(e.provider.Rejected().negative, 1u);
  }
  EXPECT_EQ(calls.load(), before);
  fm::ResetDiagnosticsHandler();
}

TEST(CppDiagnostics, ReplacingTheHandlerWhileThreadsWarnIsSafe) {
  std::atomic<bool> stop{false};
  std::atomic<long> seen{0};
  Env e;
  auto c = e.meter.CreateDoubleCounter("diag.race");
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      do {
        c.Add(-1.0);  // rejected: may warn (rate-limited)
      } while (!stop.load());
    });
  }
  for (int i = 0; i < 200; ++i) {
    auto token = std::make_shared<int>(i);
    fm::SetDiagnosticsHandler([token, &seen](fm::DiagnosticLevel, std::string_view) { seen += *token >= 0; });
  }
  stop = true;
  for (auto& t : threads) t.join();
  fm::SetDiagnosticsHandler(nullptr);  // empty function: back to the default
  EXPECT_GT(e.provider.Rejected().negative, 0u);
}
