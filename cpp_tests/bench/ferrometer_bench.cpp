// The Rust peers bench (benches/peers.rs) cases, measured from C++ through
// libferrometer.so: once through the C API and once through the C++
// wrapper. Same attributes (method=GET, route=/api/v1/items, status=200,
// strings), same instrument names, one cumulative manual reader.
//
//   cmake -S . -B build/bench -DCMAKE_BUILD_TYPE=Release -DFERROMETER_BUILD_BENCHMARKS=ON
//   cmake --build build/bench --target ferrometer_bench
//   build/bench/cpp_tests/bench/ferrometer_bench
//
// Results and the comparison with the Rust numbers: docs/cpp-benchmarks.md.
#include <benchmark/benchmark.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstring>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

#include "../attrs.hpp"
#include "ferrometer.h"
#include "ferrometer.hpp"

namespace fm = ferrometer;
using fmtest::S;
using fmtest::Static;

namespace {

constexpr const char* kMethod = "GET";
constexpr const char* kRoute = "/api/v1/items";
constexpr const char* kStatus = "200";


const fm_attribute kAttrs[3] = {S("method", kMethod), S("route", kRoute), S("status", kStatus)};
// The same literals marked FM_VALUE_STATIC (Rust's &'static str): series
// keep the pointers, lookups compare addresses instead of bytes.
const fm_attribute kAttrsStatic[3] = {Static(S("method", kMethod)), Static(S("route", kRoute)),
                                      Static(S("status", kStatus))};
const fm_attribute kAttrsUnsorted[3] = {S("status", kStatus), S("method", kMethod), S("route", kRoute)};

// A provider with one cumulative manual reader and a meter "bench"
// (fm_one_reader() in benches/peers.rs).
struct CEnv {
  fm_manual_reader* reader = nullptr;
  fm_provider* provider = nullptr;
  fm_meter* meter = nullptr;
  CEnv() {
    fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &reader);
    fm_provider_new(reader, &provider);
    fm_provider_get_meter(provider, "bench", 5, nullptr, 0, nullptr, 0, &meter);
  }
  ~CEnv() {
    fm_meter_release(meter);
    fm_provider_shutdown(provider, 1000);
    fm_provider_release(provider);
    fm_manual_reader_release(reader);
  }
  fm_counter_u64* Counter() const {
    fm_counter_u64* c = nullptr;
    fm_meter_create_counter_u64(meter, "requests", 8, nullptr, &c);
    return c;
  }
};

struct CppEnv {
  fm::ManualReader reader;
  fm::MeterProvider provider{reader};
  fm::Meter meter = provider.GetMeter("bench");
  ~CppEnv() { provider.Shutdown(); }
};

// ------------------------------------------------ counter_add_3attrs

// One C counter add per iteration with the 3 attributes `attrs`.
void CounterAddC(benchmark::State& state, const fm_attribute* attrs) {
  CEnv env;
  fm_counter_u64* c = env.Counter();
  for (auto _ : state) fm_counter_u64_add(c, 1, attrs, 3);
  fm_counter_u64_release(c);
}

void BM_C_CounterAdd3Attrs(benchmark::State& state) { CounterAddC(state, kAttrs); }
BENCHMARK(BM_C_CounterAdd3Attrs);

void BM_Cpp_CounterAdd3Attrs(benchmark::State& state) {
  CppEnv env;
  auto c = env.meter.CreateUInt64Counter("requests");
  for (auto _ : state) c.Add(1, {{"method", kMethod}, {"route", kRoute}, {"status", kStatus}});
}
BENCHMARK(BM_Cpp_CounterAdd3Attrs);

void BM_C_CounterAdd3AttrsStatic(benchmark::State& state) { CounterAddC(state, kAttrsStatic); }
BENCHMARK(BM_C_CounterAdd3AttrsStatic);

void BM_Cpp_CounterAdd3AttrsLiteral(benchmark::State& state) {
  CppEnv env;
  auto c = env.meter.CreateUInt64Counter("requests");
  using A = fm::Attribute;
  for (auto _ : state) {
    c.Add(1, {A::Literal("method", "GET"), A::Literal("route", "/api/v1/items"), A::Literal("status", "200")});
  }
}
BENCHMARK(BM_Cpp_CounterAdd3AttrsLiteral);

