// 8 threads record (bound and unbound, shared and distinct series, one
// bound handle shared by all) while a cumulative and a delta reader
// collect concurrently; totals are exact.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "test_util.hpp"

using namespace fmtest;

namespace {

constexpr int kThreads = 8;
constexpr int kIters = 20000;

uint64_t SumPoints(const fm_metric* m, std::initializer_list<fm_attribute> want = {}) {
  uint64_t t = 0;
  for (size_t i = 0; m && i < fm_metric_point_count(m); ++i) {
    const fm_number_point* p = fm_metric_number_point(m, i);
    if (HasAttrs(fm_number_point_attributes(p), want)) t += fm_number_point_as_u64(p);
  }
  return t;
}

uint64_t HistCount(const fm_metric* m) {
  uint64_t t = 0;
  for (size_t i = 0; m && i < fm_metric_point_count(m); ++i) {
    const fm_histogram_point* p = fm_metric_histogram_point(m, i);
    size_t n = 0;
    const uint64_t* b = fm_histogram_point_bucket_counts(p, &n);
    uint64_t s = 0;
    for (size_t k = 0; k < n; ++k) s += b[k];
    EXPECT_EQ(s, fm_histogram_point_count(p));  // internally consistent
    t += fm_histogram_point_count(p);
  }
  return t;
}

// Collects a delta reader in a loop on its own thread, adding up the "ops"
// sums and "lat" counts it sees; Finish() stops it and takes what the
// last concurrent collection missed (three more collections: a series
// evicted at the last one is settled at a later one).
class DeltaCollector {
 public:
  explicit DeltaCollector(fm_manual_reader* r) : r_(r), t_([this] {
    while (!done_.load()) Take();
  }) {}
  void Finish() {
    done_ = true;
    t_.join();
    for (int i = 0; i < 3; ++i) Take();
  }
  std::atomic<uint64_t> ops{0}, hist{0};

 private:
  void Take() {
    fm_snapshot* s = nullptr;
    ASSERT_EQ(fm_manual_reader_collect(r_, &s), FM_STATUS_OK);
    Snap snap(s);
    ops += SumPoints(snap.Metric("ops"));
    hist += HistCount(snap.Metric("lat"));
  }
  fm_manual_reader* r_;
  std::atomic<bool> done_{false};
  std::thread t_;  // last: starts once the members above exist
};

void RunStress(bool bound) {
  Env e(FM_TEMPORALITY_PREFERENCE_CUMULATIVE);
  fm_manual_reader* delta = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_DELTA, &delta), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_add_reader(e.provider, delta), FM_STATUS_OK);
  fm_counter_u64* c = nullptr;
  fm_histogram_u64* h = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "ops", 3, nullptr, &c), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_histogram_u64(e.meter, "lat", 3, nullptr, &h), FM_STATUS_OK);

  std::atomic<bool> done{false};
  DeltaCollector delta_collector(delta);
  std::thread cum_collector([&] {
    uint64_t last = 0;
    while (!done.load()) {
      Snap snap(e.Collect());
      uint64_t now = SumPoints(snap.Metric("ops"));
      EXPECT_GE(now, last);  // cumulative never goes down
      last = now;
      HistCount(snap.Metric("lat"));
    }
  });

  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([&, t] {
      std::string mine = "t" + std::to_string(t);
      fm_attribute shared[] = {S("series", "shared")};
      fm_attribute own[] = {S("series", mine.c_str())};
      if (bound) {
        fm_bound_counter_u64 *bs = nullptr, *bo = nullptr;
        fm_bound_histogram_u64* bh = nullptr;
        ASSERT_EQ(fm_counter_u64_bind(c, shared, 1, &bs), FM_STATUS_OK);
        ASSERT_EQ(fm_counter_u64_bind(c, own, 1, &bo), FM_STATUS_OK);
        ASSERT_EQ(fm_histogram_u64_bind(h, shared, 1, &bh), FM_STATUS_OK);
        for (int i = 0; i < kIters; ++i) {
          fm_bound_counter_u64_add(bs, 1);
          fm_bound_counter_u64_add(bo, 2);
          fm_bound_histogram_u64_record(bh, static_cast<uint64_t>(i % 1000));
        }
        fm_bound_counter_u64_release(bs);
        fm_bound_counter_u64_release(bo);
        fm_bound_histogram_u64_release(bh);
      } else {
        for (int i = 0; i < kIters; ++i) {
          fm_counter_u64_add(c, 1, shared, 1);
          fm_counter_u64_add(c, 2, own, 1);
          fm_histogram_u64_record(h, static_cast<uint64_t>(i % 1000), own, 1);
        }
      }
    });
  }
  for (auto& w : workers) w.join();
  done = true;
  cum_collector.join();
  delta_collector.Finish();
  const uint64_t expected_ops = static_cast<uint64_t>(kThreads) * kIters * 3;
  const uint64_t expected_hist = static_cast<uint64_t>(kThreads) * kIters;
  Snap s(e.Collect());
  EXPECT_EQ(SumPoints(s.Metric("ops")), expected_ops);
  EXPECT_EQ(SumPoints(s.Metric("ops"), {S("series", "shared")}), static_cast<uint64_t>(kThreads) * kIters);
  EXPECT_EQ(SumPoints(s.Metric("ops"), {S("series", "t3")}), 2ull * kIters);
  EXPECT_EQ(HistCount(s.Metric("lat")), expected_hist);
  EXPECT_EQ(delta_collector.ops.load(), expected_ops);
  EXPECT_EQ(delta_collector.hist.load(), expected_hist);
  fm_counter_u64_release(c);
  fm_histogram_u64_release(h);
  fm_manual_reader_release(delta);
}

}  // namespace

