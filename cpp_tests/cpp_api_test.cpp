// The C++ wrapper: otel-cpp names, RAII, exceptions on creation errors,
// noexcept hot path.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "ferrometer_exporters.hpp"
#include "http_sink.hpp"

namespace fm = ferrometer;

namespace {
struct Fixture {
  fm::ManualReader reader;
  fm::MeterProvider provider{fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build()};
  fm::Meter meter = provider.GetMeter("cpp", "1.0", "https://schema");
};
}  // namespace

static_assert(noexcept(std::declval<fm::Counter<uint64_t>&>().Add(1)), "hot path is noexcept");
static_assert(noexcept(std::declval<fm::Histogram<double>&>().Record(1.0, {{"a", 1}})), "hot path is noexcept");
static_assert(!std::is_copy_constructible_v<fm::Counter<uint64_t>>, "handles are move-only");
static_assert(std::is_move_constructible_v<fm::Counter<uint64_t>>, "handles are movable");

TEST(CppApi, CounterAddWithMixedAttributes) {
  Fixture f;
  auto c = f.meter.CreateUInt64Counter("http.requests", "Requests", "{request}");
  c.Add(1, {{"route", "/play"}, {"code", 200}});
  c.Add(2, {{"code", 200}, {"route", "/play"}});
  c.Add(5, {{"route", std::string("/quit")}, {"ok", true}, {"ratio", 0.5}});
  auto s = f.reader.Collect();
  auto m = s.Find("http.requests");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->Description(), "Requests");
  EXPECT_EQ(m->Unit(), "{request}");
  EXPECT_EQ(m->PointCount(), 2u);
  EXPECT_EQ(m->FindNumberPoint({{"route", "/play"}, {"code", 200}})->AsUInt64(), 3u);
  auto q = m->FindNumberPoint({{"route", "/quit"}});
  ASSERT_TRUE(q);
  EXPECT_EQ(q->Attributes().GetString("route"), std::string_view("/quit"));
  EXPECT_EQ(q->AsUInt64(), 5u);
}

TEST(CppApi, EveryInstrumentKind) {
  Fixture f;
  auto dc = f.meter.CreateDoubleCounter("dc");
  auto iu = f.meter.CreateInt64UpDownCounter("iu");
  auto du = f.meter.CreateDoubleUpDownCounter("du");
  auto uh = f.meter.CreateUInt64Histogram("uh", "", "ms", {1, 10});
  auto dh = f.meter.CreateDoubleHistogram("dh");
  auto ig = f.meter.CreateInt64Gauge("ig");
  auto dg = f.meter.CreateDoubleGauge("dg");
  dc.Add(0.5);
  dc.Add(0.25);
  iu.Add(-3);
  du.Add(1.5);
  uh.Record(5);
  uh.Record(50);
  dh.Record(0.1, {{"op", "x"}});
  ig.Record(7);
  dg.Record(2.5);
  dg.RecordAt(3.5, {}, std::chrono::system_clock::time_point(std::chrono::seconds(1000)));
  auto s = f.reader.Collect();
  EXPECT_DOUBLE_EQ(s.Find("dc")->FindNumberPoint()->AsDouble(), 0.75);
  EXPECT_EQ(s.Find("iu")->FindNumberPoint()->AsInt64(), -3);
  EXPECT_DOUBLE_EQ(s.Find("du")->FindNumberPoint()->AsDouble(), 1.5);
  auto h = s.Find("uh")->FindHistogramPoint();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->Count(), 2u);
  EXPECT_EQ(h->Bounds(), (std::vector<double>{1, 10}));
  EXPECT_EQ(h->BucketCounts(), (std::vector<uint64_t>{0, 1, 1}));
  EXPECT_EQ(h->Min(), 5.0);
  EXPECT_EQ(h->Max(), 50.0);
  EXPECT_EQ(s.Find("dh")->FindHistogramPoint({{"op", "x"}})->Count(), 1u);
  EXPECT_EQ(s.Find("ig")->FindNumberPoint()->AsInt64(), 7);
  auto g = s.Find("dg")->FindNumberPoint();
  EXPECT_DOUBLE_EQ(g->AsDouble(), 3.5);
  EXPECT_EQ(g->Time(), 1000ull * 1000000000ull);
  EXPECT_EQ(s.Find("dg")->Type(), FM_METRIC_TYPE_GAUGE);
}

