// The C API: recording and collecting values for every instrument kind,
// snapshot walking, views, readers, callbacks and diagnostics.
#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "http_sink.hpp"
#include "test_util.hpp"

using namespace fmtest;

namespace {

const fm_metric* Find(const Snap& s, const char* n) {
  const fm_metric* m = s.Metric(n);
  EXPECT_NE(m, nullptr) << n;
  return m;
}

}  // namespace

TEST(CApi, VersionMatchesHeaderMacros) {
  EXPECT_STREQ(fm_version(), FERROMETER_VERSION_STRING);
  EXPECT_EQ(fm_version_number(), static_cast<uint32_t>(FERROMETER_VERSION_NUMBER));
}

TEST(CApi, StatusMessages) {
  EXPECT_STREQ(fm_status_message(FM_STATUS_OK), "ok");
  EXPECT_STRNE(fm_status_message(FM_STATUS_INVALID_NAME), "unknown status");
  EXPECT_STREQ(fm_status_message(9999), "unknown status");
}

TEST(CApi, LastErrorIsSetOnFailure) {
  Env e;
  fm_counter_u64* c = nullptr;
  EXPECT_EQ(fm_meter_create_counter_u64(e.meter, "9bad", 4, nullptr, &c), FM_STATUS_INVALID_NAME);
  EXPECT_EQ(c, nullptr);
  EXPECT_NE(std::string(fm_last_error_message()).find("9bad"), std::string::npos);
}

TEST(CApi, CounterU64) {
  Env e;
  fm_counter_u64* c = nullptr;
  fm_instrument_options o{};
  o.description = fm_str{"requests served", 15};
  o.unit = fm_str{"{request}", 9};
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "requests", 8, &o, &c), FM_STATUS_OK);
  fm_attribute a[] = {S("route", "/a"), I("code", 200)};
  fm_counter_u64_add(c, 3, a, 2);
  fm_counter_u64_add(c, 4, a, 2);
  fm_attribute b[] = {I("code", 200), S("route", "/b")};
  fm_counter_u64_add(c, 10, b, 2);
  Snap s(e.Collect());
  const fm_metric* m = Find(s, "requests");
  EXPECT_EQ(fm_metric_type_of(m), FM_METRIC_TYPE_SUM);
  EXPECT_TRUE(fm_metric_is_monotonic(m));
  EXPECT_EQ(fm_metric_temporality(m), FM_TEMPORALITY_CUMULATIVE);
  EXPECT_EQ(Str(fm_metric_description(m)), "requests served");
  EXPECT_EQ(Str(fm_metric_unit(m)), "{request}");
  EXPECT_EQ(fm_metric_point_count(m), 2u);
  const fm_number_point* p = FindPoint(m, {S("route", "/a")});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(fm_number_point_as_u64(p), 7u);
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(m, {S("route", "/b")})), 10u);
  EXPECT_GT(fm_number_point_time(p), 0u);
  EXPECT_LE(fm_number_point_start_time(p), fm_number_point_time(p));
  fm_counter_u64_release(c);
}

// The recording path remembers, per thread, the hash of an attribute array
// by its pointers; a buffer rewritten in place (same pointers, new content)
// must still reach the series of its current content, and integer values
// passed through the same array must too.
TEST(CApi, ContentChangedUnderTheSamePointersFindsItsOwnSeries) {
  Env e;
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "requests", 8, nullptr, &c), FM_STATUS_OK);
  char route[8] = "/a";
  fm_attribute a[] = {S("route", route), I("code", 200)};
  a[0].value.str.len = 2;
  uint64_t want_a = 0, want_b = 0, want_404 = 0;
  for (int round = 0; round < 300; round++) {
    std::memcpy(route, (round % 3 == 0) ? "/b" : "/a", 2);
    a[1].value.i64 = (round % 5 == 0) ? 404 : 200;
    fm_counter_u64_add(c, 1, a, 2);
    if (a[1].value.i64 == 404) {
      want_404++;
    } else if (route[1] == 'a') {
      want_a++;
    } else {
      want_b++;
    }
  }
  Snap s(e.Collect());
  const fm_metric* m = Find(s, "requests");
  const fm_number_point* pa = FindPoint(m, {S("route", "/a"), I("code", 200)});
  const fm_number_point* pb = FindPoint(m, {S("route", "/b"), I("code", 200)});
  ASSERT_NE(pa, nullptr);
  ASSERT_NE(pb, nullptr);
  EXPECT_EQ(fm_number_point_as_u64(pa), want_a);
  EXPECT_EQ(fm_number_point_as_u64(pb), want_b);
  uint64_t got_404 = 0;
  for (const char* r : {"/a", "/b"}) {
    if (const fm_number_point* p = FindPoint(m, {S("route", r), I("code", 404)})) got_404 += fm_number_point_as_u64(p);
  }
  EXPECT_EQ(got_404, want_404);
  EXPECT_EQ(fm_metric_point_count(m), 4u);
  fm_counter_u64_release(c);
}

// FM_VALUE_STATIC: the series keeps the caller's literal pointers instead
// of copies, and plain copies of the same text reach the same series
// (through every recording path: attribute array, prepared set, bound).
TEST(CApi, StaticStringsAreKeptByPointerAndShareTheSeries) {
  Env e;
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "requests", 8, nullptr, &c), FM_STATUS_OK);
  static const char kRoute[] = "/static";
  fm_attribute lit[] = {Static(S("route", kRoute)), Static(I("code", 200))};
  for (int i = 0; i < 5; i++) fm_counter_u64_add(c, 1, lit, 2);
  std::string copy = kRoute;
  fm_attribute plain[] = {I("code", 200), S("route", copy.c_str())};
  fm_counter_u64_add(c, 10, plain, 2);
  fm_attribute_set* set = nullptr;
  ASSERT_EQ(fm_attribute_set_new(lit, 2, &set), FM_STATUS_OK);
  fm_counter_u64_add_prepared(c, 100, set);
  fm_bound_counter_u64* b = nullptr;
  ASSERT_EQ(fm_counter_u64_bind(c, plain, 2, &b), FM_STATUS_OK);
  fm_bound_counter_u64_add(b, 1000);
  EXPECT_EQ(e.Rejected().invalid_attributes, 0u);
  Snap s(e.Collect());
  const fm_metric* m = Find(s, "requests");
  EXPECT_EQ(fm_metric_point_count(m), 1u);
  const fm_number_point* p = FindPoint(m, {S("route", "/static"), I("code", 200)});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(fm_number_point_as_u64(p), 1115u);
  fm_attribute got{};
  ASSERT_TRUE(fm_attribute_set_find(fm_number_point_attributes(p), "route", 5, &got));
  EXPECT_EQ(got.key, lit[0].key);
  EXPECT_EQ(got.value.str.ptr, kRoute);
  EXPECT_EQ(got.value.str.len, 7u);
  fm_attribute_set* copied = nullptr;
  ASSERT_EQ(fm_attribute_set_new(plain, 2, &copied), FM_STATUS_OK);
  ASSERT_TRUE(fm_attribute_set_find(copied, "route", 5, &got));
  EXPECT_NE(got.value.str.ptr, copy.c_str());
  fm_attribute_set_release(copied);
  fm_attribute_set_release(set);
  fm_bound_counter_u64_release(b);
  fm_counter_u64_release(c);
}

