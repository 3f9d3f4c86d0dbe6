// Exemplars from C and C++ hosts: the thread's current trace context
// (TraceScope / fm_trace_context_set) and explicit per-measurement
// contexts (the last argument of Add/Record, the C `_in_context` calls),
// from several threads, on plain and bound handles; what the collected
// points carry.

#include <gtest/gtest.h>

#include <atomic>
#include <cstring>
#include <set>
#include <thread>
#include <vector>

#include "ferrometer.hpp"

namespace fm = ferrometer;

namespace {

fm::TraceContext Ctx(uint8_t i, bool sampled) {
  uint8_t trace[16];
  uint8_t span[8];
  std::memset(trace, i, sizeof trace);
  std::memset(span, static_cast<uint8_t>(i ^ 0x5a), sizeof span);
  return fm::TraceContext(trace, span, sampled);
}

// The thread index an exemplar's trace id names (all 16 bytes equal), or -1.
int ThreadOf(const fm::Exemplar& e) {
  fm::TraceContext c = e.Context();
  for (int k = 1; k < 16; ++k) {
    if (c.TraceId()[k] != c.TraceId()[0]) return -1;
  }
  for (int k = 0; k < 8; ++k) {
    if (c.SpanId()[k] != static_cast<uint8_t>(c.TraceId()[0] ^ 0x5a)) return -1;
  }
  return c.TraceId()[0];
}

}  // namespace

TEST(Exemplars, CurrentAndExplicitContextsFromSeveralThreads) {
  fm::ManualReader reader;
  fm::MeterProvider provider{fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build()};
  fm::Meter meter = provider.GetMeter("exemplars");
  auto counter = meter.CreateUInt64Counter("frames");
  auto hist = meter.CreateDoubleHistogram("frame.ms");
  constexpr int kThreads = 4;
  constexpr uint64_t kPerThread = 5000;
  std::vector<std::thread> threads;
  for (int t = 1; t <= kThreads; ++t) {
    threads.emplace_back([&, t] {
      auto bound = counter.Bind({{"map", "arena"}});
      fm::TraceScope scope(Ctx(static_cast<uint8_t>(t), true));
      for (uint64_t i = 0; i < kPerThread; ++i) {
        // The value names the thread: 1000 * t + a small part.
        uint64_t v = 1000 * static_cast<uint64_t>(t) + i % 100;
        switch (i % 3) {
          case 0: counter.Add(v, {{"map", "arena"}}); break;
          case 1: bound.Add(v); break;
          default: counter.Add(v, {{"map", "arena"}}, Ctx(static_cast<uint8_t>(t), true)); break;
        }
        hist.Record(static_cast<double>(t), {{"map", "arena"}}, Ctx(static_cast<uint8_t>(t), true));
      }
    });
  }
  for (auto& th : threads) th.join();
  auto s = reader.Collect();
  auto m = s.Find("frames");
  ASSERT_TRUE(m);
  auto p = m->FindNumberPoint({{"map", "arena"}});
  ASSERT_TRUE(p);
  uint64_t want = 0;
  for (uint64_t t = 1; t <= kThreads; ++t) {
    for (uint64_t i = 0; i < kPerThread; ++i) want += 1000 * t + i % 100;
  }
  EXPECT_EQ(p->AsUInt64(), want) << "every measurement counted";
  ASSERT_EQ(p->ExemplarCount(), 1u) << "the default reservoir of a sum has one cell";
  fm::Exemplar e = p->ExemplarAt(0);
  int t = ThreadOf(e);
  ASSERT_GE(t, 1);
  ASSERT_LE(t, kThreads);
  EXPECT_EQ(static_cast<int>(e.AsDouble()) / 1000, t) << "the value and its trace come from one thread";
  EXPECT_GT(e.Time(), 0u);

  auto h = s.Find("frame.ms");
  ASSERT_TRUE(h);
  auto hp = h->FindHistogramPoint({{"map", "arena"}});
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->Count(), kThreads * kPerThread);
  // One exemplar per bucket: values 1..4 fall in the default buckets
  // (0, 5] -> one bucket here, so one exemplar, from a thread whose value it is.
  ASSERT_GE(hp->ExemplarCount(), 1u);
  for (size_t i = 0; i < hp->ExemplarCount(); ++i) {
    fm::Exemplar he = hp->ExemplarAt(i);
    EXPECT_EQ(ThreadOf(he), static_cast<int>(he.AsDouble()));
  }
}