TEST(Stress, UnboundEightThreadsTwoReaders) { RunStress(false); }
TEST(Stress, BoundEightThreadsTwoReaders) { RunStress(true); }

// One bound counter handle, bound on this thread, used by 8 other threads
// and this one at once (the binding thread's adds take the plain atomic
// add, the others' the add that stripes a contended cell) while a delta
// reader collects: every add is counted once.
TEST(Stress, OneBoundHandleSharedByNineThreads) {
  Env e(FM_TEMPORALITY_PREFERENCE_CUMULATIVE);
  fm_manual_reader* delta = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_DELTA, &delta), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_add_reader(e.provider, delta), FM_STATUS_OK);
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "ops", 3, nullptr, &c), FM_STATUS_OK);
  fm_attribute hot[] = {S("series", "hot")};
  fm_bound_counter_u64* b = nullptr;
  ASSERT_EQ(fm_counter_u64_bind(c, hot, 1, &b), FM_STATUS_OK);

  DeltaCollector delta_collector(delta);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([b] {
      for (int i = 0; i < kIters; ++i) fm_bound_counter_u64_add(b, 1);
    });
  }
  for (int i = 0; i < kIters; ++i) fm_bound_counter_u64_add(b, 3);
  for (auto& w : workers) w.join();
  delta_collector.Finish();
  const uint64_t expected = static_cast<uint64_t>(kThreads) * kIters + 3ull * kIters;
  Snap s(e.Collect());
  EXPECT_EQ(SumPoints(s.Metric("ops"), {S("series", "hot")}), expected);
  EXPECT_EQ(delta_collector.ops.load(), expected);
  fm_bound_counter_u64_release(b);
  fm_counter_u64_release(c);
  fm_manual_reader_release(delta);
}