TEST(CApi, CounterF64) {
  Env e;
  fm_counter_f64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_f64(e.meter, "bytes", 5, nullptr, &c), FM_STATUS_OK);
  fm_counter_f64_add(c, 1.5, nullptr, 0);
  fm_counter_f64_add(c, 2.25, nullptr, 0);
  Snap s(e.Collect());
  const fm_number_point* p = FindPoint(Find(s, "bytes"));
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(fm_number_point_value_type(p), FM_NUMBER_F64);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(p), 3.75);
  EXPECT_EQ(fm_attribute_set_len(fm_number_point_attributes(p)), 0u);
  fm_counter_f64_release(c);
}

TEST(CApi, UpDownCounterI64GoesNegative) {
  Env e;
  fm_updown_counter_i64* c = nullptr;
  ASSERT_EQ(fm_meter_create_updown_counter_i64(e.meter, "queue", 5, nullptr, &c), FM_STATUS_OK);
  fm_updown_counter_i64_add(c, 5, nullptr, 0);
  fm_updown_counter_i64_add(c, -8, nullptr, 0);
  Snap s(e.Collect());
  const fm_metric* m = Find(s, "queue");
  EXPECT_FALSE(fm_metric_is_monotonic(m));
  EXPECT_EQ(fm_number_point_as_i64(FindPoint(m)), -3);
  fm_updown_counter_i64_release(c);
}

TEST(CApi, UpDownCounterF64) {
  Env e;
  fm_updown_counter_f64* c = nullptr;
  ASSERT_EQ(fm_meter_create_updown_counter_f64(e.meter, "balance", 7, nullptr, &c), FM_STATUS_OK);
  fm_updown_counter_f64_add(c, 2.5, nullptr, 0);
  fm_updown_counter_f64_add(c, -4.0, nullptr, 0);
  Snap s(e.Collect());
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(Find(s, "balance"))), -1.5);
  fm_updown_counter_f64_release(c);
}

TEST(CApi, HistogramU64WithBoundaries) {
  Env e;
  double bounds[] = {10, 100};
  fm_instrument_options o{};
  o.boundaries = bounds;
  o.boundaries_len = 2;
  fm_histogram_u64* h = nullptr;
  ASSERT_EQ(fm_meter_create_histogram_u64(e.meter, "size", 4, &o, &h), FM_STATUS_OK);
  for (uint64_t v : {1u, 10u, 11u, 500u}) fm_histogram_u64_record(h, v, nullptr, 0);
  Snap s(e.Collect());
  const fm_metric* m = Find(s, "size");
  EXPECT_EQ(fm_metric_type_of(m), FM_METRIC_TYPE_HISTOGRAM);
  EXPECT_EQ(fm_metric_number_point(m, 0), nullptr);
  const fm_histogram_point* p = FindHist(m);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(fm_histogram_point_count(p), 4u);
  EXPECT_DOUBLE_EQ(fm_histogram_point_sum(p), 522.0);
  size_t nb = 0, nc = 0;
  const double* b = fm_histogram_point_bounds(p, &nb);
  const uint64_t* c = fm_histogram_point_bucket_counts(p, &nc);
  ASSERT_EQ(nb, 2u);
  ASSERT_EQ(nc, 3u);
  EXPECT_EQ(b[0], 10.0);
  EXPECT_EQ(c[0], 2u);  // 1, 10 (bounds are inclusive)
  EXPECT_EQ(c[1], 1u);
  EXPECT_EQ(c[2], 1u);
  double mn = 0, mx = 0;
  EXPECT_TRUE(fm_histogram_point_min(p, &mn));
  EXPECT_TRUE(fm_histogram_point_max(p, &mx));
  EXPECT_EQ(mn, 1.0);
  EXPECT_EQ(mx, 500.0);
  fm_histogram_u64_release(h);
}

TEST(CApi, HistogramF64DefaultBoundaries) {
  Env e;
  fm_histogram_f64* h = nullptr;
  ASSERT_EQ(fm_meter_create_histogram_f64(e.meter, "latency", 7, nullptr, &h), FM_STATUS_OK);
  fm_attribute a[] = {S("op", "get")};
  fm_histogram_f64_record(h, 0.5, a, 1);
  fm_histogram_f64_record(h, 7.0, a, 1);
  Snap s(e.Collect());
  const fm_histogram_point* p = FindHist(Find(s, "latency"), {S("op", "get")});
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(fm_histogram_point_count(p), 2u);
  EXPECT_DOUBLE_EQ(fm_histogram_point_sum(p), 7.5);
  size_t nb = 0, nc = 0;
  fm_histogram_point_bounds(p, &nb);
  const uint64_t* c = fm_histogram_point_bucket_counts(p, &nc);
  EXPECT_EQ(nc, nb + 1);
  uint64_t total = 0;
  for (size_t i = 0; i < nc; ++i) total += c[i];
  EXPECT_EQ(total, 2u);
  fm_histogram_f64_release(h);
}

TEST(CApi, GaugeI64KeepsLastValue) {
  Env e;
  fm_gauge_i64* g = nullptr;
  ASSERT_EQ(fm_meter_create_gauge_i64(e.meter, "players", 7, nullptr, &g), FM_STATUS_OK);
  fm_gauge_i64_record(g, 10, nullptr, 0);
  fm_gauge_i64_record(g, -4, nullptr, 0);
  Snap s(e.Collect());
  const fm_metric* m = Find(s, "players");
  EXPECT_EQ(fm_metric_type_of(m), FM_METRIC_TYPE_GAUGE);
  EXPECT_EQ(fm_number_point_as_i64(FindPoint(m)), -4);
  fm_gauge_i64_release(g);
}