TEST(CppApi, ObservableInstrumentsWithAddCallback) {
  Fixture f;
  auto g = f.meter.CreateInt64ObservableGauge("temp");
  auto oc = f.meter.CreateDoubleObservableCounter("energy");
  auto ou = f.meter.CreateInt64ObservableUpDownCounter("conns");
  auto uc = f.meter.CreateUInt64ObservableCounter("packets");
  auto dg = f.meter.CreateDoubleObservableGauge("load");
  auto du = f.meter.CreateDoubleObservableUpDownCounter("level");
  auto ic = f.meter.CreateInt64ObservableCounter("ticks");
  int n = 0;
  g.AddCallback([&n](auto& o) { o.Observe(20 + (++n), {{"room", "a"}}); });
  oc.AddCallback([](auto& o) { o.Observe(1.5); });
  ou.AddCallback([](auto& o) { o.Observe(-2); });
  uc.AddCallback([](auto& o) { o.Observe(9); });
  dg.AddCallback([](auto& o) { o.Observe(0.75); });
  du.AddCallback([](auto& o) { o.Observe(-0.5); });
  static int state = 11;
  ic.AddCallback([](fm::ObservableCounter<int64_t>::Observer& o, void* st) { o.Observe(*static_cast<int*>(st)); },
                 &state);
  auto s = f.reader.Collect();
  EXPECT_EQ(s.Find("temp")->FindNumberPoint({{"room", "a"}})->AsInt64(), 21);
  EXPECT_DOUBLE_EQ(s.Find("energy")->FindNumberPoint()->AsDouble(), 1.5);
  EXPECT_EQ(s.Find("conns")->FindNumberPoint()->AsInt64(), -2);
  EXPECT_EQ(s.Find("packets")->FindNumberPoint()->AsUInt64(), 9u);
  EXPECT_DOUBLE_EQ(s.Find("load")->FindNumberPoint()->AsDouble(), 0.75);
  EXPECT_DOUBLE_EQ(s.Find("level")->FindNumberPoint()->AsDouble(), -0.5);
  EXPECT_EQ(s.Find("ticks")->FindNumberPoint()->AsInt64(), 11);
  g.RemoveCallbacks();
  f.reader.Collect();
  EXPECT_EQ(n, 1);
}

TEST(CppApi, CallbackExceptionsAreSwallowed) {
  Fixture f;
  auto g = f.meter.CreateInt64ObservableGauge("thrower");
  g.AddCallback([](auto& o) {
    o.Observe(1);
    throw std::runtime_error("boom");
  });
  auto s = f.reader.Collect();
  EXPECT_EQ(s.Find("thrower")->FindNumberPoint()->AsInt64(), 1);
}

TEST(CppApi, MeterRegisterCallbackAndUnregister) {
  Fixture f;
  auto a = f.meter.CreateInt64ObservableGauge("a");
  auto b = f.meter.CreateDoubleObservableGauge("b");
  int calls = 0;
  {
    auto reg = f.meter.RegisterCallback([&] {
      ++calls;
      a.Observe(1);
      b.Observe(2.0);
    });
    EXPECT_TRUE(static_cast<bool>(reg));
    auto s = f.reader.Collect();
    EXPECT_EQ(s.Find("a")->FindNumberPoint()->AsInt64(), 1);
    EXPECT_DOUBLE_EQ(s.Find("b")->FindNumberPoint()->AsDouble(), 2.0);
  }
  f.reader.Collect();
  EXPECT_EQ(calls, 1);
}

TEST(CppApi, BindAndPreparedAttributeSets) {
  Fixture f;
  auto c = f.meter.CreateUInt64Counter("bound");
  auto b = c.Bind({{"shard", 1}});
  b.Add(4);
  b.Add(6);
  fm::AttributeSet set({{"shard", 1}});
  EXPECT_EQ(set.size(), 1u);
  c.Add(10, set);
  std::vector<fm::Attribute> dyn{{"shard", 1}};
  c.Add(1, dyn);
  auto h = f.meter.CreateDoubleHistogram("bh");
  auto bh = h.Bind();
  bh.Record(1.0);
  auto s = f.reader.Collect();
  EXPECT_EQ(s.Find("bound")->FindNumberPoint({{"shard", 1}})->AsUInt64(), 21u);
  EXPECT_EQ(s.Find("bh")->FindHistogramPoint()->Count(), 1u);
}