// The attribute-less add through the C ABI (its series read without a pin,
// a compare-and-swap before the panic boundary) from 8 threads and this
// one, while a delta reader collects: every add is counted once. A second
// instrument's attribute-less series is removed every 2000 adds (ten
// times, past the number of series a map anchors) under the same load:
// nothing is rejected and its last series holds what came after.
TEST(Stress, AttributeLessAddsFromNineThreads) {
  Env e(FM_TEMPORALITY_PREFERENCE_CUMULATIVE);
  fm_manual_reader* delta = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_DELTA, &delta), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_add_reader(e.provider, delta), FM_STATUS_OK);
  fm_counter_u64* c = nullptr;
  fm_updown_counter_i64* removed = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "ops", 3, nullptr, &c), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_updown_counter_i64(e.meter, "gone", 4, nullptr, &removed), FM_STATUS_OK);

  DeltaCollector delta_collector(delta);
  std::vector<std::thread> workers;
  for (int t = 0; t < kThreads; ++t) {
    workers.emplace_back([c, removed, t] {
      for (int i = 0; i < kIters; ++i) {
        fm_counter_u64_add(c, 1 + (i + t) % 3, nullptr, 0);
        fm_updown_counter_i64_add(removed, -1, nullptr, 0);
      }
    });
  }
  for (int i = 0; i < kIters; ++i) {
    fm_counter_u64_add(c, 2, nullptr, 0);
    if (i % 2000 == 0) {
      EXPECT_EQ(fm_updown_counter_i64_remove_all(removed), FM_STATUS_OK);
    }
  }
  for (auto& w : workers) w.join();
  delta_collector.Finish();
  uint64_t expected = 2ull * kIters;
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 0; i < kIters; ++i) expected += 1 + (i + t) % 3;
  }
  Snap s(e.Collect());
  EXPECT_EQ(SumPoints(s.Metric("ops")), expected);
  EXPECT_EQ(delta_collector.ops.load(), expected);
  // After the last removal the series starts again: its total is minus
  // the number of adds since, at most every add.
  fm_updown_counter_i64_add(removed, -5, nullptr, 0);
  Snap after(e.Collect());
  const fm_metric* gone = after.Metric("gone");
  ASSERT_NE(gone, nullptr);
  ASSERT_EQ(fm_metric_point_count(gone), 1u);
  const int64_t left = fm_number_point_as_i64(fm_metric_number_point(gone, 0));
  EXPECT_LE(left, -5);
  EXPECT_GE(left, -5 - static_cast<int64_t>(kThreads) * kIters);
  fm_rejected_counts rej{};
  ASSERT_EQ(fm_provider_rejected(e.provider, &rej), FM_STATUS_OK);
  EXPECT_EQ(rej.sum_overflow + rej.invalid_attributes + rej.after_shutdown, 0u);
  fm_updown_counter_i64_release(removed);
  fm_counter_u64_release(c);
  fm_manual_reader_release(delta);
}