TEST(CApi, GaugeF64RecordAtCarriesTimestamp) {
  Env e;
  fm_gauge_f64* g = nullptr;
  ASSERT_EQ(fm_meter_create_gauge_f64(e.meter, "temp", 4, nullptr, &g), FM_STATUS_OK);
  const uint64_t t = 1'700'000'000'000'000'000ull;
  fm_gauge_f64_record_at(g, 21.5, nullptr, 0, t);
  Snap s(e.Collect());
  const fm_number_point* p = FindPoint(Find(s, "temp"));
  ASSERT_NE(p, nullptr);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(p), 21.5);
  EXPECT_TRUE(fm_number_point_has_explicit_time(p));
  EXPECT_EQ(fm_number_point_time(p), t);
  fm_gauge_f64_release(g);
}

namespace {
struct ObsState {
  const void* inst = nullptr;
  std::atomic<int> calls{0};
};
}  // namespace

TEST(CApi, ObservableCounterU64Callback) {
  Env e;
  fm_observable_counter_u64* o = nullptr;
  ASSERT_EQ(fm_meter_create_observable_counter_u64(e.meter, "cpu.time", 8, nullptr, &o), FM_STATUS_OK);
  ObsState st;
  st.inst = o;
  fm_callback_registration* r = nullptr;
  auto cb = [](void* ud) {
    auto* s = static_cast<ObsState*>(ud);
    s->calls++;
    fm_attribute a[] = {S("cpu", "0")};
    fm_observable_counter_u64_observe(static_cast<const fm_observable_counter_u64*>(s->inst), 100u * s->calls, a, 1);
  };
  ASSERT_EQ(fm_observable_counter_u64_add_callback(o, cb, &st, &r), FM_STATUS_OK);
  { Snap s(e.Collect()); EXPECT_EQ(fm_number_point_as_u64(FindPoint(Find(s, "cpu.time"))), 100u); }
  { Snap s(e.Collect()); EXPECT_EQ(fm_number_point_as_u64(FindPoint(Find(s, "cpu.time"))), 200u); }
  EXPECT_EQ(st.calls.load(), 2);
  fm_callback_registration_release(r);
  { Snap s(e.Collect()); }
  EXPECT_EQ(st.calls.load(), 2);
  fm_observable_counter_u64_release(o);
}

TEST(CApi, ObservableKindsThroughMeterCallback) {
  Env e;
  fm_observable_counter_i64* ci = nullptr;
  fm_observable_counter_f64* cf = nullptr;
  fm_observable_updown_counter_i64* ui = nullptr;
  fm_observable_updown_counter_f64* uf = nullptr;
  fm_observable_gauge_i64* gi = nullptr;
  fm_observable_gauge_f64* gf = nullptr;
  ASSERT_EQ(fm_meter_create_observable_counter_i64(e.meter, "oc.i", 4, nullptr, &ci), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_observable_counter_f64(e.meter, "oc.f", 4, nullptr, &cf), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_observable_updown_counter_i64(e.meter, "ou.i", 4, nullptr, &ui), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_observable_updown_counter_f64(e.meter, "ou.f", 4, nullptr, &uf), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_observable_gauge_i64(e.meter, "og.i", 4, nullptr, &gi), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_observable_gauge_f64(e.meter, "og.f", 4, nullptr, &gf), FM_STATUS_OK);
  struct All {
    fm_observable_counter_i64* ci;
    fm_observable_counter_f64* cf;
    fm_observable_updown_counter_i64* ui;
    fm_observable_updown_counter_f64* uf;
    fm_observable_gauge_i64* gi;
    fm_observable_gauge_f64* gf;
  } all{ci, cf, ui, uf, gi, gf};
  auto cb = [](void* ud) {
    auto* a = static_cast<All*>(ud);
    fm_observable_counter_i64_observe(a->ci, 5, nullptr, 0);
    fm_observable_counter_f64_observe(a->cf, 5.5, nullptr, 0);
    fm_observable_updown_counter_i64_observe(a->ui, -5, nullptr, 0);
    fm_observable_updown_counter_f64_observe(a->uf, -5.5, nullptr, 0);
    fm_observable_gauge_i64_observe_at(a->gi, 42, nullptr, 0, 123456789);
    fm_observable_gauge_f64_observe(a->gf, 0.25, nullptr, 0);
  };
  fm_callback_registration* r = nullptr;
  ASSERT_EQ(fm_meter_register_callback(e.meter, cb, &all, &r), FM_STATUS_OK);
  Snap s(e.Collect());
  EXPECT_EQ(fm_number_point_as_i64(FindPoint(Find(s, "oc.i"))), 5);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(Find(s, "oc.f"))), 5.5);
  EXPECT_EQ(fm_number_point_as_i64(FindPoint(Find(s, "ou.i"))), -5);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(Find(s, "ou.f"))), -5.5);
  const fm_number_point* g = FindPoint(Find(s, "og.i"));
  EXPECT_EQ(fm_number_point_as_i64(g), 42);
  EXPECT_EQ(fm_number_point_time(g), 123456789u);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(Find(s, "og.f"))), 0.25);
  EXPECT_TRUE(fm_metric_is_monotonic(Find(s, "oc.i")));
  EXPECT_FALSE(fm_metric_is_monotonic(Find(s, "ou.i")));
  fm_callback_registration_release(r);
  fm_observable_counter_i64_release(ci);
  fm_observable_counter_f64_release(cf);
  fm_observable_updown_counter_i64_release(ui);
  fm_observable_updown_counter_f64_release(uf);
  fm_observable_gauge_i64_release(gi);
  fm_observable_gauge_f64_release(gf);
}

TEST(CApi, CallbackMayReleaseItsOwnRegistration) {
  Env e;
  struct St {
    fm_callback_registration* r = nullptr;
    int calls = 0;
  } st;
  auto cb = [](void* ud) {
    auto* s = static_cast<St*>(ud);
    s->calls++;
    fm_callback_registration_release(s->r);
    s->r = nullptr;
  };
  ASSERT_EQ(fm_meter_register_callback(e.meter, cb, &st, &st.r), FM_STATUS_OK);
  { Snap s(e.Collect()); }
  { Snap s(e.Collect()); }
  EXPECT_EQ(st.calls, 1);
}