// The same literal attributes built once, as the Rust case builds its
// KeyValues once: the C++ wrapper without the per-call construction.
void BM_Cpp_CounterAdd3AttrsLiteralBuiltOnce(benchmark::State& state) {
  CppEnv env;
  auto c = env.meter.CreateUInt64Counter("requests");
  using A = fm::Attribute;
  const std::vector<A> attrs = {A::Literal("method", "GET"), A::Literal("route", "/api/v1/items"),
                                A::Literal("status", "200")};
  for (auto _ : state) c.Add(1, attrs);
}
BENCHMARK(BM_Cpp_CounterAdd3AttrsLiteralBuiltOnce);

// The same values at a different address on every call (as strings built
// per request are): the per-thread hash memo never hits, so this is the
// cost of hashing the values on every call.
void BM_C_CounterAdd3AttrsMovingStrings(benchmark::State& state) {
  CEnv env;
  fm_counter_u64* c = env.Counter();
  constexpr size_t kCopies = 4096;  // far more than the memo's 64 entries
  std::vector<char> text(kCopies * 32);
  std::vector<fm_attribute> attrs(kCopies * 3);
  for (size_t i = 0; i < kCopies; i++) {
    char* t = &text[i * 32];
    std::memcpy(t, "GET", 4);
    std::memcpy(t + 4, "/api/v1/items", 14);
    std::memcpy(t + 18, "200", 4);
    attrs[i * 3] = S("method", t);
    attrs[i * 3 + 1] = S("route", t + 4);
    attrs[i * 3 + 2] = S("status", t + 18);
  }
  size_t i = 0;
  for (auto _ : state) {
    fm_counter_u64_add(c, 1, &attrs[i * 3], 3);
    i = (i + 1) % kCopies;
  }
  fm_counter_u64_release(c);
}
BENCHMARK(BM_C_CounterAdd3AttrsMovingStrings);

// ------------------------------------------ counter_add_3attrs_unsorted

void BM_C_CounterAdd3AttrsUnsorted(benchmark::State& state) { CounterAddC(state, kAttrsUnsorted); }
BENCHMARK(BM_C_CounterAdd3AttrsUnsorted);

void BM_Cpp_CounterAdd3AttrsUnsorted(benchmark::State& state) {
  CppEnv env;
  auto c = env.meter.CreateUInt64Counter("requests");
  for (auto _ : state) c.Add(1, {{"status", kStatus}, {"method", kMethod}, {"route", kRoute}});
}
BENCHMARK(BM_Cpp_CounterAdd3AttrsUnsorted);

// ------------------------------------------------ prepared attribute set

void BM_C_CounterAddPrepared(benchmark::State& state) {
  CEnv env;
  fm_counter_u64* c = env.Counter();
  fm_attribute_set* set = nullptr;
  fm_attribute_set_new(kAttrs, 3, &set);
  for (auto _ : state) fm_counter_u64_add_prepared(c, 1, set);
  fm_attribute_set_release(set);
  fm_counter_u64_release(c);
}
BENCHMARK(BM_C_CounterAddPrepared);

void BM_Cpp_CounterAddPrepared(benchmark::State& state) {
  CppEnv env;
  auto c = env.meter.CreateUInt64Counter("requests");
  fm::AttributeSet set({{"method", kMethod}, {"route", kRoute}, {"status", kStatus}});
  for (auto _ : state) c.Add(1, set);
}
BENCHMARK(BM_Cpp_CounterAddPrepared);

// ------------------------------------------------- the global provider

// counter_add_3attrs on an instrument of the global provider before any
// provider is set (a library instrumented against
// Provider::GetMeterProvider() in a host that configured nothing): the C++
// call, one C call, one load of the instrument's target, a branch.
void BM_Cpp_CounterAdd3AttrsNoProvider(benchmark::State& state) {
  fm::Provider::SetMeterProvider(nullptr);
  auto c = fm::Provider::GetMeterProvider()->GetMeter("bench")->CreateUInt64Counter("requests");
  for (auto _ : state) c->Add(1, {{"method", kMethod}, {"route", kRoute}, {"status", kStatus}});
}
BENCHMARK(BM_Cpp_CounterAdd3AttrsNoProvider);