TEST(CppApi, LiteralAttributesShareTheSeriesOfCopiedOnes) {
  Fixture f;
  auto c = f.meter.CreateUInt64Counter("lit");
  using A = fm::Attribute;
  for (int i = 0; i < 3; i++) c.Add(1, {A::Literal("route", "/play"), A::Literal("code", 200), A::Literal("ok", true)});
  std::string route = "/play";
  c.Add(10, {{"ok", true}, {"route", route}, {"code", 200}});
  EXPECT_EQ(A::Literal("route", "/play").raw().type_, FM_VALUE_STRING | FM_VALUE_STATIC);
  EXPECT_EQ(A::Literal("ratio", 0.5).raw().type_, FM_VALUE_F64 | FM_VALUE_STATIC);
  EXPECT_EQ(A::Literal("route", "/play").raw().value.str.len, 5u);
  auto s = f.reader.Collect();
  auto m = s.Find("lit");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->PointCount(), 1u);
  auto p = m->FindNumberPoint({{"route", "/play"}, {"code", 200}, {"ok", true}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->AsUInt64(), 13u);
  EXPECT_EQ(p->Attributes().GetString("route"), std::string_view("/play"));
}

TEST(CppApi, RemoveAndRemoveAll) {
  Fixture f;
  auto c = f.meter.CreateInt64UpDownCounter("sessions");
  c.Add(1, {{"user", "a"}});
  c.Add(1, {{"user", "b"}});
  EXPECT_TRUE(c.Remove({{"user", "a"}}));
  EXPECT_FALSE(c.Remove({{"user", "a"}}));
  EXPECT_EQ(f.reader.Collect().Find("sessions")->PointCount(), 1u);
  c.RemoveAll();
  auto s = f.reader.Collect();
  EXPECT_TRUE(!s.Find("sessions") || s.Find("sessions")->PointCount() == 0);
}

TEST(CppApi, CreationErrorsThrowError) {
  Fixture f;
  try {
    (void)f.meter.CreateUInt64Counter("9bad");
    FAIL() << "expected ferrometer::Error";
  } catch (const fm::Error& e) {
    EXPECT_EQ(e.status(), FM_STATUS_INVALID_NAME);
    EXPECT_NE(std::string(e.what()).find("9bad"), std::string::npos);
  }
  EXPECT_THROW((void)f.meter.CreateDoubleHistogram("h", "", "", {2, 1}), fm::Error);
  EXPECT_THROW((void)f.meter.CreateDoubleCounter("c", "", "µs"), fm::Error);
  EXPECT_THROW((void)f.provider.GetMeter(""), fm::Error);
  EXPECT_THROW((void)fm::ViewBuilder().Build(), fm::Error);
  EXPECT_THROW((void)f.meter.CreateUInt64Counter("c").Bind({fm::Attribute(fm_attribute{nullptr, 0, 0, {}})}),
               fm::Error);
  try {
    fm::ManualReader().Collect();
    FAIL();
  } catch (const fm::Error& e) {
    EXPECT_EQ(e.status(), FM_STATUS_READER_NOT_REGISTERED);
  }
}

TEST(CppApi, HotPathRejectsAreCountedNotThrown) {
  Fixture f;
  auto c = f.meter.CreateDoubleCounter("rej");
  c.Add(-1.0);
  c.Add(std::nan(""));
  std::string bad = "\xff";
  c.Add(1.0, {{"k", bad}});
  auto r = f.provider.Rejected();
  EXPECT_EQ(r.negative, 1u);
  EXPECT_EQ(r.nan, 1u);
  EXPECT_EQ(r.invalid_attributes, 1u);
}