// A callback may also release a sibling registration of its provider: the
// sibling, due later in the same cycle, is not called then nor after.
TEST(CApi, CallbackMayReleaseAnotherRegistrationOfItsProvider) {
  Env e;
  struct St {
    fm_callback_registration* later = nullptr;
    int first_calls = 0;
    int later_calls = 0;
  } st;
  auto first = [](void* ud) {
    auto* s = static_cast<St*>(ud);
    s->first_calls++;
    fm_callback_registration_release(s->later);
    s->later = nullptr;
  };
  auto later = [](void* ud) { static_cast<St*>(ud)->later_calls++; };
  fm_callback_registration* r = nullptr;
  ASSERT_EQ(fm_meter_register_callback(e.meter, first, &st, &r), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_register_callback(e.meter, later, &st, &st.later), FM_STATUS_OK);
  { Snap s(e.Collect()); }
  EXPECT_EQ(st.first_calls, 1);
  EXPECT_EQ(st.later_calls, 0);
  EXPECT_EQ(st.later, nullptr);
  fm_callback_registration_release(r);
  { Snap s(e.Collect()); }
  EXPECT_EQ(st.first_calls, 1);
  EXPECT_EQ(st.later_calls, 0);
}

TEST(CApi, BoundInstrumentsOfEveryKind) {
  Env e;
  fm_attribute a[] = {S("shard", "7")};
  fm_counter_u64* cu = nullptr;
  fm_counter_f64* cf = nullptr;
  fm_updown_counter_i64* ui = nullptr;
  fm_updown_counter_f64* uf = nullptr;
  fm_histogram_u64* hu = nullptr;
  fm_histogram_f64* hf = nullptr;
  fm_gauge_i64* gi = nullptr;
  fm_gauge_f64* gf = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "b.cu", 4, nullptr, &cu), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_counter_f64(e.meter, "b.cf", 4, nullptr, &cf), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_updown_counter_i64(e.meter, "b.ui", 4, nullptr, &ui), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_updown_counter_f64(e.meter, "b.uf", 4, nullptr, &uf), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_histogram_u64(e.meter, "b.hu", 4, nullptr, &hu), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_histogram_f64(e.meter, "b.hf", 4, nullptr, &hf), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_gauge_i64(e.meter, "b.gi", 4, nullptr, &gi), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_gauge_f64(e.meter, "b.gf", 4, nullptr, &gf), FM_STATUS_OK);
  fm_bound_counter_u64* bcu = nullptr;
  fm_bound_counter_f64* bcf = nullptr;
  fm_bound_updown_counter_i64* bui = nullptr;
  fm_bound_updown_counter_f64* buf = nullptr;
  fm_bound_histogram_u64* bhu = nullptr;
  fm_bound_histogram_f64* bhf = nullptr;
  fm_bound_gauge_i64* bgi = nullptr;
  fm_bound_gauge_f64* bgf = nullptr;
  ASSERT_EQ(fm_counter_u64_bind(cu, a, 1, &bcu), FM_STATUS_OK);
  ASSERT_EQ(fm_counter_f64_bind(cf, a, 1, &bcf), FM_STATUS_OK);
  ASSERT_EQ(fm_updown_counter_i64_bind(ui, a, 1, &bui), FM_STATUS_OK);
  ASSERT_EQ(fm_updown_counter_f64_bind(uf, a, 1, &buf), FM_STATUS_OK);
  ASSERT_EQ(fm_histogram_u64_bind(hu, a, 1, &bhu), FM_STATUS_OK);
  ASSERT_EQ(fm_histogram_f64_bind(hf, a, 1, &bhf), FM_STATUS_OK);
  ASSERT_EQ(fm_gauge_i64_bind(gi, a, 1, &bgi), FM_STATUS_OK);
  ASSERT_EQ(fm_gauge_f64_bind(gf, a, 1, &bgf), FM_STATUS_OK);
  // Instrument handles may go before their bound handles.
  fm_counter_u64_release(cu);
  for (int i = 0; i < 3; ++i) {
    fm_bound_counter_u64_add(bcu, 2);
    fm_bound_counter_f64_add(bcf, 0.5);
    fm_bound_updown_counter_i64_add(bui, -1);
    fm_bound_updown_counter_f64_add(buf, -0.5);
    fm_bound_histogram_u64_record(bhu, 4);
    fm_bound_histogram_f64_record(bhf, 0.1);
    fm_bound_gauge_i64_record(bgi, i);
    fm_bound_gauge_f64_record(bgf, i * 1.5);
  }
  fm_bound_gauge_f64_record_at(bgf, 9.0, 42);
  fm_counter_f64_add(cf, 1.0, a, 1);  // unbound add to the same series
  Snap s(e.Collect());
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(Find(s, "b.cu"), {S("shard", "7")})), 6u);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(Find(s, "b.cf"))), 2.5);
  EXPECT_EQ(fm_number_point_as_i64(FindPoint(Find(s, "b.ui"))), -3);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(Find(s, "b.uf"))), -1.5);
  EXPECT_EQ(fm_histogram_point_count(FindHist(Find(s, "b.hu"))), 3u);
  EXPECT_EQ(fm_histogram_point_count(FindHist(Find(s, "b.hf"))), 3u);
  EXPECT_EQ(fm_number_point_as_i64(FindPoint(Find(s, "b.gi"))), 2);
  const fm_number_point* g = FindPoint(Find(s, "b.gf"));
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(g), 9.0);
  EXPECT_EQ(fm_number_point_time(g), 42u);
  fm_bound_counter_u64_release(bcu);
  fm_bound_counter_f64_release(bcf);
  fm_bound_updown_counter_i64_release(bui);
  fm_bound_updown_counter_f64_release(buf);
  fm_bound_histogram_u64_release(bhu);
  fm_bound_histogram_f64_release(bhf);
  fm_bound_gauge_i64_release(bgi);
  fm_bound_gauge_f64_release(bgf);
  fm_counter_f64_release(cf);
  fm_updown_counter_i64_release(ui);
  fm_updown_counter_f64_release(uf);
  fm_histogram_u64_release(hu);
  fm_histogram_f64_release(hf);
  fm_gauge_i64_release(gi);
  fm_gauge_f64_release(gf);
}

