// The global provider (issue 15, section 2): instruments from
// ferrometer::Provider::GetMeterProvider() are no-ops until the host sets a
// provider, then record into it, whenever they were created; a second set
// moves them; nothing recorded after a set is lost, even while other
// threads record through the set.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <thread>
#include <vector>

#include "ferrometer.hpp"

namespace fm = ferrometer;

namespace {

struct Host {
  fm::ManualReader reader;
  fm::MeterProvider provider{fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build()};

  // The u64 sum of `name` over every series with `attrs`, 0 when absent.
  uint64_t Sum(std::string_view name, fm::Attributes attrs = {}) const {
    auto s = reader.Collect();
    auto m = s.Find(name);
    if (!m) return 0;
    auto p = m->FindNumberPoint(attrs);
    return p ? p->AsUInt64() : 0;
  }
};

// Each test leaves the global as it found it: no provider.
class GlobalProvider : public ::testing::Test {
 protected:
  void SetUp() override { fm::Provider::SetMeterProvider(nullptr); }
  void TearDown() override { fm::Provider::SetMeterProvider(nullptr); }
  std::shared_ptr<fm::GlobalMeter> meter_ = fm::Provider::GetMeterProvider()->GetMeter("lib", "2.1");
};

}  // namespace

static_assert(noexcept(std::declval<fm::GlobalCounter<uint64_t>&>().Add(1, {{"a", 1}})), "hot path is noexcept");

TEST_F(GlobalProvider, EarlyInstrumentsRecordIntoTheProviderSetLater) {
  auto counter = meter_->CreateUInt64Counter("lib.requests", "Requests", "{request}");
  auto hist = meter_->CreateDoubleHistogram("lib.latency", "", "ms", {1.0, 10.0});
  auto updown = meter_->CreateInt64UpDownCounter("lib.active");
  auto gauge = meter_->CreateDoubleGauge("lib.temperature");
  counter->Add(1000, {{"route", "/a"}});
  hist->Record(5.0);
  updown->Add(-7);
  gauge->Record(99.0);
  EXPECT_FALSE(fm::Provider::HasMeterProvider());

  Host host;
  fm::Provider::SetMeterProvider(host.provider);
  EXPECT_TRUE(fm::Provider::HasMeterProvider());
  counter->Add(2, {{"route", "/a"}});
  counter->Add(3, {{"route", "/a"}});
  hist->Record(0.5);
  hist->Record(20.0);
  updown->Add(4);
  gauge->Record(21.5);

  auto s = host.reader.Collect();
  auto c = s.Find("lib.requests");
  ASSERT_TRUE(c);
  EXPECT_EQ(c->Description(), "Requests");
  EXPECT_EQ(c->Unit(), "{request}");
  EXPECT_EQ(c->FindNumberPoint({{"route", "/a"}})->AsUInt64(), 5u);  // not 1005
  auto h = s.Find("lib.latency")->FindHistogramPoint();
  ASSERT_TRUE(h);
  EXPECT_EQ(h->Count(), 2u);
  EXPECT_EQ(h->Sum(), 20.5);
  EXPECT_EQ(h->Bounds(), (std::vector<double>{1.0, 10.0}));  // the advice came along
  EXPECT_EQ(s.Find("lib.active")->FindNumberPoint()->AsInt64(), 4);
  EXPECT_EQ(s.Find("lib.temperature")->FindNumberPoint()->AsDouble(), 21.5);
}

TEST_F(GlobalProvider, BeforeASetNothingIsRecordedAnywhere) {
  Host unset;  // a provider that exists but is not the global one
  auto counter = meter_->CreateUInt64Counter("lib.requests");
  counter->Add(7);
  auto s = unset.reader.Collect();
  EXPECT_FALSE(s.Find("lib.requests"));
  EXPECT_EQ(unset.provider.Rejected().after_shutdown, 0u);
}

TEST_F(GlobalProvider, InstrumentsCreatedAfterTheSetRecordAtOnce) {
  Host host;
  fm::Provider::SetMeterProvider(host.provider);
  auto counter = fm::Provider::GetMeterProvider()->GetMeter("late")->CreateUInt64Counter("late.requests");
  counter->Add(3);
  EXPECT_EQ(host.Sum("late.requests"), 3u);
}

// Set called twice: the second set moves every global instrument; setting
// the same provider again changes nothing; nullptr makes them no-ops.
TEST_F(GlobalProvider, SettingAgainMovesEveryInstrument) {
  auto counter = meter_->CreateUInt64Counter("lib.requests");
  Host first, second;
  fm::Provider::SetMeterProvider(first.provider);
  counter->Add(1);
  fm::Provider::SetMeterProvider(second.provider);
  counter->Add(10);
  fm::Provider::SetMeterProvider(second.provider);
  counter->Add(5);
  EXPECT_EQ(first.Sum("lib.requests"), 1u);
  EXPECT_EQ(second.Sum("lib.requests"), 15u);

  fm::Provider::SetMeterProvider(nullptr);
  EXPECT_FALSE(fm::Provider::HasMeterProvider());
  counter->Add(1000);
  fm::Provider::SetMeterProvider(first.provider);
  counter->Add(100);
  EXPECT_EQ(first.Sum("lib.requests"), 101u);
  EXPECT_EQ(second.Sum("lib.requests"), 15u);
}