TEST(Exemplars, TraceBasedSkipsUnsampledAndAlwaysOffKeepsNone) {
  for (uint32_t filter : {FM_EXEMPLAR_FILTER_TRACE_BASED, FM_EXEMPLAR_FILTER_ALWAYS_OFF}) {
    fm::ManualReader reader;
    fm::MeterProvider provider{
        fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().SetExemplarFilter(filter).Build()};
    auto c = provider.GetMeter("m").CreateUInt64Counter("c");
    {
      fm::TraceScope scope(Ctx(7, false));
      c.Add(1);
    }
    c.Add(2, Ctx(8, filter == FM_EXEMPLAR_FILTER_ALWAYS_OFF));
    auto s = reader.Collect();
    auto p = s.Find("c")->FindNumberPoint();
    ASSERT_TRUE(p);
    EXPECT_EQ(p->AsUInt64(), 3u);
    EXPECT_EQ(p->ExemplarCount(), 0u) << "filter " << filter;
  }
  // The scope restored "no context".
  EXPECT_FALSE(fm::TraceContext::Current().IsSampled());
}

TEST(Exemplars, CApiBothContextStyles) {
  fm_manual_reader* reader = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_DELTA, &reader), FM_STATUS_OK);
  fm_provider* provider = nullptr;
  ASSERT_EQ(fm_provider_new(reader, &provider), FM_STATUS_OK);
  fm_meter* meter = nullptr;
  ASSERT_EQ(fm_provider_get_meter(provider, "c", 1, nullptr, 0, nullptr, 0, &meter), FM_STATUS_OK);
  fm_histogram_u64* h = nullptr;
  ASSERT_EQ(fm_meter_create_histogram_u64(meter, "h", 1, nullptr, &h), FM_STATUS_OK);

  fm_trace_context a{};
  std::memset(a.trace_id, 0xa1, 16);
  std::memset(a.span_id, 0xb1, 8);
  a.flags = 1;
  fm_trace_context prev{};
  std::memset(&prev, 0xff, sizeof prev);
  ASSERT_EQ(fm_trace_context_set(&a, &prev), FM_STATUS_OK);
  EXPECT_EQ(prev.flags, 0) << "no previous context: all zero";
  fm_histogram_u64_record(h, 3, nullptr, 0);  // current context
  fm_trace_context b = a;
  std::memset(b.trace_id, 0xa2, 16);
  fm_histogram_u64_record_in_context(h, 3000, nullptr, 0, &b);  // explicit, another bucket
  ASSERT_EQ(fm_trace_context_set(nullptr, &prev), FM_STATUS_OK);
  EXPECT_EQ(prev.trace_id[0], 0xa1);
  fm_trace_context cur{};
  ASSERT_EQ(fm_trace_context_current(&cur), FM_STATUS_OK);
  EXPECT_EQ(cur.flags, 0);
  EXPECT_EQ(fm_trace_context_current(nullptr), FM_STATUS_INVALID_ARGUMENT);
  fm_histogram_u64_record_in_context(h, 4, nullptr, 0, nullptr);  // NULL: no current context either

  fm_snapshot* snap = nullptr;
  ASSERT_EQ(fm_manual_reader_collect(reader, &snap), FM_STATUS_OK);
  const fm_metric* m = fm_snapshot_find_metric(snap, "h", 1);
  ASSERT_NE(m, nullptr);
  const fm_histogram_point* p = fm_metric_histogram_point(m, 0);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(fm_histogram_point_count(p), 3u);
  ASSERT_EQ(fm_histogram_point_exemplar_count(p), 2u);
  std::set<std::pair<double, int>> got;
  for (size_t i = 0; i < 2; ++i) {
    const fm_exemplar* e = fm_histogram_point_exemplar(p, i);
    fm_trace_context c{};
    ASSERT_TRUE(fm_exemplar_trace_context(e, &c));
    EXPECT_EQ(c.span_id[3], 0xb1);
    got.insert({fm_exemplar_as_f64(e), c.trace_id[15]});
  }
  EXPECT_EQ(got, (std::set<std::pair<double, int>>{{3.0, 0xa1}, {3000.0, 0xa2}}));
  EXPECT_EQ(fm_histogram_point_exemplar(p, 2), nullptr);
  fm_snapshot_release(snap);
  // Delta: handed out once.
  ASSERT_EQ(fm_manual_reader_collect(reader, &snap), FM_STATUS_OK);
  m = fm_snapshot_find_metric(snap, "h", 1);
  EXPECT_TRUE(m == nullptr || fm_metric_point_count(m) == 0 ||
              fm_histogram_point_exemplar_count(fm_metric_histogram_point(m, 0)) == 0);
  fm_snapshot_release(snap);
  // NULL handles and NULL out are no-ops.
  fm_histogram_u64_record_in_context(nullptr, 1, nullptr, 0, &a);
  EXPECT_FALSE(fm_exemplar_trace_context(nullptr, nullptr));
  EXPECT_EQ(fm_exemplar_time(nullptr), 0u);

  fm_histogram_u64_release(h);
  fm_meter_release(meter);
  fm_provider_release(provider);
  fm_manual_reader_release(reader);
}