TEST(CApi, PreparedAttributeSets) {
  Env e;
  fm_attribute a[] = {S("z", "last"), S("a", "first"), I("n", 1), S("a", "dup")};
  fm_attribute_set* set = nullptr;
  ASSERT_EQ(fm_attribute_set_new(a, 4, &set), FM_STATUS_OK);
  EXPECT_EQ(fm_attribute_set_len(set), 3u);  // deduplicated
  fm_attribute first{};
  ASSERT_EQ(fm_attribute_set_get(set, 0, &first), FM_STATUS_OK);
  EXPECT_EQ(std::string(first.key, first.key_len), "a");  // sorted
  EXPECT_EQ(Str(first.value.str), "dup");                 // last wins
  EXPECT_EQ(fm_attribute_set_get(set, 3, &first), FM_STATUS_INVALID_ARGUMENT);
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "prep", 4, nullptr, &c), FM_STATUS_OK);
  fm_counter_u64_add_prepared(c, 5, set);
  fm_attribute same[] = {I("n", 1), S("a", "dup"), S("z", "last")};
  fm_counter_u64_add(c, 6, same, 3);
  fm_counter_u64_add_prepared(c, 1, nullptr);
  Snap s(e.Collect());
  const fm_metric* m = Find(s, "prep");
  EXPECT_EQ(fm_metric_point_count(m), 2u);
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(m, {S("a", "dup")})), 11u);
  fm_attribute_set_release(set);
  fm_counter_u64_release(c);
}

TEST(CApi, AttributeValueTypesRoundTrip) {
  Env e;
  fm_gauge_i64* g = nullptr;
  ASSERT_EQ(fm_meter_create_gauge_i64(e.meter, "typed", 5, nullptr, &g), FM_STATUS_OK);
  fm_attribute a[] = {S("s", "text"), I("i", -9), D("d", 2.5), B("b", true)};
  fm_gauge_i64_record(g, 1, a, 4);
  Snap s(e.Collect());
  const fm_number_point* p = FindPoint(Find(s, "typed"));
  ASSERT_NE(p, nullptr);
  const fm_attribute_set* set = fm_number_point_attributes(p);
  fm_attribute v{};
  ASSERT_TRUE(fm_attribute_set_find(set, "d", 1, &v));
  EXPECT_EQ(v.type_, static_cast<fm_value_type>(FM_VALUE_F64));
  EXPECT_EQ(v.value.f64, 2.5);
  ASSERT_TRUE(fm_attribute_set_find(set, "b", 1, &v));
  EXPECT_EQ(v.type_, static_cast<fm_value_type>(FM_VALUE_BOOL));
  EXPECT_TRUE(v.value.boolean);
  ASSERT_TRUE(fm_attribute_set_find(set, "i", 1, &v));
  EXPECT_EQ(v.value.i64, -9);
  ASSERT_TRUE(fm_attribute_set_find(set, "s", 1, &v));
  EXPECT_EQ(Str(v.value.str), "text");
  EXPECT_FALSE(fm_attribute_set_find(set, "missing", 7, &v));
  fm_gauge_i64_release(g);
}

TEST(CApi, RemoveSeriesAndRemoveAll) {
  Env e;
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "conns", 5, nullptr, &c), FM_STATUS_OK);
  fm_attribute a[] = {S("peer", "a")};
  fm_attribute b[] = {S("peer", "b")};
  fm_counter_u64_add(c, 1, a, 1);
  fm_counter_u64_add(c, 2, b, 1);
  bool existed = false;
  ASSERT_EQ(fm_counter_u64_remove(c, a, 1, &existed), FM_STATUS_OK);
  EXPECT_TRUE(existed);
  ASSERT_EQ(fm_counter_u64_remove(c, a, 1, &existed), FM_STATUS_OK);
  EXPECT_FALSE(existed);
  ASSERT_EQ(fm_counter_u64_remove(c, a, 1, nullptr), FM_STATUS_OK);
  {
    Snap s(e.Collect());
    const fm_metric* m = Find(s, "conns");
    EXPECT_EQ(fm_metric_point_count(m), 1u);
    EXPECT_EQ(fm_number_point_as_u64(FindPoint(m, {S("peer", "b")})), 2u);
  }
  ASSERT_EQ(fm_counter_u64_remove_all(c), FM_STATUS_OK);
  {
    Snap s(e.Collect());
    const fm_metric* m = s.Metric("conns");
    EXPECT_TRUE(m == nullptr || fm_metric_point_count(m) == 0);
  }
  fm_counter_u64_add(c, 4, a, 1);
  {
    Snap s(e.Collect());
    EXPECT_EQ(fm_number_point_as_u64(FindPoint(Find(s, "conns"), {S("peer", "a")})), 4u);
  }
  fm_counter_u64_release(c);
}

TEST(CApi, DeltaReaderReportsChanges) {
  Env e(FM_TEMPORALITY_PREFERENCE_DELTA);
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "d", 1, nullptr, &c), FM_STATUS_OK);
  fm_counter_u64_add(c, 5, nullptr, 0);
  {
    Snap s(e.Collect());
    const fm_metric* m = Find(s, "d");
    EXPECT_EQ(fm_metric_temporality(m), FM_TEMPORALITY_DELTA);
    EXPECT_EQ(fm_number_point_as_u64(FindPoint(m)), 5u);
  }
  fm_counter_u64_add(c, 2, nullptr, 0);
  {
    Snap s(e.Collect());
    EXPECT_EQ(fm_number_point_as_u64(FindPoint(Find(s, "d"))), 2u);
  }
  fm_counter_u64_release(c);
}

TEST(CApi, TwoReadersAreIndependent) {
  Env e;
  fm_manual_reader* delta = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_DELTA, &delta), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_add_reader(e.provider, delta), FM_STATUS_OK);
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "two", 3, nullptr, &c), FM_STATUS_OK);
  fm_counter_u64_add(c, 3, nullptr, 0);
  { fm_snapshot* s = nullptr; ASSERT_EQ(fm_manual_reader_collect(delta, &s), FM_STATUS_OK); fm_snapshot_release(s); }
  fm_counter_u64_add(c, 4, nullptr, 0);
  fm_snapshot* ds = nullptr;
  ASSERT_EQ(fm_manual_reader_collect(delta, &ds), FM_STATUS_OK);
  Snap d(ds);
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(d.Metric("two"))), 4u);
  Snap cum(e.Collect());
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(Find(cum, "two"))), 7u);
  EXPECT_EQ(fm_provider_add_reader(e.provider, delta), FM_STATUS_READER_ALREADY_REGISTERED);
  fm_counter_u64_release(c);
  fm_manual_reader_release(delta);
}

