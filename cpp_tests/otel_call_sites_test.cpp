// Call sites as opentelemetry-cpp writes them (issue 15, section 3):
// attributes from std::map, std::unordered_map, vectors of pairs and any
// iterable of key/value pairs, with no allocation for an existing series;
// one callback type (ObserverResult) for every observable kind, and
// RemoveCallback(callback, state) removing one registration.
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <list>
#include <map>
#include <new>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "ferrometer.hpp"

namespace fm = ferrometer;

// ---- allocation counting: every operator new of this program ----
// (Out of line, so that the compiler does not pair an inlined free() with
// the new expression and warn about a mismatch.)
namespace {
std::atomic<long> g_allocations{0};
}  // namespace

[[gnu::noinline]] void* operator new(std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void* operator new[](std::size_t n) {
  g_allocations.fetch_add(1, std::memory_order_relaxed);
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
[[gnu::noinline]] void operator delete(void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete(void* p, std::size_t) noexcept { std::free(p); }
[[gnu::noinline]] void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace {

struct Fixture {
  fm::ManualReader reader;
  fm::MeterProvider provider{fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build()};
  fm::Meter meter = provider.GetMeter("otel-style");
};

}  // namespace

TEST(KeyValueAttributes, EveryContainerOfPairsRecords) {
  Fixture f;
  auto c = f.meter.CreateUInt64Counter("requests");
  std::map<std::string, std::string> by_map{{"route", "/a"}, {"method", "GET"}};
  std::unordered_map<std::string, std::string> by_hash{{"method", "GET"}, {"route", "/a"}};
  std::vector<std::pair<std::string, std::string>> by_vector{{"route", "/a"}, {"method", "GET"}};
  std::list<std::pair<const char*, std::string_view>> by_list{{"method", "GET"}, {"route", "/a"}};
  c.Add(1, by_map);
  c.Add(2, by_hash);
  c.Add(4, by_vector);
  c.Add(8, by_list);
  std::map<std::string, int64_t> ints{{"code", 200}};
  std::vector<std::pair<std::string_view, bool>> bools{{"ok", true}};
  std::unordered_map<std::string, double> doubles{{"ratio", 0.5}};
  c.Add(16, ints);
  c.Add(32, bools);
  c.Add(64, doubles);

  auto h = f.meter.CreateDoubleHistogram("latency");
  h.Record(1.5, by_map);
  auto g = f.meter.CreateInt64Gauge("depth");
  g.Record(3, by_hash);
  auto u = f.meter.CreateDoubleUpDownCounter("level");
  u.Add(-0.5, by_vector);

  auto s = f.reader.Collect();
  auto m = s.Find("requests");
  ASSERT_TRUE(m);
  // Four containers, one series: their order does not matter.
  EXPECT_EQ(m->FindNumberPoint({{"route", "/a"}, {"method", "GET"}})->AsUInt64(), 15u);
  EXPECT_EQ(m->FindNumberPoint({{"code", 200}})->AsUInt64(), 16u);
  EXPECT_EQ(m->FindNumberPoint({{"ok", true}})->AsUInt64(), 32u);
  EXPECT_EQ(m->FindNumberPoint({{"ratio", 0.5}})->AsUInt64(), 64u);
  EXPECT_EQ(m->PointCount(), 4u);
  EXPECT_EQ(s.Find("latency")->FindHistogramPoint({{"route", "/a"}, {"method", "GET"}})->Count(), 1u);
  EXPECT_EQ(s.Find("depth")->FindNumberPoint({{"method", "GET"}})->AsInt64(), 3);
  EXPECT_EQ(s.Find("level")->FindNumberPoint({{"route", "/a"}})->AsDouble(), -0.5);
}

TEST(KeyValueAttributes, MoreThanSixteenPairsStillRecord) {
  Fixture f;
  auto c = f.meter.CreateUInt64Counter("wide");
  std::map<std::string, int> many;
  for (int i = 0; i < 20; ++i) many["k" + std::to_string(i + 10)] = i;
  c.Add(3, many);
  auto s = f.reader.Collect();
  auto p = s.Find("wide")->FindNumberPoint({{"k10", 0}, {"k29", 19}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->AsUInt64(), 3u);
  EXPECT_EQ(p->Attributes().size(), 20u);
}

// Once a series exists, recording with a container of pairs allocates
// nothing in C++ (this program counts every operator new; the library's
// own recording path is checked by its Rust tests). Twenty pairs, past
// the stack buffer, are the control: the counter does see allocations.
TEST(KeyValueAttributes, NoAllocationForAnExistingSeries) {
  Fixture f;
  auto c = f.meter.CreateUInt64Counter("requests");
  auto h = f.meter.CreateDoubleHistogram("latency");
  std::map<std::string, std::string> by_map{{"route", "/a"}, {"method", "GET"}, {"status", "200"}};
  std::unordered_map<std::string, int64_t> by_hash{{"code", 200}, {"shard", 3}};
  std::vector<std::pair<std::string, std::string>> by_vector{{"route", "/a"}, {"method", "GET"}};
  c.Add(1, by_map);  // creates the series
  c.Add(1, by_hash);
  c.Add(1, by_vector);
  h.Record(1.0, by_map);
  long before = g_allocations.load();
  for (int i = 0; i < 1000; ++i) {
    c.Add(1, by_map);
    c.Add(1, by_hash);
    c.Add(1, by_vector);
    h.Record(2.0, by_map);
  }
  EXPECT_EQ(g_allocations.load() - before, 0);

  std::map<std::string, int> many;
  for (int i = 0; i < 20; ++i) many["k" + std::to_string(i + 10)] = i;
  c.Add(1, many);
  before = g_allocations.load();
  c.Add(1, many);
  EXPECT_GT(g_allocations.load() - before, 0) << "the allocation counter sees nothing";
  EXPECT_EQ(f.reader.Collect().Find("requests")->FindNumberPoint({{"route", "/a"}, {"status", "200"}})->AsUInt64(),
            1001u);
}

// ---- one callback type for every observable kind ----

namespace {

struct Readings {
  int calls = 0;
  double value = 0;
};

// Written once, registered on counters, up-down counters and gauges of
// every number type (opentelemetry-cpp's ObservableCallbackPtr).
void ReportReading(fm::ObserverResult result, void* state) {
  auto* r = static_cast<Readings*>(state);
  ++r->calls;
  result.Observe(r->value, {{"sensor", "a"}});
  result.Observe(int64_t{7}, std::map<std::string, std::string>{{"sensor", "b"}});
}

}  // namespace

TEST(ObserverResult, OneCallbackServesEveryObservableKind) {
  Fixture f;
  auto oc = f.meter.CreateUInt64ObservableCounter("oc");
  auto ic = f.meter.CreateInt64ObservableCounter("ic");
  auto du = f.meter.CreateDoubleObservableUpDownCounter("du");
  auto ig = f.meter.CreateInt64ObservableGauge("ig");
  auto dg = f.meter.CreateDoubleObservableGauge("dg");
  Readings r{0, 41.6};
  oc.AddCallback(&ReportReading, &r);
  ic.AddCallback(&ReportReading, &r);
  du.AddCallback(&ReportReading, &r);
  ig.AddCallback(&ReportReading, &r);
  dg.AddCallback(&ReportReading, &r);
  auto s = f.reader.Collect();
  EXPECT_EQ(r.calls, 5);
  EXPECT_EQ(s.Find("oc")->FindNumberPoint({{"sensor", "a"}})->AsUInt64(), 42u);  // rounded
  EXPECT_EQ(s.Find("ic")->FindNumberPoint({{"sensor", "a"}})->AsInt64(), 42);
  EXPECT_EQ(s.Find("du")->FindNumberPoint({{"sensor", "a"}})->AsDouble(), 41.6);
  EXPECT_EQ(s.Find("ig")->FindNumberPoint({{"sensor", "a"}})->AsInt64(), 42);
  EXPECT_EQ(s.Find("dg")->FindNumberPoint({{"sensor", "a"}})->AsDouble(), 41.6);
  EXPECT_EQ(s.Find("oc")->FindNumberPoint({{"sensor", "b"}})->AsUInt64(), 7u);
  EXPECT_EQ(s.Find("dg")->FindNumberPoint({{"sensor", "b"}})->AsDouble(), 7.0);
}

TEST(ObserverResult, ValuesAnInstrumentCannotHoldAreDroppedAndCounted) {
  Fixture f;
  auto oc = f.meter.CreateUInt64ObservableCounter("oc");
  auto ig = f.meter.CreateInt64ObservableGauge("ig");
  oc.AddCallback([](fm::ObserverResult r) {
    EXPECT_EQ(r.ValueType(), FM_NUMBER_U64);
    r.Observe(-3, {{"k", "negative"}});
    r.Observe(std::nan(""), {{"k", "nan"}});
    r.Observe(uint64_t{1} << 63, {{"k", "big"}});  // fits a uint64_t
  });
  ig.AddCallback([](fm::ObserverResult r) {
    r.Observe(std::numeric_limits<double>::infinity(), {{"k", "inf"}});
    r.Observe(uint64_t{1} << 63, {{"k", "too big"}});
    r.Observe(-2.5, {{"k", "rounded"}});
  });
  auto s = f.reader.Collect();
  auto oc_m = s.Find("oc");
  ASSERT_TRUE(oc_m);
  EXPECT_EQ(oc_m->PointCount(), 1u);
  EXPECT_EQ(oc_m->FindNumberPoint({{"k", "big"}})->AsUInt64(), uint64_t{1} << 63);
  auto ig_m = s.Find("ig");
  ASSERT_TRUE(ig_m);
  EXPECT_EQ(ig_m->PointCount(), 1u);
  EXPECT_EQ(ig_m->FindNumberPoint({{"k", "rounded"}})->AsInt64(), -3);
  auto rej = f.provider.Rejected();
  EXPECT_EQ(rej.negative, 1u);
  EXPECT_EQ(rej.nan, 1u);
  EXPECT_EQ(rej.infinite, 1u);
  EXPECT_EQ(rej.sum_overflow, 1u);
}

TEST(ObserverResult, RemoveCallbackRemovesOneRegistration) {
  Fixture f;
  auto g = f.meter.CreateDoubleObservableGauge("g");
  Readings a{0, 1.0}, b{0, 2.0};
  g.AddCallback(&ReportReading, &a);
  g.AddCallback(&ReportReading, &a);  // the same pair twice
  g.AddCallback(&ReportReading, &b);
  (void)f.reader.Collect();
  EXPECT_EQ(a.calls, 2);
  EXPECT_EQ(b.calls, 1);

  EXPECT_TRUE(g.RemoveCallback(&ReportReading, &a));
  (void)f.reader.Collect();
  EXPECT_EQ(a.calls, 3);  // one registration of (ReportReading, &a) is left
  EXPECT_EQ(b.calls, 2);  // another state's registration is untouched

  EXPECT_TRUE(g.RemoveCallback(&ReportReading, &a));
  EXPECT_FALSE(g.RemoveCallback(&ReportReading, &a));
  (void)f.reader.Collect();
  EXPECT_EQ(a.calls, 3);
  EXPECT_EQ(b.calls, 3);
}

TEST(ObserverResult, GlobalObservablesTakeTheSameCallback) {
  fm::Provider::SetMeterProvider(nullptr);
  auto meter = fm::Provider::GetMeterProvider()->GetMeter("otel-style-global");
  auto gauge = meter->CreateInt64ObservableGauge("global.g");
  auto counter = meter->CreateDoubleObservableCounter("global.c");
  Readings r{0, 5.4};
  gauge->AddCallback(&ReportReading, &r);
  counter->AddCallback(&ReportReading, &r);
  counter->AddCallback(&ReportReading, &r);
  EXPECT_TRUE(counter->RemoveCallback(&ReportReading, &r));
  Fixture f;
  fm::Provider::SetMeterProvider(f.provider);
  auto s = f.reader.Collect();
  EXPECT_EQ(r.calls, 2);
  EXPECT_EQ(s.Find("global.g")->FindNumberPoint({{"sensor", "a"}})->AsInt64(), 5);
  EXPECT_EQ(s.Find("global.c")->FindNumberPoint({{"sensor", "a"}})->AsDouble(), 5.4);
  fm::Provider::SetMeterProvider(nullptr);
}

// What counts as a container of key/value pairs (compile-time).
static_assert(fm::detail::IsKeyValues<std::map<std::string, std::string>>::value, "map");
static_assert(fm::detail::IsKeyValues<std::unordered_map<std::string, int64_t>>::value, "unordered_map");
static_assert(fm::detail::IsKeyValues<std::vector<std::pair<const char*, double>>>::value, "vector of pairs");
static_assert(fm::detail::IsKeyValues<std::array<std::pair<std::string_view, bool>, 2>>::value, "array of pairs");
static_assert(!fm::detail::IsKeyValues<std::vector<fm::Attribute>>::value, "Attribute lists keep their overload");
static_assert(!fm::detail::IsKeyValues<std::map<std::string, std::vector<int>>>::value, "no array values");
static_assert(!fm::detail::IsKeyValues<std::string>::value, "a string is no container of pairs");