TEST(CppApi, ViewsThroughBuilder) {
  fm::ManualReader reader;
  auto view = fm::ViewBuilder().InstrumentName("lat*").ExplicitBucketHistogram({0.5, 1.0}).Build();
  auto drop = fm::ViewBuilder().InstrumentName("debug.*").Aggregation(FM_AGGREGATION_DROP).Build();
  auto keys = fm::ViewBuilder().InstrumentName("k").DeniedAttributeKeys({"secret"}).Build();
  auto provider = fm::MeterProvider::Builder().AddReader(reader).AddView(view).AddView(drop).AddView(keys).Build();
  auto meter = provider.GetMeter("v");
  auto h = meter.CreateDoubleHistogram("latency");
  auto d = meter.CreateUInt64Counter("debug.x");
  auto k = meter.CreateUInt64Counter("k");
  h.Record(0.7);
  d.Add(1);
  k.Add(1, {{"secret", "s"}, {"public", "p"}});
  auto s = reader.Collect();
  EXPECT_EQ(s.Find("latency")->FindHistogramPoint()->Bounds(), (std::vector<double>{0.5, 1.0}));
  EXPECT_FALSE(s.Find("debug.x"));
  auto kp = s.Find("k")->FindNumberPoint();
  EXPECT_FALSE(kp->Attributes().Find("secret"));
  EXPECT_TRUE(kp->Attributes().Find("public"));
}

TEST(CppApi, ExponentialHistogramsByViewAndByDefault) {
  fm::ManualReader reader;
  auto view = fm::ViewBuilder().InstrumentName("packet.size").Base2ExponentialHistogram(20).Build();
  auto provider = fm::MeterProvider::Builder()
                      .AddReader(reader)
                      .AddView(view)
                      .SetDefaultHistogramAggregation(FM_HISTOGRAM_AGGREGATION_BASE2_EXPONENTIAL)
                      .Build();
  auto meter = provider.GetMeter("x");
  auto size = meter.CreateUInt64Histogram("packet.size", "", "By");
  auto bound = size.Bind({{"dir", "in"}});
  for (uint64_t v = 1; v <= 1000; ++v) bound.Record(v);
  meter.CreateDoubleHistogram("frame").Record(0.0);
  auto s = reader.Collect();
  auto m = s.Find("packet.size");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Type(), FM_METRIC_TYPE_EXPONENTIAL_HISTOGRAM);
  auto p = m->ExponentialHistogramPointAt(0);
  EXPECT_EQ(p.Count(), 1000u);
  EXPECT_EQ(p.Sum(), 500500.0);
  EXPECT_EQ(p.Min(), std::optional<double>(1.0));
  EXPECT_EQ(p.Max(), std::optional<double>(1000.0));
  // 1..1000 needs 11 buckets at scale 0 and 21 at scale 1: max_size 20.
  EXPECT_EQ(p.Scale(), 0);
  auto [offset, counts] = p.Positive();
  EXPECT_EQ(offset, -1);
  ASSERT_EQ(counts.size(), 11u);
  EXPECT_EQ(counts.front(), 1u);   // (0.5, 1]
  EXPECT_EQ(counts.back(), 488u);  // (512, 1024]
  // No view: the provider's default made it exponential too.
  auto frame = s.Find("frame");
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->Type(), FM_METRIC_TYPE_EXPONENTIAL_HISTOGRAM);
  EXPECT_EQ(frame->ExponentialHistogramPointAt(0).ZeroCount(), 1u);
  EXPECT_THROW((void)fm::ViewBuilder().Base2ExponentialHistogram(1), fm::Error);
  EXPECT_THROW((void)fm::ViewBuilder().Base2ExponentialHistogram(160, 21), fm::Error);
}

TEST(CppApi, ExponentialHistogramsTakePreparedSetsAndOverflow) {
  fm::ManualReader reader;
  auto view = fm::ViewBuilder().InstrumentName("rtt").Base2ExponentialHistogram().CardinalityLimit(3).Build();
  auto provider = fm::MeterProvider::Builder().AddReader(reader).AddView(view).Build();
  auto h = provider.GetMeter("p").CreateDoubleHistogram("rtt", "", "ms");
  // A prepared set (C: fm_attribute_set), a plain list and a bound handle
  // all reach one series.
  fm::AttributeSet eu({{"region", "eu"}});
  for (int i = 1; i <= 100; ++i) h.Record(static_cast<double>(i), eu);
  h.Record(1000.0, {{"region", "eu"}});
  h.Bind({{"region", "eu"}}).Record(0.5);
  // Past the limit (2 series + overflow), measurements go to the
  // overflow point, nothing is lost.
  for (const char* r : {"us", "asia", "sa", "af"}) h.Record(7.0, {{"region", r}});
  auto s = reader.Collect();
  auto m = s.Find("rtt");
  ASSERT_TRUE(m);
  ASSERT_EQ(m->Type(), FM_METRIC_TYPE_EXPONENTIAL_HISTOGRAM);
  uint64_t total = 0, overflow = 0, eu_count = 0;
  for (size_t i = 0; i < m->PointCount(); ++i) {
    auto p = m->ExponentialHistogramPointAt(i);
    total += p.Count();
    if (p.Attributes().Find("otel.metric.overflow")) overflow += p.Count();
    if (p.Attributes().Contains({{"region", "eu"}})) {
      eu_count = p.Count();
      EXPECT_EQ(p.Sum(), 5050.0 + 1000.0 + 0.5);
      EXPECT_EQ(p.Min(), std::optional<double>(0.5));
      EXPECT_EQ(p.Max(), std::optional<double>(1000.0));
    }
  }
  EXPECT_EQ(eu_count, 102u);
  EXPECT_EQ(total, 106u);
  EXPECT_EQ(overflow, 3u);  // "us" took the last regular series
  EXPECT_EQ(m->PointCount(), 3u);
}