TEST(CApi, LowMemoryTemporality) {
  Env e(FM_TEMPORALITY_PREFERENCE_LOWMEMORY);
  fm_counter_u64* c = nullptr;
  fm_updown_counter_i64* u = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "lm.c", 4, nullptr, &c), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_updown_counter_i64(e.meter, "lm.u", 4, nullptr, &u), FM_STATUS_OK);
  fm_counter_u64_add(c, 1, nullptr, 0);
  fm_updown_counter_i64_add(u, 1, nullptr, 0);
  Snap s(e.Collect());
  EXPECT_EQ(fm_metric_temporality(Find(s, "lm.c")), FM_TEMPORALITY_DELTA);
  EXPECT_EQ(fm_metric_temporality(Find(s, "lm.u")), FM_TEMPORALITY_CUMULATIVE);
  fm_counter_u64_release(c);
  fm_updown_counter_i64_release(u);
}

namespace {
fm_view* BuildView(std::initializer_list<void (*)(fm_view_builder*)> steps) {
  fm_view_builder* b = nullptr;
  EXPECT_EQ(fm_view_builder_new(&b), FM_STATUS_OK);
  for (auto f : steps) f(b);
  fm_view* v = nullptr;
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_OK) << fm_last_error_message();
  fm_view_builder_release(b);
  return v;
}
}  // namespace

TEST(CApi, ViewsRenameDropHistogramAndKeys) {
  fm_view* rename = BuildView({[](fm_view_builder* b) {
    fm_view_builder_set_instrument_name(b, "old", 3);
    fm_view_builder_set_stream_name(b, "new", 3);
    fm_view_builder_set_stream_description(b, "renamed", 7);
  }});
  fm_view* drop = BuildView({[](fm_view_builder* b) { fm_view_builder_set_instrument_name(b, "noisy.*", 7);
                                                     fm_view_builder_set_aggregation(b, FM_AGGREGATION_DROP); }});
  fm_view* hist = BuildView({[](fm_view_builder* b) {
    fm_view_builder_set_instrument_kind(b, FM_INSTRUMENT_KIND_HISTOGRAM);
    double bounds[] = {1, 2};
    fm_view_builder_set_histogram(b, bounds, 2, false);
  }});
  fm_view* keys = BuildView({[](fm_view_builder* b) {
    fm_view_builder_set_instrument_name(b, "keyed", 5);
    fm_str allowed[] = {{"keep", 4}};
    fm_view_builder_set_allowed_attribute_keys(b, allowed, 1);
  }});
  fm_manual_reader* r = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &r), FM_STATUS_OK);
  fm_provider_builder* pb = nullptr;
  ASSERT_EQ(fm_provider_builder_new(&pb), FM_STATUS_OK);
  fm_provider_builder_add_reader(pb, r);
  for (fm_view* v : {rename, drop, hist, keys}) ASSERT_EQ(fm_provider_builder_add_view(pb, v), FM_STATUS_OK);
  fm_provider* p = nullptr;
  ASSERT_EQ(fm_provider_builder_build(pb, &p), FM_STATUS_OK);
  fm_provider_builder_release(pb);
  for (fm_view* v : {rename, drop, hist, keys}) fm_view_release(v);
  fm_meter* m = nullptr;
  ASSERT_EQ(fm_provider_get_meter(p, "v", 1, nullptr, 0, nullptr, 0, &m), FM_STATUS_OK);
  fm_counter_u64 *old = nullptr, *noisy = nullptr, *keyed = nullptr;
  fm_histogram_f64* h = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(m, "old", 3, nullptr, &old), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_counter_u64(m, "noisy.x", 7, nullptr, &noisy), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_counter_u64(m, "keyed", 5, nullptr, &keyed), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_histogram_f64(m, "h", 1, nullptr, &h), FM_STATUS_OK);
  fm_counter_u64_add(old, 1, nullptr, 0);
  fm_counter_u64_add(noisy, 1, nullptr, 0);
  fm_attribute a1[] = {S("keep", "x"), S("drop", "1")};
  fm_attribute a2[] = {S("keep", "x"), S("drop", "2")};
  fm_counter_u64_add(keyed, 1, a1, 2);
  fm_counter_u64_add(keyed, 1, a2, 2);
  fm_histogram_f64_record(h, 1.5, nullptr, 0);
  fm_snapshot* ss = nullptr;
  ASSERT_EQ(fm_manual_reader_collect(r, &ss), FM_STATUS_OK);
  Snap s(ss);
  EXPECT_EQ(s.Metric("old"), nullptr);
  ASSERT_NE(s.Metric("new"), nullptr);
  EXPECT_EQ(Str(fm_metric_description(s.Metric("new"))), "renamed");
  EXPECT_EQ(s.Metric("noisy.x"), nullptr);
  const fm_metric* k = s.Metric("keyed");
  ASSERT_NE(k, nullptr);
  ASSERT_EQ(fm_metric_point_count(k), 1u);
  EXPECT_EQ(fm_number_point_as_u64(fm_metric_number_point(k, 0)), 2u);
  EXPECT_EQ(fm_attribute_set_len(fm_number_point_attributes(fm_metric_number_point(k, 0))), 1u);
  const fm_histogram_point* hp = FindHist(s.Metric("h"));
  size_t nb = 0;
  fm_histogram_point_bounds(hp, &nb);
  EXPECT_EQ(nb, 2u);
  double mn = 0;
  EXPECT_FALSE(fm_histogram_point_min(hp, &mn));
  fm_counter_u64_release(old);
  fm_counter_u64_release(noisy);
  fm_counter_u64_release(keyed);
  fm_histogram_f64_release(h);
  fm_meter_release(m);
  fm_provider_release(p);
  fm_manual_reader_release(r);
}