// Delta eviction after one idle cycle while 4 threads add to and bind
// series picked at random among 500 each (they go idle, are evicted and
// come back): the deltas collected add up to exactly what was recorded.
TEST(Stress, EvictionAfterOneCycleLosesNothing) {
  fm_manual_reader* delta = nullptr;
  fm_provider_builder* b = nullptr;
  fm_provider* p = nullptr;
  fm_meter* m = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_DELTA, &delta), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_new(&b), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_add_reader(b, delta), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_set_delta_eviction_after(b, 1), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_set_cardinality_limit(b, 100000), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_build(b, &p), FM_STATUS_OK);
  fm_provider_builder_release(b);
  ASSERT_EQ(fm_provider_get_meter(p, "test", 4, nullptr, 0, nullptr, 0, &m), FM_STATUS_OK);
  fm_counter_u64* c = nullptr;
  fm_histogram_u64* h = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(m, "ops", 3, nullptr, &c), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_histogram_u64(m, "lat", 3, nullptr, &h), FM_STATUS_OK);

  constexpr int kChurnThreads = 4;
  constexpr int kRounds = 20000;
  DeltaCollector collector(delta);
  std::vector<std::thread> workers;
  std::atomic<uint64_t> added{0};
  for (int t = 0; t < kChurnThreads; ++t) {
    workers.emplace_back([&, t] {
      uint64_t x = 0x9e3779b97f4a7c15ull ^ static_cast<uint64_t>(t + 1);
      uint64_t mine = 0;
      for (int i = 0; i < kRounds; ++i) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        fm_attribute a[] = {I("t", t), I("s", static_cast<int64_t>(x % 500))};
        if (i % 4 == 0) {
          fm_bound_counter_u64* bc = nullptr;
          ASSERT_EQ(fm_counter_u64_bind(c, a, 2, &bc), FM_STATUS_OK);
          for (int k = 0; k < 100; ++k) fm_bound_counter_u64_add(bc, 1);
          fm_bound_counter_u64_release(bc);
          mine += 100;
        } else {
          for (int k = 0; k < 20; ++k) fm_counter_u64_add(c, 1, a, 2);
          mine += 20;
        }
        fm_histogram_u64_record(h, 7, a, 2);
      }
      added += mine;
    });
  }
  for (auto& w : workers) w.join();
  collector.Finish();
  EXPECT_EQ(collector.ops.load(), added.load());
  EXPECT_EQ(collector.hist.load(), static_cast<uint64_t>(kChurnThreads) * kRounds);
  fm_rejected_counts rc{};
  ASSERT_EQ(fm_provider_rejected(p, &rc), FM_STATUS_OK);
  EXPECT_EQ(rc.overflow, 0u);
  fm_counter_u64_release(c);
  fm_histogram_u64_release(h);
  fm_meter_release(m);
  fm_provider_release(p);
  fm_manual_reader_release(delta);
}

TEST(Stress, ConcurrentInstrumentCreationAndRelease) {
  Env e;
  std::vector<std::thread> ts;
  for (int t = 0; t < kThreads; ++t) {
    ts.emplace_back([&] {
      for (int i = 0; i < 200; ++i) {
        fm_counter_u64* c = nullptr;
        ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "churn", 5, nullptr, &c), FM_STATUS_OK);
        fm_counter_u64_add(c, 1, nullptr, 0);
        fm_counter_u64_release(c);
      }
    });
  }
  for (auto& t : ts) t.join();
  Snap s(e.Collect());
  EXPECT_EQ(SumPoints(s.Metric("churn")), static_cast<uint64_t>(kThreads) * 200);
}

TEST(Stress, ObservableCallbacksDuringConcurrentCollections) {
  Env e;
  fm_manual_reader* r2 = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_DELTA, &r2), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_add_reader(e.provider, r2), FM_STATUS_OK);
  fm_observable_gauge_i64* g = nullptr;
  ASSERT_EQ(fm_meter_create_observable_gauge_i64(e.meter, "obs", 3, nullptr, &g), FM_STATUS_OK);
  std::atomic<int> calls{0};
  struct St {
    fm_observable_gauge_i64* g;
    std::atomic<int>* calls;
  } st{g, &calls};
  fm_callback_registration* reg = nullptr;
  ASSERT_EQ(fm_observable_gauge_i64_add_callback(
                g, [](void* ud) {
                  auto* s = static_cast<St*>(ud);
                  fm_observable_gauge_i64_observe(s->g, ++*s->calls, nullptr, 0);
                },
                &st, &reg),
            FM_STATUS_OK);
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t) {
    ts.emplace_back([&, t] {
      for (int i = 0; i < 200; ++i) {
        fm_snapshot* s = nullptr;
        ASSERT_EQ(fm_manual_reader_collect(t % 2 ? r2 : e.reader, &s), FM_STATUS_OK);
        fm_snapshot_release(s);
      }
    });
  }
  // Unregister while collections run: afterwards the callback never runs.
  std::this_thread::sleep_for(std::chrono::milliseconds(5));
  fm_callback_registration_release(reg);
  int after = calls.load();
  for (auto& t : ts) t.join();
  EXPECT_EQ(calls.load(), after);
  EXPECT_GT(after, 0);
  fm_observable_gauge_i64_release(g);
  fm_manual_reader_release(r2);
}