// The global does not own the provider: shutting it down (or destroying
// its last handle) is the host's, and later global measurements are
// counted as after-shutdown there until the next set.
TEST_F(GlobalProvider, ShutdownOfTheSetProviderCountsLaterMeasurements) {
  auto counter = meter_->CreateUInt64Counter("lib.requests");
  Host host;
  fm::Provider::SetMeterProvider(host.provider);
  counter->Add(2);
  ASSERT_TRUE(host.provider.Shutdown());
  counter->Add(3);
  counter->Add(4);
  EXPECT_EQ(host.provider.Rejected().after_shutdown, 2u);
  fm::Provider::SetMeterProvider(nullptr);
  counter->Add(5);
  EXPECT_EQ(host.provider.Rejected().after_shutdown, 2u);
}

TEST_F(GlobalProvider, DestroyingTheHostsProviderShutsItDownWhileSet) {
  auto counter = meter_->CreateUInt64Counter("lib.requests");
  fm::ManualReader reader;
  {
    fm::MeterProvider provider(reader);
    fm::Provider::SetMeterProvider(provider);
    counter->Add(1);
  }  // the last handle: shut down, though still the global one
  auto r = reader.TryCollect();
  EXPECT_FALSE(r.ok());
  counter->Add(1);  // counted in the shut-down provider; must not crash
}

TEST_F(GlobalProvider, ObservableCallbacksFollowTheProvider) {
  auto gauge = meter_->CreateInt64ObservableGauge("lib.queue");
  int64_t depth = 7;
  gauge->AddCallback([&depth](fm::GlobalObservableGauge<int64_t>::Observer& o) { o.Observe(depth, {{"q", "in"}}); });
  Host first, second;
  fm::Provider::SetMeterProvider(first.provider);
  auto s1 = first.reader.Collect();
  ASSERT_TRUE(s1.Find("lib.queue"));
  EXPECT_EQ(s1.Find("lib.queue")->FindNumberPoint({{"q", "in"}})->AsInt64(), 7);

  fm::Provider::SetMeterProvider(second.provider);
  depth = 9;
  auto s2 = second.reader.Collect();
  ASSERT_TRUE(s2.Find("lib.queue"));
  EXPECT_EQ(s2.Find("lib.queue")->FindNumberPoint()->AsInt64(), 9);
  // The first provider no longer runs it: no point in its next cycle.
  auto s1b = first.reader.Collect();
  auto m = s1b.Find("lib.queue");
  EXPECT_TRUE(!m || m->PointCount() == 0u);
}

// Threads record through a global counter while the main thread sets the
// provider, then sets another one. A measurement that starts after a set
// returned is never lost; measurements racing with the second set land in
// one provider or the other.
TEST_F(GlobalProvider, RecordingWhileAnotherThreadSetsLosesNothingAfterTheSet) {
  auto counter = meter_->CreateUInt64Counter("lib.requests");
  Host first, second;
  constexpr int kThreads = 4;
  constexpr uint64_t kAddsPerPhase = 20000;  // each thread, before each step
  // 1 after the first set returned, 2 after the second, 3: stop.
  std::atomic<int> phase{0};
  struct Counts {
    std::atomic<uint64_t> all{0}, after_first{0}, after_second{0};
  };
  std::vector<Counts> counts(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (;;) {
        int p = phase.load(std::memory_order_acquire);
        if (p == 3) return;
        counter->Add(1, {{"thread", t % 2}});
        counts[t].all.fetch_add(1, std::memory_order_relaxed);
        if (p >= 1) counts[t].after_first.fetch_add(1, std::memory_order_relaxed);
        if (p >= 2) counts[t].after_second.fetch_add(1, std::memory_order_relaxed);
      }
    });
  }
  // Waits until every thread made kAddsPerPhase adds counted by `field`.
  auto wait_for = [&](std::atomic<uint64_t> Counts::*field) {
    for (int t = 0; t < kThreads; ++t)
      while ((counts[t].*field).load(std::memory_order_relaxed) < kAddsPerPhase) std::this_thread::yield();
  };
  wait_for(&Counts::all);
  fm::Provider::SetMeterProvider(first.provider);
  phase.store(1, std::memory_order_release);
  wait_for(&Counts::after_first);
  fm::Provider::SetMeterProvider(second.provider);
  phase.store(2, std::memory_order_release);
  wait_for(&Counts::after_second);
  phase.store(3, std::memory_order_release);
  for (auto& th : threads) th.join();

  uint64_t all = 0, a1 = 0, a2 = 0;
  for (auto& c : counts) {
    all += c.all.load();
    a1 += c.after_first.load();
    a2 += c.after_second.load();
  }
  auto total = [](const Host& h) {
    return h.Sum("lib.requests", {{"thread", 0}}) + h.Sum("lib.requests", {{"thread", 1}});
  };
  uint64_t in_first = total(first), in_second = total(second);
  // Adds racing with the first set may be no-ops; none after it is lost,
  // and adds racing with the second land in one provider or the other.
  EXPECT_GE(in_first + in_second, a1) << "a measurement after the first set was lost";
  EXPECT_LE(in_first + in_second, all);
  EXPECT_GE(in_second, a2) << "a measurement after the second set was lost";
  EXPECT_LE(in_second, a1);  // only adds after the first set can reach the second
  EXPECT_GE(a2, kThreads * kAddsPerPhase);
}