TEST(CApi, CardinalityLimitRoutesToOverflow) {
  fm_manual_reader* r = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &r), FM_STATUS_OK);
  fm_provider_builder* pb = nullptr;
  ASSERT_EQ(fm_provider_builder_new(&pb), FM_STATUS_OK);
  fm_provider_builder_add_reader(pb, r);
  ASSERT_EQ(fm_provider_builder_set_cardinality_limit(pb, 10), FM_STATUS_OK);
  EXPECT_EQ(fm_provider_builder_set_cardinality_limit(pb, 0), FM_STATUS_INVALID_ARGUMENT);
  fm_provider* p = nullptr;
  ASSERT_EQ(fm_provider_builder_build(pb, &p), FM_STATUS_OK);
  fm_provider_builder_release(pb);
  fm_meter* m = nullptr;
  ASSERT_EQ(fm_provider_get_meter(p, "card", 4, nullptr, 0, nullptr, 0, &m), FM_STATUS_OK);
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(m, "users", 5, nullptr, &c), FM_STATUS_OK);
  for (int i = 0; i < 100; ++i) {
    fm_attribute a[] = {I("user", i)};
    fm_counter_u64_add(c, 1, a, 1);
  }
  fm_snapshot* ss = nullptr;
  ASSERT_EQ(fm_manual_reader_collect(r, &ss), FM_STATUS_OK);
  Snap s(ss);
  const fm_metric* mm = s.Metric("users");
  EXPECT_LE(fm_metric_point_count(mm), 10u);
  uint64_t total = 0;
  for (size_t i = 0; i < fm_metric_point_count(mm); ++i) total += fm_number_point_as_u64(fm_metric_number_point(mm, i));
  EXPECT_EQ(total, 100u);  // nothing lost
  EXPECT_NE(FindPoint(mm, {B("otel.metric.overflow", true)}), nullptr);
  fm_rejected_counts rc{};
  ASSERT_EQ(fm_provider_rejected(p, &rc), FM_STATUS_OK);
  EXPECT_GT(rc.overflow, 0u);
  fm_counter_u64_release(c);
  fm_meter_release(m);
  fm_provider_release(p);
  fm_manual_reader_release(r);
}

TEST(CApi, ScopesAndResource) {
  fm_manual_reader* r = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &r), FM_STATUS_OK);
  fm_provider_builder* pb = nullptr;
  ASSERT_EQ(fm_provider_builder_new(&pb), FM_STATUS_OK);
  fm_provider_builder_add_reader(pb, r);
  ASSERT_EQ(fm_provider_builder_set_service_name(pb, "game-server", 11), FM_STATUS_OK);
  fm_attribute ra[] = {S("deployment.environment", "test")};
  ASSERT_EQ(fm_provider_builder_add_resource_attributes(pb, ra, 1), FM_STATUS_OK);
  fm_provider* p = nullptr;
  ASSERT_EQ(fm_provider_builder_build(pb, &p), FM_STATUS_OK);
  fm_provider_builder_release(pb);
  fm_meter *m1 = nullptr, *m2 = nullptr;
  ASSERT_EQ(fm_provider_get_meter(p, "lib.a", 5, "2.1", 3, "https://x/s", 11, &m1), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_get_meter(p, "lib.b", 5, nullptr, 0, nullptr, 0, &m2), FM_STATUS_OK);
  fm_counter_u64 *c1 = nullptr, *c2 = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(m1, "a", 1, nullptr, &c1), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_counter_u64(m2, "b", 1, nullptr, &c2), FM_STATUS_OK);
  fm_counter_u64_add(c1, 1, nullptr, 0);
  fm_counter_u64_add(c2, 1, nullptr, 0);
  fm_snapshot* ss = nullptr;
  ASSERT_EQ(fm_manual_reader_collect(r, &ss), FM_STATUS_OK);
  Snap s(ss);
  EXPECT_TRUE(HasAttrs(fm_snapshot_resource(s.s), {S("service.name", "game-server"), S("deployment.environment", "test")}));
  ASSERT_EQ(fm_snapshot_scope_count(s.s), 2u);
  EXPECT_EQ(fm_snapshot_metric_count(s.s), 2u);
  bool saw_a = false;
  for (size_t i = 0; i < 2; ++i) {
    const fm_scope_metrics* sc = fm_snapshot_scope(s.s, i);
    ASSERT_EQ(fm_scope_metrics_metric_count(sc), 1u);
    if (Str(fm_scope_metrics_name(sc)) == "lib.a") {
      saw_a = true;
      EXPECT_EQ(Str(fm_scope_metrics_version(sc)), "2.1");
      EXPECT_EQ(Str(fm_scope_metrics_schema_url(sc)), "https://x/s");
      EXPECT_EQ(Str(fm_metric_name(fm_scope_metrics_metric(sc, 0))), "a");
    } else {
      EXPECT_EQ(Str(fm_scope_metrics_version(sc)), "");
    }
  }
  EXPECT_TRUE(saw_a);
  EXPECT_EQ(fm_snapshot_scope(s.s, 2), nullptr);
  EXPECT_EQ(fm_snapshot_metric(s.s, 2), nullptr);
  fm_counter_u64_release(c1);
  fm_counter_u64_release(c2);
  fm_meter_release(m1);
  fm_meter_release(m2);
  fm_provider_release(p);
  fm_manual_reader_release(r);
}

TEST(CApi, SameInstrumentTwiceSharesStorage) {
  Env e;
  fm_counter_u64 *a = nullptr, *b = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "shared", 6, nullptr, &a), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "shared", 6, nullptr, &b), FM_STATUS_OK);
  fm_counter_u64_add(a, 1, nullptr, 0);
  fm_counter_u64_add(b, 2, nullptr, 0);
  Snap s(e.Collect());
  EXPECT_EQ(fm_metric_point_count(s.Metric("shared")), 1u);
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("shared"))), 3u);
  fm_counter_u64_release(a);
  fm_counter_u64_release(b);
}

TEST(CApi, ForceFlushAndShutdown) {
  Env e;
  EXPECT_FALSE(fm_provider_is_shutdown(e.provider));
  EXPECT_EQ(fm_provider_force_flush(e.provider, 1000), FM_STATUS_OK);
  EXPECT_EQ(fm_provider_shutdown(e.provider, 1000), FM_STATUS_OK);
  EXPECT_TRUE(fm_provider_is_shutdown(e.provider));
  EXPECT_EQ(fm_provider_shutdown(e.provider, 1000), FM_STATUS_OK);  // idempotent
  EXPECT_EQ(fm_provider_force_flush(e.provider, 1000), FM_STATUS_SHUTDOWN);
  fm_snapshot* s = nullptr;
  EXPECT_EQ(fm_manual_reader_collect(e.reader, &s), FM_STATUS_SHUTDOWN);
  EXPECT_EQ(s, nullptr);
}