// The same global counter once the host set a provider: the ordinary add
// plus the global call and the load of its target.
void BM_Cpp_CounterAdd3AttrsGlobal(benchmark::State& state) {
  CppEnv env;
  fm::Provider::SetMeterProvider(env.provider);
  auto c = fm::Provider::GetMeterProvider()->GetMeter("bench")->CreateUInt64Counter("requests");
  for (auto _ : state) c->Add(1, {{"method", kMethod}, {"route", kRoute}, {"status", kStatus}});
  fm::Provider::SetMeterProvider(nullptr);
}
BENCHMARK(BM_Cpp_CounterAdd3AttrsGlobal);

// -------------------------------------------------- no attributes (call floor)

void BM_C_CounterAddNoAttrs(benchmark::State& state) {
  CEnv env;
  fm_counter_u64* c = env.Counter();
  for (auto _ : state) fm_counter_u64_add(c, 1, nullptr, 0);
  fm_counter_u64_release(c);
}
BENCHMARK(BM_C_CounterAddNoAttrs);

// counter_add_0attrs from C++: `counter.Add(1)`.
void BM_Cpp_CounterAddNoAttrs(benchmark::State& state) {
  CppEnv env;
  auto c = env.meter.CreateUInt64Counter("requests");
  for (auto _ : state) c.Add(1);
}
BENCHMARK(BM_Cpp_CounterAddNoAttrs);

// ------------------------------------------------------ counter_add_bound

void BM_C_CounterAddBound(benchmark::State& state) {
  CEnv env;
  fm_counter_u64* c = env.Counter();
  fm_bound_counter_u64* b = nullptr;
  fm_counter_u64_bind(c, kAttrs, 3, &b);
  for (auto _ : state) fm_bound_counter_u64_add(b, 1);
  fm_bound_counter_u64_release(b);
  fm_counter_u64_release(c);
}
BENCHMARK(BM_C_CounterAddBound);

void BM_Cpp_CounterAddBound(benchmark::State& state) {
  CppEnv env;
  auto c = env.meter.CreateUInt64Counter("requests");
  auto b = c.Bind({{"method", kMethod}, {"route", kRoute}, {"status", kStatus}});
  for (auto _ : state) b.Add(1);
}
BENCHMARK(BM_Cpp_CounterAddBound);

// ------------------------------------------------ histogram_record_3attrs

// One C histogram record per iteration with the 3 attributes `attrs`.
void HistogramRecordC(benchmark::State& state, const fm_attribute* attrs) {
  CEnv env;
  fm_histogram_f64* h = nullptr;
  fm_meter_create_histogram_f64(env.meter, "latency", 7, nullptr, &h);
  uint64_t i = 0;
  for (auto _ : state) {
    ++i;
    fm_histogram_f64_record(h, static_cast<double>(i % 1000), attrs, 3);
  }
  fm_histogram_f64_release(h);
}

void BM_C_HistogramRecord3Attrs(benchmark::State& state) { HistogramRecordC(state, kAttrs); }
BENCHMARK(BM_C_HistogramRecord3Attrs);

void BM_C_HistogramRecord3AttrsStatic(benchmark::State& state) { HistogramRecordC(state, kAttrsStatic); }
BENCHMARK(BM_C_HistogramRecord3AttrsStatic);

void BM_Cpp_HistogramRecord3Attrs(benchmark::State& state) {
  CppEnv env;
  auto h = env.meter.CreateDoubleHistogram("latency");
  uint64_t i = 0;
  for (auto _ : state) {
    ++i;
    h.Record(static_cast<double>(i % 1000), {{"method", kMethod}, {"route", kRoute}, {"status", kStatus}});
  }
}
BENCHMARK(BM_Cpp_HistogramRecord3Attrs);

// ------------------------------------------ counter_add_3attrs_2threads