// opentelemetry-cpp hosts hold the provider in a shared_ptr and clear the
// global with an empty one.
TEST_F(GlobalProvider, SharedPointerFormsSetAndClear) {
  auto counter = meter_->CreateUInt64Counter("lib.requests");
  fm::ManualReader reader;
  auto provider = std::make_shared<fm::MeterProvider>(reader);
  fm::Provider::SetMeterProvider(provider);
  counter->Add(4);
  std::shared_ptr<fm::MeterProvider> none;
  fm::Provider::SetMeterProvider(none);
  EXPECT_FALSE(fm::Provider::HasMeterProvider());
  counter->Add(100);
  auto s = reader.Collect();
  ASSERT_TRUE(s.Find("lib.requests"));
  EXPECT_EQ(s.Find("lib.requests")->FindNumberPoint()->AsUInt64(), 4u);
}

TEST_F(GlobalProvider, InvalidNamesFailAtCreationNotAtTheSet) {
  auto r = [this] {
    try {
      meter_->CreateUInt64Counter("9 bad name");
    } catch (const fm::Error& e) {
      return e.status();
    }
    return FM_STATUS_OK;
  }();
  EXPECT_EQ(r, FM_STATUS_INVALID_NAME);
}

// The C functions beneath: what set returns, prepared sets, NULL handles
// and bad arguments.
TEST_F(GlobalProvider, CApiContract) {
  Host first, second;
  EXPECT_FALSE(fm_global_set_meter_provider(first.provider.get()));  // none was set
  EXPECT_TRUE(fm_global_set_meter_provider(second.provider.get()));
  EXPECT_TRUE(fm_global_meter_provider_is_set());

  fm_global_meter* m = nullptr;
  EXPECT_EQ(fm_global_get_meter("", 0, nullptr, 0, nullptr, 0, &m), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_global_get_meter("c", 1, nullptr, 0, nullptr, 0, nullptr), FM_STATUS_INVALID_ARGUMENT);
  ASSERT_EQ(fm_global_get_meter("c", 1, "1.0", 3, nullptr, 0, &m), FM_STATUS_OK);
  fm_global_histogram_u64* h = nullptr;
  fm_instrument_options bad{};
  const double unsorted[2] = {5.0, 1.0};
  bad.boundaries = unsorted;
  bad.boundaries_len = 2;
  EXPECT_EQ(fm_global_meter_create_histogram_u64(m, "c.h", 3, &bad, &h), FM_STATUS_INVALID_BOUNDARIES);
  EXPECT_EQ(h, nullptr);  // outputs are written only on success
  ASSERT_EQ(fm_global_meter_create_histogram_u64(m, "c.h", 3, nullptr, &h), FM_STATUS_OK);
  fm_global_observable_gauge_f64* g = nullptr;
  ASSERT_EQ(fm_global_meter_create_observable_gauge_f64(m, "c.g", 3, nullptr, &g), FM_STATUS_OK);
  fm_global_callback_registration* r = nullptr;
  EXPECT_EQ(fm_global_observable_gauge_f64_add_callback(g, nullptr, nullptr, &r), FM_STATUS_INVALID_ARGUMENT);

  fm::AttributeSet prepared({{"k", "v"}});
  fm_global_histogram_u64_record_prepared(h, 7, prepared.get());
  fm_global_histogram_u64_record(nullptr, 1, nullptr, 0);            // NULL instrument: no-op
  fm_global_histogram_u64_record_prepared(nullptr, 1, prepared.get());
  fm_global_observable_gauge_f64_observe(nullptr, 1.0, nullptr, 0);
  auto s = second.reader.Collect();
  auto p = s.Find("c.h")->FindHistogramPoint({{"k", "v"}});
  ASSERT_TRUE(p);
  EXPECT_EQ(p->Count(), 1u);
  EXPECT_EQ(p->Sum(), 7.0);
  EXPECT_FALSE(first.reader.Collect().Find("c.h"));

  fm_global_observable_gauge_f64_release(g);
  fm_global_histogram_u64_release(h);
  fm_global_histogram_u64_release(nullptr);
  fm_global_meter_release(m);
  fm_global_callback_registration_release(nullptr);
}