// RAII users release the provider handle and never call shutdown: the
// release of the last handle does the documented shutdown, final export
// included, although meter and instrument handles are still alive.
TEST(CApi, ReleasingTheLastProviderHandleExportsTheFinalInterval) {
  HttpSink sink;
  fm_provider_builder* b = nullptr;
  fm_provider* provider = nullptr;
  ASSERT_EQ(fm_provider_builder_new(&b), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_use_empty_resource(b), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_build(b, &provider), FM_STATUS_OK);
  fm_provider_builder_release(b);
  std::string url = sink.Url();
  fm_pushgateway_options* po = nullptr;
  ASSERT_EQ(fm_pushgateway_options_new(url.data(), url.size(), "job", 3, &po), FM_STATUS_OK);
  fm_exporter* ex = nullptr;
  ASSERT_EQ(fm_pushgateway_exporter_new(po, &ex), FM_STATUS_OK);
  fm_pushgateway_options_release(po);
  // An hour between exports: only the final one can carry the totals.
  ASSERT_EQ(fm_provider_add_periodic_reader(provider, ex, 3600 * 1000, 0), FM_STATUS_OK);
  fm_exporter_release(ex);
  fm_meter* meter = nullptr;
  ASSERT_EQ(fm_provider_get_meter(provider, "m", 1, nullptr, 0, nullptr, 0, &meter), FM_STATUS_OK);
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(meter, "jobs.done", 9, nullptr, &c), FM_STATUS_OK);
  fm_attribute a[] = {S("queue", "a")};
  fm_counter_u64_add(c, 5, a, 1);
  fm_counter_u64_add(c, 7, a, 1);
  EXPECT_TRUE(sink.Bodies().empty());

  auto start = std::chrono::steady_clock::now();
  fm_provider_release(provider);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  auto bodies = sink.Bodies();
  ASSERT_EQ(bodies.size(), 1u) << "the release of the last provider handle exports once";
  EXPECT_NE(bodies[0].find("jobs_done_total{queue=\"a\",otel_scope_name=\"m\"} 12\n"), std::string::npos)
      << bodies[0];
  fm_counter_u64_add(c, 1, a, 1);  // still safe: counted as after-shutdown
  fm_counter_u64_release(c);
  fm_meter_release(meter);
  EXPECT_EQ(sink.Bodies().size(), 1u);
}

// An observable instrument's handle does not keep a released provider
// collecting: the release shut it down.
TEST(CApi, ObservableHandleDoesNotKeepAReleasedProviderAlive) {
  auto* e = new Env();
  fm_observable_gauge_i64* g = nullptr;
  ASSERT_EQ(fm_meter_create_observable_gauge_i64(e->meter, "queue.depth", 11, nullptr, &g), FM_STATUS_OK);
  std::atomic<int> calls{0};
  auto cb = [](void* ud) { static_cast<std::atomic<int>*>(ud)->fetch_add(1); };
  fm_callback_registration* r = nullptr;
  ASSERT_EQ(fm_observable_gauge_i64_add_callback(g, cb, &calls, &r), FM_STATUS_OK);
  { Snap s(e->Collect()); }
  EXPECT_EQ(calls.load(), 1);
  fm_manual_reader* reader = e->reader;
  e->reader = nullptr;  // keep the reader handle; release the provider and meter
  delete e;
  fm_snapshot* s = nullptr;
  EXPECT_EQ(fm_manual_reader_collect(reader, &s), FM_STATUS_SHUTDOWN);
  EXPECT_EQ(s, nullptr);
  EXPECT_EQ(calls.load(), 1);
  fm_callback_registration_release(r);
  fm_observable_gauge_i64_release(g);
  fm_manual_reader_release(reader);
}

// Shutdown and flush say how many points did not reach the destination.
TEST(CApi, ShutdownAndFlushReportUndeliveredPoints) {
  Env e;
  fm_exporter* ex = nullptr;
  auto refuse = [](const uint8_t*, size_t, const char*, void*) { return false; };
  ASSERT_EQ(fm_bytes_exporter_new(FM_WIRE_FORMAT_PROMETHEUS_TEXT, FM_TEMPORALITY_PREFERENCE_CUMULATIVE, refuse,
                                  nullptr, nullptr, &ex),
            FM_STATUS_OK);
  ASSERT_EQ(fm_provider_add_periodic_reader(e.provider, ex, 3600 * 1000, 0), FM_STATUS_OK);
  fm_exporter_release(ex);
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "c", 1, nullptr, &c), FM_STATUS_OK);
  for (const char* q : {"a", "b", "c"}) {
    fm_attribute a[] = {S("q", q)};
    fm_counter_u64_add(c, 1, a, 1);
  }
  uint64_t lost = 99;
  EXPECT_EQ(fm_provider_force_flush_report(e.provider, 1000, &lost), FM_STATUS_FAILED);
  EXPECT_EQ(lost, 3u) << fm_last_error_message();
  EXPECT_EQ(fm_provider_force_flush(e.provider, 1000), FM_STATUS_FAILED);
  lost = 99;
  EXPECT_EQ(fm_provider_shutdown_report(e.provider, 1000, &lost), FM_STATUS_FAILED);
  EXPECT_EQ(lost, 3u);
  lost = 99;
  EXPECT_EQ(fm_provider_shutdown_report(e.provider, 1000, &lost), FM_STATUS_OK);  // idempotent
  EXPECT_EQ(lost, 0u);
  lost = 99;
  EXPECT_EQ(fm_provider_force_flush_report(nullptr, 1000, &lost), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(lost, 0u);
  fm_counter_u64_release(c);
}

namespace {
std::mutex g_diag_mu;
std::vector<std::string> g_diag;
}  // namespace

TEST(CApi, DiagnosticsHandlerReceivesWarnings) {
  auto h = [](fm_level level, const char* msg, size_t len, void* ud) {
    std::lock_guard<std::mutex> g(g_diag_mu);
    EXPECT_EQ(ud, &g_diag);
    EXPECT_EQ(msg[len], '\0');
    if (level >= FM_LEVEL_WARN) g_diag.emplace_back(msg, len);
  };
  fm_diagnostics_set_handler(h, &g_diag);
  {
    Env e;
    fm_counter_f64* c = nullptr;
    ASSERT_EQ(fm_meter_create_counter_f64(e.meter, "diag.c", 6, nullptr, &c), FM_STATUS_OK);
    fm_counter_f64_add(c, -1.0, nullptr, 0);
    EXPECT_EQ(e.Rejected().negative, 1u);
    fm_counter_f64_release(c);
  }
  fm_diagnostics_set_handler(nullptr, nullptr);
  std::lock_guard<std::mutex> g(g_diag_mu);
  ASSERT_FALSE(g_diag.empty());
  EXPECT_NE(g_diag.front().find("diag.c"), std::string::npos);
}