TEST(CppApi, EncodesTheProtobufExposition) {
  fm::ManualReader reader;
  auto view = fm::ViewBuilder().InstrumentName("size").Base2ExponentialHistogram().Build();
  auto provider = fm::MeterProvider::Builder().AddReader(reader).AddView(view).Build();
  auto meter = provider.GetMeter("p");
  meter.CreateUInt64Counter("ticks").Add(3);
  meter.CreateDoubleHistogram("size").Record(1500.0);
  std::string bytes = fm::EncodePrometheus(reader.Collect(), fm::ExpositionFormat::kProtobuf);
  // Varint-length-delimited messages that end exactly at the end; each
  // MetricFamily starts with its name (field 1).
  size_t at = 0, messages = 0;
  bool saw_ticks = false, saw_size = false;
  while (at < bytes.size()) {
    uint64_t len = 0;
    for (int shift = 0;; shift += 7) {
      ASSERT_LT(at, bytes.size());
      uint8_t b = static_cast<uint8_t>(bytes[at++]);
      len |= static_cast<uint64_t>(b & 0x7f) << shift;
      if (!(b & 0x80)) break;
    }
    ASSERT_LE(at + len, bytes.size());
    std::string msg = bytes.substr(at, len);
    EXPECT_EQ(static_cast<uint8_t>(msg[0]), 0x0a);
    saw_ticks |= msg.find("ticks_total") != std::string::npos;
    saw_size |= msg.find("size") != std::string::npos;
    at += len;
    ++messages;
  }
  EXPECT_EQ(at, bytes.size());
  EXPECT_GE(messages, 2u);
  EXPECT_TRUE(saw_ticks);
  EXPECT_TRUE(saw_size);
  EXPECT_THROW((void)fm::EncodePrometheus(reader.Collect(), static_cast<fm::ExpositionFormat>(9)), fm::Error);
}

TEST(CppApi, DeltaAndCumulativeReaders) {
  fm::ManualReader cum;
  fm::ManualReader delta(fm::Temporality::kDelta);
  auto provider = fm::MeterProvider::Builder().AddReader(cum).AddReader(delta).Build();
  auto c = provider.GetMeter("m").CreateUInt64Counter("c");
  c.Add(2);
  (void)delta.Collect();
  c.Add(3);
  EXPECT_EQ(delta.Collect().Find("c")->FindNumberPoint()->AsUInt64(), 3u);
  EXPECT_EQ(cum.Collect().Find("c")->FindNumberPoint()->AsUInt64(), 5u);
  c.Add(1);
  auto s = delta.Collect();
  ASSERT_TRUE(s.Find("c"));
  EXPECT_EQ(s.Find("c")->Temporality(), FM_TEMPORALITY_DELTA);
}

TEST(CppApi, CollectionWindowServesTheCycleAReaderShared) {
  for (auto window : {std::chrono::milliseconds(60000), std::chrono::milliseconds(0)}) {
    fm::ManualReader first;
    fm::ManualReader second;
    auto provider =
        fm::MeterProvider::Builder().AddReader(first).AddReader(second).SetCollectionWindow(window).Build();
    auto c = provider.GetMeter("m").CreateUInt64Counter("c");
    c.Add(2);
    (void)first.Collect();
    c.Add(3);
    // Within the window the second reader gets the first one's reading;
    // with no window it reads anew.
    const uint64_t want = window.count() > 0 ? 2u : 5u;
    EXPECT_EQ(second.Collect().Find("c")->FindNumberPoint()->AsUInt64(), want);
    // It emitted that reading: its next collection reads anew.
    EXPECT_EQ(second.Collect().Find("c")->FindNumberPoint()->AsUInt64(), 5u);
  }
}