// Two persistent threads (TwoThreads in benches/peers.rs): Run(n) releases
// both, each calls work(n), and returns the wall time until both are done.
// Time per op = wall time / n: the cost of one add as seen by each thread.
class TwoThreads {
 public:
  explicit TwoThreads(std::function<void(uint64_t)> work) : work_(std::move(work)) {
    for (int t = 0; t < 2; ++t) threads_.emplace_back([this] { Loop(); });
  }
  ~TwoThreads() {
    {
      std::lock_guard<std::mutex> g(mu_);
      stop_ = true;
      ++generation_;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }
  std::chrono::duration<double> Run(uint64_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    n_ = n;
    done_ = 0;
    auto start = std::chrono::steady_clock::now();
    ++generation_;
    cv_.notify_all();
    done_cv_.wait(lock, [this] { return done_ == 2; });
    return std::chrono::steady_clock::now() - start;
  }

 private:
  void Loop() {
    uint64_t seen = 0;
    for (;;) {
      uint64_t n;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return generation_ != seen; });
        seen = generation_;
        if (stop_) return;
        n = n_;
      }
      work_(n);
      {
        std::lock_guard<std::mutex> g(mu_);
        ++done_;
      }
      done_cv_.notify_one();
    }
  }

  std::function<void(uint64_t)> work_;
  std::mutex mu_;
  std::condition_variable cv_, done_cv_;
  uint64_t generation_ = 0, n_ = 0;
  int done_ = 0;
  bool stop_ = false;
  std::vector<std::thread> threads_;
};

// Adds per thread per timed run. Waking the two threads and waiting for
// both costs tens of microseconds on this VM; at 20,000 adds that was
// 2-5 ns of every add. Criterion's iter_custom (benches/peers.rs) hands
// the Rust threads millions per run.
constexpr uint64_t kBatch = 1000000;

void RunTwoThreads(benchmark::State& state, TwoThreads& workers) {
  while (state.KeepRunningBatch(kBatch)) state.SetIterationTime(workers.Run(kBatch).count());
}

// Both threads add `attrs` to one counter (the series exists before they
// start).
void CounterAddC2Threads(benchmark::State& state, const fm_attribute* attrs) {
  CEnv env;
  fm_counter_u64* c = env.Counter();
  fm_counter_u64_add(c, 1, attrs, 3);
  {
    TwoThreads workers([c, attrs](uint64_t n) {
      for (uint64_t i = 0; i < n; ++i) fm_counter_u64_add(c, 1, attrs, 3);
    });
    RunTwoThreads(state, workers);
  }
  fm_counter_u64_release(c);
}

void BM_C_CounterAdd3Attrs2Threads(benchmark::State& state) { CounterAddC2Threads(state, kAttrs); }
BENCHMARK(BM_C_CounterAdd3Attrs2Threads)->UseManualTime();

void BM_C_CounterAdd3AttrsStatic2Threads(benchmark::State& state) { CounterAddC2Threads(state, kAttrsStatic); }
BENCHMARK(BM_C_CounterAdd3AttrsStatic2Threads)->UseManualTime();

void BM_Cpp_CounterAdd3Attrs2Threads(benchmark::State& state) {
  CppEnv env;
  auto c = env.meter.CreateUInt64Counter("requests");
  c.Add(1, {{"method", kMethod}, {"route", kRoute}, {"status", kStatus}});
  TwoThreads workers([&c](uint64_t n) {
    for (uint64_t i = 0; i < n; ++i) c.Add(1, {{"method", kMethod}, {"route", kRoute}, {"status", kStatus}});
  });
  RunTwoThreads(state, workers);
}
BENCHMARK(BM_Cpp_CounterAdd3Attrs2Threads)->UseManualTime();

void BM_C_CounterAddBound2Threads(benchmark::State& state) {
  CEnv env;
  fm_counter_u64* c = env.Counter();
  fm_bound_counter_u64* b = nullptr;
  fm_counter_u64_bind(c, kAttrs, 3, &b);
  {
    TwoThreads workers([b](uint64_t n) {
      for (uint64_t i = 0; i < n; ++i) fm_bound_counter_u64_add(b, 1);
    });
    RunTwoThreads(state, workers);
  }
  fm_bound_counter_u64_release(b);
  fm_counter_u64_release(c);
}
BENCHMARK(BM_C_CounterAddBound2Threads)->UseManualTime();

}  // namespace

BENCHMARK_MAIN();