TEST(CppApi, ResourceAndShutdown) {
  fm::ManualReader reader;
  auto provider = fm::MeterProvider::Builder()
                      .AddReader(reader)
                      .SetServiceName("svc")
                      .AddResourceAttributes({{"region", "eu"}})
                      .SetCardinalityLimit(100)
                      .Build();
  auto s = reader.Collect();
  EXPECT_EQ(s.Resource().GetString("service.name"), std::string_view("svc"));
  EXPECT_EQ(s.Resource().GetString("region"), std::string_view("eu"));
  EXPECT_TRUE(provider.ForceFlush());
  EXPECT_TRUE(provider.Shutdown(std::chrono::milliseconds(500)));
  EXPECT_TRUE(provider.IsShutdown());
  EXPECT_THROW(reader.Collect(), fm::Error);
  fm::FlushResult late = provider.ForceFlush();  // reported, not thrown
  EXPECT_EQ(late.status(), FM_STATUS_SHUTDOWN);
  EXPECT_EQ(late.undelivered_points(), 0u);
  EXPECT_FALSE(late.message().empty());
}

// RAII: the MeterProvider goes out of scope before the instruments made
// from it, and nobody calls Shutdown(). Its destructor does the final
// collection and export.
TEST(CppApi, DestroyingTheLastProviderExportsTheFinalInterval) {
  fmtest::HttpSink sink;
  std::optional<fm::Meter> meter;
  std::optional<fm::Counter<uint64_t>> jobs;
  {
    auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
    // An hour between exports: only the final one can carry the totals.
    fm::AddPeriodicReader(provider, fm::Exporter::Pushgateway(fm::PushgatewayOptions(sink.Url(), "job")),
                          std::chrono::hours(1));
    meter.emplace(provider.GetMeter("m"));
    jobs.emplace(meter->CreateUInt64Counter("jobs.done"));
    jobs->Add(5, {{"queue", "a"}});
    jobs->Add(7, {{"queue", "a"}});
    EXPECT_TRUE(sink.Bodies().empty());
  }
  auto bodies = sink.Bodies();
  ASSERT_EQ(bodies.size(), 1u) << "destroying the last MeterProvider exports once";
  EXPECT_NE(bodies[0].find("jobs_done_total{queue=\"a\",otel_scope_name=\"m\"} 12\n"), std::string::npos)
      << bodies[0];
  jobs->Add(1, {{"queue", "a"}});  // still safe: counted as after-shutdown
  jobs.reset();
  meter.reset();
  EXPECT_EQ(sink.Bodies().size(), 1u);
}

TEST(CppApi, MovedHandlesKeepWorking) {
  Fixture f;
  auto c = f.meter.CreateUInt64Counter("moved");
  auto c2 = std::move(c);
  c2.Add(1);
  c.Add(1);  // moved-from: NULL handle, a no-op
  auto g = f.meter.CreateInt64ObservableGauge("mg");
  g.AddCallback([](auto& o) { o.Observe(5); });
  auto g2 = std::move(g);
  auto s = f.reader.Collect();
  EXPECT_EQ(s.Find("moved")->FindNumberPoint()->AsUInt64(), 1u);
  EXPECT_EQ(s.Find("mg")->FindNumberPoint()->AsInt64(), 5);
}

TEST(CppApi, ThreadsShareOneInstrument) {
  Fixture f;
  auto c = f.meter.CreateUInt64Counter("threads");
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t)
    ts.emplace_back([&c, t] {
      for (int i = 0; i < 10000; ++i) c.Add(1, {{"parity", t % 2}});
    });
  for (auto& t : ts) t.join();
  auto snap = f.reader.Collect();  // views below borrow from it
  auto m = snap.Find("threads");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->FindNumberPoint({{"parity", 0}})->AsUInt64() + m->FindNumberPoint({{"parity", 1}})->AsUInt64(),
            80000u);
}

TEST(CppApi, VersionString) { EXPECT_EQ(fm::Version(), FERROMETER_VERSION_STRING); }
