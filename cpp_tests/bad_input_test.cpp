// Bad input never crashes: it gets a documented status, or (hot path) is
// dropped and counted, and nothing already recorded is lost.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <string>
#include <vector>

#include "test_util.hpp"

using namespace fmtest;

namespace {

const char kBadUtf8[] = "\xff\xfe";

struct WithCounter : Env {
  fm_counter_u64* c = nullptr;
  WithCounter() {
    EXPECT_EQ(fm_meter_create_counter_u64(meter, "base", 4, nullptr, &c), FM_STATUS_OK);
    fm_attribute a[] = {S("k", "v")};
    fm_counter_u64_add(c, 5, a, 1);
  }
  ~WithCounter() { fm_counter_u64_release(c); }
  // The value recorded in the constructor is still there.
  void ExpectBaseIntact(uint64_t expected = 5) {
    Snap s(Collect());
    EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("base"), {S("k", "v")})), expected);
  }
};

}  // namespace

TEST(BadInput, ReleaseNullIsFine) {
  fm_provider_builder_release(nullptr);
  fm_provider_release(nullptr);
  fm_meter_release(nullptr);
  fm_manual_reader_release(nullptr);
  fm_snapshot_release(nullptr);
  fm_view_builder_release(nullptr);
  fm_view_release(nullptr);
  fm_attribute_set_release(nullptr);
  fm_callback_registration_release(nullptr);
  fm_counter_u64_release(nullptr);
  fm_counter_f64_release(nullptr);
  fm_updown_counter_i64_release(nullptr);
  fm_updown_counter_f64_release(nullptr);
  fm_histogram_u64_release(nullptr);
  fm_histogram_f64_release(nullptr);
  fm_gauge_i64_release(nullptr);
  fm_gauge_f64_release(nullptr);
  fm_bound_counter_u64_release(nullptr);
  fm_bound_counter_f64_release(nullptr);
  fm_bound_updown_counter_i64_release(nullptr);
  fm_bound_updown_counter_f64_release(nullptr);
  fm_bound_histogram_u64_release(nullptr);
  fm_bound_histogram_f64_release(nullptr);
  fm_bound_gauge_i64_release(nullptr);
  fm_bound_gauge_f64_release(nullptr);
  fm_observable_counter_u64_release(nullptr);
  fm_observable_counter_i64_release(nullptr);
  fm_observable_counter_f64_release(nullptr);
  fm_observable_updown_counter_i64_release(nullptr);
  fm_observable_updown_counter_f64_release(nullptr);
  fm_observable_gauge_i64_release(nullptr);
  fm_observable_gauge_f64_release(nullptr);
}

TEST(BadInput, NullOutParametersAndHandles) {
  Env e;
  EXPECT_EQ(fm_provider_builder_new(nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_new(nullptr, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_view_builder_new(nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_attribute_set_new(nullptr, 0, nullptr), FM_STATUS_INVALID_ARGUMENT);
  fm_meter* m = nullptr;
  EXPECT_EQ(fm_provider_get_meter(nullptr, "m", 1, nullptr, 0, nullptr, 0, &m), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_get_meter(e.provider, "m", 1, nullptr, 0, nullptr, 0, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_get_meter(e.provider, nullptr, 3, nullptr, 0, nullptr, 0, &m), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_get_meter(e.provider, nullptr, 0, nullptr, 0, nullptr, 0, &m), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(m, nullptr);
  fm_counter_u64* c = reinterpret_cast<fm_counter_u64*>(0x1);  // must stay untouched
  EXPECT_EQ(fm_meter_create_counter_u64(nullptr, "c", 1, nullptr, &c), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(c, reinterpret_cast<fm_counter_u64*>(0x1));
  EXPECT_EQ(fm_meter_create_counter_u64(e.meter, "c", 1, nullptr, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_meter_create_counter_u64(e.meter, nullptr, 1, nullptr, &c), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_STRNE(fm_last_error_message(), "");
  EXPECT_EQ(fm_provider_shutdown(nullptr, 0), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_force_flush(nullptr, 0), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_rejected(nullptr, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_rejected(e.provider, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_add_reader(e.provider, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_builder_add_reader(nullptr, e.reader), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_builder_add_view(nullptr, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_builder_build(nullptr, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_manual_reader_collect(nullptr, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_manual_reader_collect(e.reader, nullptr), FM_STATUS_INVALID_ARGUMENT);
  fm_callback_registration* r = nullptr;
  EXPECT_EQ(fm_meter_register_callback(e.meter, nullptr, nullptr, &r), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_meter_register_callback(nullptr, [](void*) {}, nullptr, &r), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_observable_gauge_i64_add_callback(nullptr, [](void*) {}, nullptr, &r), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_counter_u64_remove(nullptr, nullptr, 0, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_counter_u64_remove_all(nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_counter_u64_bind(nullptr, nullptr, 0, nullptr), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(r, nullptr);
  EXPECT_FALSE(fm_provider_is_shutdown(nullptr));
}

TEST(BadInput, NullHandlesOnTheHotPathAreNoOps) {
  fm_attribute a[] = {S("k", "v")};
  fm_counter_u64_add(nullptr, 1, a, 1);
  fm_counter_f64_add(nullptr, 1, nullptr, 0);
  fm_counter_u64_add_prepared(nullptr, 1, nullptr);
  fm_updown_counter_i64_add(nullptr, 1, a, 1);
  fm_updown_counter_f64_add(nullptr, 1, a, 1);
  fm_histogram_u64_record(nullptr, 1, a, 1);
  fm_histogram_f64_record(nullptr, 1, a, 1);
  fm_gauge_i64_record(nullptr, 1, a, 1);
  fm_gauge_f64_record(nullptr, 1, a, 1);
  fm_gauge_i64_record_at(nullptr, 1, a, 1, 1);
  fm_bound_counter_u64_add(nullptr, 1);
  fm_bound_histogram_f64_record(nullptr, 1);
  fm_bound_gauge_f64_record_at(nullptr, 1, 1);
  fm_observable_counter_u64_observe(nullptr, 1, a, 1);
  fm_observable_gauge_f64_observe_at(nullptr, 1, a, 1, 1);
  SUCCEED();
}

TEST(BadInput, NullSnapshotAccessors) {
  EXPECT_EQ(fm_snapshot_metric_count(nullptr), 0u);
  EXPECT_EQ(fm_snapshot_metric(nullptr, 0), nullptr);
  EXPECT_EQ(fm_snapshot_find_metric(nullptr, "x", 1), nullptr);
  EXPECT_EQ(fm_snapshot_scope_count(nullptr), 0u);
  EXPECT_EQ(fm_snapshot_resource(nullptr), nullptr);
  EXPECT_EQ(fm_metric_point_count(nullptr), 0u);
  EXPECT_EQ(fm_metric_name(nullptr).len, 0u);
  EXPECT_EQ(fm_metric_number_point(nullptr, 0), nullptr);
  EXPECT_EQ(fm_metric_histogram_point(nullptr, 0), nullptr);
  EXPECT_TRUE(std::isnan(fm_number_point_as_f64(nullptr)));
  EXPECT_EQ(fm_number_point_as_u64(nullptr), 0u);
  EXPECT_EQ(fm_histogram_point_count(nullptr), 0u);
  size_t n = 99;
  EXPECT_EQ(fm_histogram_point_bounds(nullptr, &n), nullptr);
  EXPECT_EQ(n, 0u);
  double d = 0;
  EXPECT_FALSE(fm_histogram_point_min(nullptr, &d));
  EXPECT_EQ(fm_attribute_set_len(nullptr), 0u);
  fm_attribute a{};
  EXPECT_EQ(fm_attribute_set_get(nullptr, 0, &a), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_FALSE(fm_attribute_set_find(nullptr, "k", 1, &a));
}

TEST(BadInput, InvalidInstrumentNames) {
  Env e;
  fm_counter_u64* c = nullptr;
  const std::string too_long(256, 'a');
  for (const std::string& n : {std::string(""), std::string("9lives"), std::string("_x"), std::string("a b"),
                               std::string("a:b"), too_long}) {
    EXPECT_EQ(fm_meter_create_counter_u64(e.meter, n.data(), n.size(), nullptr, &c), FM_STATUS_INVALID_NAME) << n;
  }
  EXPECT_EQ(c, nullptr);
  const std::string ok(255, 'a');
  EXPECT_EQ(fm_meter_create_counter_u64(e.meter, ok.data(), ok.size(), nullptr, &c), FM_STATUS_OK);
  fm_counter_u64_release(c);
}

TEST(BadInput, InvalidUtf8InNamesAndOptions) {
  Env e;
  fm_histogram_f64* h = nullptr;
  EXPECT_EQ(fm_meter_create_histogram_f64(e.meter, kBadUtf8, 2, nullptr, &h), FM_STATUS_INVALID_UTF8);
  fm_instrument_options o{};
  o.unit = fm_str{kBadUtf8, 2};
  EXPECT_EQ(fm_meter_create_histogram_f64(e.meter, "h", 1, &o, &h), FM_STATUS_INVALID_UTF8);
  o = fm_instrument_options{};
  o.unit = fm_str{"µs", std::strlen("µs")};
  EXPECT_EQ(fm_meter_create_histogram_f64(e.meter, "h", 1, &o, &h), FM_STATUS_INVALID_UNIT);
  o = fm_instrument_options{};
  o.description = fm_str{"\xF0\x9F\x98\x80", 4};  // outside the BMP
  EXPECT_EQ(fm_meter_create_histogram_f64(e.meter, "h", 1, &o, &h), FM_STATUS_INVALID_DESCRIPTION);
  fm_meter* m = nullptr;
  EXPECT_EQ(fm_provider_get_meter(e.provider, kBadUtf8, 2, nullptr, 0, nullptr, 0, &m), FM_STATUS_INVALID_UTF8);
  fm_provider_builder* b = nullptr;
  ASSERT_EQ(fm_provider_builder_new(&b), FM_STATUS_OK);
  EXPECT_EQ(fm_provider_builder_set_service_name(b, kBadUtf8, 2), FM_STATUS_INVALID_UTF8);
  fm_provider_builder_release(b);
  EXPECT_EQ(h, nullptr);
}

TEST(BadInput, InvalidHistogramBoundaries) {
  Env e;
  fm_histogram_f64* h = nullptr;
  const double nan = std::numeric_limits<double>::quiet_NaN();
  std::vector<std::vector<double>> bad = {{2, 1}, {1, 1}, {1, nan}, {1, std::numeric_limits<double>::infinity()}};
  for (auto& b : bad) {
    fm_instrument_options o{};
    o.boundaries = b.data();
    o.boundaries_len = b.size();
    EXPECT_EQ(fm_meter_create_histogram_f64(e.meter, "hb", 2, &o, &h), FM_STATUS_INVALID_BOUNDARIES);
  }
  fm_instrument_options o{};
  double one = 1;
  o.boundaries = &one;
  o.boundaries_len = 0;  // explicit empty list
  EXPECT_EQ(fm_meter_create_histogram_f64(e.meter, "hb", 2, &o, &h), FM_STATUS_INVALID_BOUNDARIES);
  o.boundaries = nullptr;
  o.boundaries_len = 3;  // NULL means "default": length ignored
  EXPECT_EQ(fm_meter_create_histogram_f64(e.meter, "hb", 2, &o, &h), FM_STATUS_OK);
  fm_histogram_f64_release(h);
}

TEST(BadInput, NanInfAndNegativeAreCountedNotRecorded) {
  WithCounter e;
  fm_counter_f64* cf = nullptr;
  fm_histogram_f64* hf = nullptr;
  fm_gauge_f64* gf = nullptr;
  fm_updown_counter_f64* uf = nullptr;
  ASSERT_EQ(fm_meter_create_counter_f64(e.meter, "cf", 2, nullptr, &cf), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_histogram_f64(e.meter, "hf", 2, nullptr, &hf), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_gauge_f64(e.meter, "gf", 2, nullptr, &gf), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_updown_counter_f64(e.meter, "uf", 2, nullptr, &uf), FM_STATUS_OK);
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  fm_counter_f64_add(cf, 1.0, nullptr, 0);
  fm_counter_f64_add(cf, nan, nullptr, 0);
  fm_counter_f64_add(cf, inf, nullptr, 0);
  fm_counter_f64_add(cf, -1.0, nullptr, 0);
  fm_histogram_f64_record(hf, nan, nullptr, 0);
  fm_histogram_f64_record(hf, -inf, nullptr, 0);
  fm_histogram_f64_record(hf, -2.0, nullptr, 0);
  fm_histogram_f64_record(hf, 2.0, nullptr, 0);
  fm_gauge_f64_record(gf, 3.0, nullptr, 0);
  fm_gauge_f64_record(gf, nan, nullptr, 0);
  fm_updown_counter_f64_add(uf, inf, nullptr, 0);
  fm_updown_counter_f64_add(uf, -1.0, nullptr, 0);
  fm_rejected_counts r = e.Rejected();
  EXPECT_EQ(r.nan, 3u);
  EXPECT_EQ(r.infinite, 3u);
  EXPECT_EQ(r.negative, 2u);
  Snap s(e.Collect());
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(s.Metric("cf"))), 1.0);
  EXPECT_EQ(fm_histogram_point_count(FindHist(s.Metric("hf"))), 1u);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(s.Metric("gf"))), 3.0);
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(s.Metric("uf"))), -1.0);
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("base"), {S("k", "v")})), 5u);
  fm_counter_f64_release(cf);
  fm_histogram_f64_release(hf);
  fm_gauge_f64_release(gf);
  fm_updown_counter_f64_release(uf);
}

TEST(BadInput, InvalidAttributesOnHotPathAreCounted) {
  WithCounter e;
  fm_attribute bad_key = S("k", "v");
  bad_key.key = kBadUtf8;
  bad_key.key_len = 2;
  fm_attribute bad_val = S("k", "v");
  bad_val.value.str = fm_str{kBadUtf8, 2};
  fm_attribute null_key = S("k", "v");
  null_key.key = nullptr;
  fm_attribute null_val = S("k", "v");
  null_val.value.str = fm_str{nullptr, 3};
  fm_attribute bad_type = S("k", "v");
  bad_type.type_ = 77;
  fm_attribute bad_bool = B("k", true);
  std::memset(&bad_bool.value, 2, 1);
  int n = 0;
  for (fm_value_type flag : {0u, static_cast<unsigned>(FM_VALUE_STATIC)}) {
    // FM_VALUE_STATIC changes nothing about what is valid.
    for (const fm_attribute& a : {bad_key, bad_val, null_key, null_val, bad_type, bad_bool}) {
      fm_attribute two[] = {S("ok", "1"), a};
      two[1].type_ |= flag;
      fm_counter_u64_add(e.c, 100, two, 2);
      n++;
    }
  }
  fm_counter_u64_add(e.c, 100, nullptr, 5);  // NULL array with a length
  n++;
  EXPECT_EQ(e.Rejected().invalid_attributes, static_cast<uint64_t>(n));
  e.ExpectBaseIntact();
  Snap s(e.Collect());
  EXPECT_EQ(fm_metric_point_count(s.Metric("base")), 1u);
}

TEST(BadInput, InvalidAttributesInFallibleCalls) {
  WithCounter e;
  fm_attribute bad = S("k", "v");
  bad.key = kBadUtf8;
  bad.key_len = 2;
  fm_attribute_set* set = nullptr;
  EXPECT_EQ(fm_attribute_set_new(&bad, 1, &set), FM_STATUS_INVALID_ATTRIBUTES);
  EXPECT_EQ(set, nullptr);
  EXPECT_EQ(fm_attribute_set_new(nullptr, 2, &set), FM_STATUS_INVALID_ATTRIBUTES);
  fm_bound_counter_u64* b = nullptr;
  EXPECT_EQ(fm_counter_u64_bind(e.c, &bad, 1, &b), FM_STATUS_INVALID_ATTRIBUTES);
  EXPECT_EQ(b, nullptr);
  bool existed = true;
  EXPECT_EQ(fm_counter_u64_remove(e.c, &bad, 1, &existed), FM_STATUS_INVALID_ATTRIBUTES);
  EXPECT_TRUE(existed);  // untouched
  fm_provider_builder* pb = nullptr;
  ASSERT_EQ(fm_provider_builder_new(&pb), FM_STATUS_OK);
  EXPECT_EQ(fm_provider_builder_add_resource_attributes(pb, &bad, 1), FM_STATUS_INVALID_ATTRIBUTES);
  fm_provider_builder_release(pb);
  e.ExpectBaseIntact();
}

TEST(BadInput, DuplicateAttributeKeysLastWins) {
  WithCounter e;
  fm_attribute dup[] = {S("k", "x"), S("k", "v")};
  fm_counter_u64_add(e.c, 1, dup, 2);
  e.ExpectBaseIntact(6);
}

TEST(BadInput, EmptyKeyIsInvalidEmptyValueIsValid) {
  WithCounter e;
  fm_attribute empty_value[] = {S("k", "")};
  fm_counter_u64_add(e.c, 1, empty_value, 1);
  EXPECT_EQ(e.Rejected().invalid_attributes, 0u);
  // The specification requires non-empty keys: every path refuses them.
  int n = 0;
  for (fm_value_type flag : {0u, static_cast<unsigned>(FM_VALUE_STATIC)}) {
    fm_attribute alone[] = {S("", "v")};
    fm_attribute with_valid[] = {S("k", "v"), I("", 1)};
    alone[0].type_ |= flag;
    with_valid[1].type_ |= flag;
    fm_counter_u64_add(e.c, 100, alone, 1);
    fm_counter_u64_add(e.c, 100, with_valid, 2);
    n += 2;
    fm_attribute_set* set = nullptr;
    EXPECT_EQ(fm_attribute_set_new(alone, 1, &set), FM_STATUS_INVALID_ATTRIBUTES);
    EXPECT_EQ(set, nullptr);
    EXPECT_NE(std::string(fm_last_error_message()).find("empty"), std::string::npos) << fm_last_error_message();
    fm_bound_counter_u64* b = nullptr;
    EXPECT_EQ(fm_counter_u64_bind(e.c, alone, 1, &b), FM_STATUS_INVALID_ATTRIBUTES);
    EXPECT_EQ(b, nullptr);
  }
  EXPECT_EQ(e.Rejected().invalid_attributes, static_cast<uint64_t>(n));
  Snap s(e.Collect());
  EXPECT_EQ(fm_metric_point_count(s.Metric("base")), 2u);  // k=v and k=""
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("base"), {S("k", "v")})), 5u);
}

TEST(BadInput, EmptyKeyIsInvalidThroughViewFiltersAndObservables) {
  fm_manual_reader* reader = nullptr;
  fm_provider_builder* pb = nullptr;
  fm_provider* provider = nullptr;
  fm_meter* meter = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &reader), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_new(&pb), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_add_reader(pb, reader), FM_STATUS_OK);
  fm_view_builder* vb = nullptr;
  ASSERT_EQ(fm_view_builder_new(&vb), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_set_instrument_name(vb, "filtered", 8), FM_STATUS_OK);
  fm_str keep[] = {{"k", 1}};
  ASSERT_EQ(fm_view_builder_set_allowed_attribute_keys(vb, keep, 1), FM_STATUS_OK);
  fm_view* v = nullptr;
  ASSERT_EQ(fm_view_builder_build(vb, &v), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_add_view(pb, v), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_build(pb, &provider), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_get_meter(provider, "m", 1, nullptr, 0, nullptr, 0, &meter), FM_STATUS_OK);
  fm_counter_u64* c = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(meter, "filtered", 8, nullptr, &c), FM_STATUS_OK);
  fm_attribute ok[] = {S("k", "v")};
  fm_attribute bad[] = {S("k", "v"), S("", "filtered out, still invalid")};
  fm_counter_u64_add(c, 1, ok, 1);
  fm_counter_u64_add(c, 1, bad, 2);
  fm_observable_counter_u64* o = nullptr;
  ASSERT_EQ(fm_meter_create_observable_counter_u64(meter, "obs", 3, nullptr, &o), FM_STATUS_OK);
  fm_callback_registration* r = nullptr;
  ASSERT_EQ(fm_observable_counter_u64_add_callback(
                o, [](void* ud) {
                  auto* oc = static_cast<fm_observable_counter_u64*>(ud);
                  fm_attribute empty_key[] = {S("", "v")};
                  fm_attribute fine[] = {S("k", "v")};
                  fm_observable_counter_u64_observe(oc, 1, empty_key, 1);
                  fm_observable_counter_u64_observe(oc, 2, fine, 1);
                },
                o, &r),
            FM_STATUS_OK);
  fm_snapshot* snap = nullptr;
  ASSERT_EQ(fm_manual_reader_collect(reader, &snap), FM_STATUS_OK);
  {
    Snap s(snap);
    EXPECT_EQ(fm_metric_point_count(s.Metric("filtered")), 1u);
    EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("filtered"), {S("k", "v")})), 1u);
    EXPECT_EQ(fm_metric_point_count(s.Metric("obs")), 1u);
    EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("obs"), {S("k", "v")})), 2u);
  }
  fm_rejected_counts rc{};
  ASSERT_EQ(fm_provider_rejected(provider, &rc), FM_STATUS_OK);
  EXPECT_EQ(rc.invalid_attributes, 2u);
  fm_callback_registration_release(r);
  fm_observable_counter_u64_release(o);
  fm_counter_u64_release(c);
  fm_view_release(v);
  fm_view_builder_release(vb);
  fm_provider_builder_release(pb);
  fm_meter_release(meter);
  fm_provider_release(provider);
  fm_manual_reader_release(reader);
}

TEST(BadInput, UseAfterShutdown) {
  WithCounter e;
  fm_bound_counter_u64* b = nullptr;
  ASSERT_EQ(fm_counter_u64_bind(e.c, nullptr, 0, &b), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_shutdown(e.provider, 1000), FM_STATUS_OK);
  fm_counter_u64_add(e.c, 1, nullptr, 0);
  fm_bound_counter_u64_add(b, 1);
  EXPECT_EQ(e.Rejected().after_shutdown, 2u);
  fm_counter_u64* late = nullptr;
  EXPECT_EQ(fm_meter_create_counter_u64(e.meter, "late", 4, nullptr, &late), FM_STATUS_OK);
  fm_counter_u64_add(late, 1, nullptr, 0);  // counted, not recorded
  fm_snapshot* s = nullptr;
  EXPECT_EQ(fm_manual_reader_collect(e.reader, &s), FM_STATUS_SHUTDOWN);
  EXPECT_EQ(fm_provider_force_flush(e.provider, 10), FM_STATUS_SHUTDOWN);
  fm_manual_reader* r = nullptr;
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &r), FM_STATUS_OK);
  EXPECT_EQ(fm_provider_add_reader(e.provider, r), FM_STATUS_SHUTDOWN);
  fm_manual_reader_release(r);
  fm_counter_u64_release(late);
  fm_bound_counter_u64_release(b);
}

TEST(BadInput, InstrumentsOutliveTheirProvider) {
  fm_counter_u64* c = nullptr;
  fm_bound_counter_u64* b = nullptr;
  {
    Env e;
    ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "orphan", 6, nullptr, &c), FM_STATUS_OK);
    ASSERT_EQ(fm_counter_u64_bind(c, nullptr, 0, &b), FM_STATUS_OK);
  }
  fm_counter_u64_add(c, 1, nullptr, 0);
  fm_bound_counter_u64_add(b, 1);
  fm_bound_counter_u64_release(b);
  fm_counter_u64_release(c);
  SUCCEED();
}

TEST(BadInput, ReaderNotRegisteredAndBadTemporality) {
  fm_manual_reader* r = nullptr;
  EXPECT_EQ(fm_manual_reader_new(42, &r), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(r, nullptr);
  ASSERT_EQ(fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_DELTA, &r), FM_STATUS_OK);
  fm_snapshot* s = nullptr;
  EXPECT_EQ(fm_manual_reader_collect(r, &s), FM_STATUS_READER_NOT_REGISTERED);
  fm_manual_reader_release(r);
}

TEST(BadInput, InvalidViews) {
  fm_view_builder* b = nullptr;
  ASSERT_EQ(fm_view_builder_new(&b), FM_STATUS_OK);
  fm_view* v = nullptr;
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_INVALID_VIEW);  // no criterion
  EXPECT_EQ(fm_view_builder_set_instrument_kind(b, 99), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_view_builder_set_aggregation(b, 99), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_view_builder_set_instrument_name(b, kBadUtf8, 2), FM_STATUS_INVALID_UTF8);
  ASSERT_EQ(fm_view_builder_set_instrument_name(b, "req*", 4), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_set_stream_name(b, "x", 1), FM_STATUS_OK);
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_INVALID_VIEW);  // rename with wildcard
  ASSERT_EQ(fm_view_builder_set_instrument_name(b, "req", 3), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_set_stream_name(b, "9x", 2), FM_STATUS_OK);
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_INVALID_NAME);
  ASSERT_EQ(fm_view_builder_set_stream_name(b, "x", 1), FM_STATUS_OK);
  double bad[] = {3, 1};
  ASSERT_EQ(fm_view_builder_set_histogram(b, bad, 2, true), FM_STATUS_OK);
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_INVALID_BOUNDARIES);
  EXPECT_EQ(fm_view_builder_set_histogram(b, nullptr, 2, true), FM_STATUS_INVALID_ARGUMENT);
  ASSERT_EQ(fm_view_builder_set_aggregation(b, FM_AGGREGATION_SUM), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_set_cardinality_limit(b, 0), FM_STATUS_OK);
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_INVALID_VIEW);
  ASSERT_EQ(fm_view_builder_set_cardinality_limit(b, 5), FM_STATUS_OK);
  fm_str k[] = {{"a", 1}};
  ASSERT_EQ(fm_view_builder_set_allowed_attribute_keys(b, k, 1), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_set_denied_attribute_keys(b, k, 1), FM_STATUS_OK);
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_INVALID_VIEW);
  fm_str badk[] = {{kBadUtf8, 2}};
  EXPECT_EQ(fm_view_builder_set_denied_attribute_keys(b, badk, 1), FM_STATUS_INVALID_UTF8);
  EXPECT_EQ(v, nullptr);
  EXPECT_EQ(fm_view_builder_set_instrument_name(nullptr, "a", 1), FM_STATUS_INVALID_ARGUMENT);
  fm_view_builder_release(b);
}

TEST(BadInput, HugeAttributeCount) {
  WithCounter e;
  std::vector<std::string> keys;
  for (int i = 0; i < 10000; ++i) keys.push_back("key" + std::to_string(i));
  std::vector<fm_attribute> attrs;
  for (auto& k : keys) attrs.push_back(S(k.c_str(), "v"));
  fm_counter_u64_add(e.c, 1, attrs.data(), attrs.size());
  fm_counter_u64_add(e.c, 1, attrs.data(), attrs.size());
  fm_attribute_set* set = nullptr;
  ASSERT_EQ(fm_attribute_set_new(attrs.data(), attrs.size(), &set), FM_STATUS_OK);
  EXPECT_EQ(fm_attribute_set_len(set), 10000u);
  fm_counter_u64_add_prepared(e.c, 1, set);
  fm_attribute_set_release(set);
  Snap s(e.Collect());
  const fm_metric* m = s.Metric("base");
  uint64_t total = 0;
  for (size_t i = 0; i < fm_metric_point_count(m); ++i) total += fm_number_point_as_u64(fm_metric_number_point(m, i));
  EXPECT_EQ(total, 8u);
}

TEST(BadInput, CardinalityExplosionIsCappedNothingLost) {
  WithCounter e;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    fm_attribute a[] = {I("user", i)};
    fm_counter_u64_add(e.c, 1, a, 1);
  }
  Snap s(e.Collect());
  const fm_metric* m = s.Metric("base");
  EXPECT_LE(fm_metric_point_count(m), 2000u);
  uint64_t total = 0;
  for (size_t i = 0; i < fm_metric_point_count(m); ++i) total += fm_number_point_as_u64(fm_metric_number_point(m, i));
  EXPECT_EQ(total, 5u + n);
  EXPECT_EQ(fm_number_point_as_u64(FindPoint(m, {S("k", "v")})), 5u);
  EXPECT_GT(e.Rejected().overflow, 0u);
}

TEST(BadInput, ObservableRejectsAreCounted) {
  Env e;
  fm_observable_counter_f64* o = nullptr;
  ASSERT_EQ(fm_meter_create_observable_counter_f64(e.meter, "oc", 2, nullptr, &o), FM_STATUS_OK);
  fm_callback_registration* r = nullptr;
  ASSERT_EQ(fm_observable_counter_f64_add_callback(
                o, [](void* ud) {
                  auto* oc = static_cast<fm_observable_counter_f64*>(ud);
                  fm_observable_counter_f64_observe(oc, -1.0, nullptr, 0);
                  fm_observable_counter_f64_observe(oc, std::nan(""), nullptr, 0);
                  fm_observable_counter_f64_observe(oc, 1.0, nullptr, 3);
                  fm_observable_counter_f64_observe(oc, 2.0, nullptr, 0);
                },
                o, &r),
            FM_STATUS_OK);
  Snap s(e.Collect());
  EXPECT_DOUBLE_EQ(fm_number_point_as_f64(FindPoint(s.Metric("oc"))), 2.0);
  fm_rejected_counts c = e.Rejected();
  EXPECT_EQ(c.negative, 1u);
  EXPECT_EQ(c.nan, 1u);
  EXPECT_EQ(c.invalid_attributes, 1u);
  fm_callback_registration_release(r);
  fm_observable_counter_f64_release(o);
}

// A u64 counter's total never wraps: an add it cannot hold is dropped and
// counted as sum_overflow, through the attribute, prepared and bound paths.
TEST(BadInput, CounterU64AddThatWouldWrapIsCounted) {
  Env cum;
  Env delta(FM_TEMPORALITY_PREFERENCE_DELTA);
  for (Env* e : {&cum, &delta}) {
    fm_counter_u64* c = nullptr;
    ASSERT_EQ(fm_meter_create_counter_u64(e->meter, "c", 1, nullptr, &c), FM_STATUS_OK);
    fm_attribute a[] = {S("k", "a")};
    fm_attribute b[] = {S("k", "b")};
    fm_bound_counter_u64* bound = nullptr;
    ASSERT_EQ(fm_counter_u64_bind(c, b, 1, &bound), FM_STATUS_OK);
    fm_counter_u64_add(c, 10, a, 1);
    fm_bound_counter_u64_add(bound, 10);
    {
      Snap s(e->Collect());
      EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("c"), {S("k", "a")})), 10u);
      EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("c"), {S("k", "b")})), 10u);
    }
    fm_counter_u64_add(c, UINT64_MAX - 4, a, 1);
    fm_bound_counter_u64_add(bound, UINT64_MAX - 4);
    fm_counter_u64_add_prepared(c, UINT64_MAX - 4, nullptr);
    {
      Snap s(e->Collect());
      const fm_metric* m = s.Metric("c");
      if (e == &cum) {
        EXPECT_EQ(fm_number_point_as_u64(FindPoint(m, {S("k", "a")})), 10u);
        EXPECT_EQ(fm_number_point_as_u64(FindPoint(m, {S("k", "b")})), 10u);
      } else {
        // Nothing was added: no delta point, certainly no wrapped one.
        for (size_t i = 0; i < fm_metric_point_count(m); ++i) {
          EXPECT_LE(fm_number_point_as_u64(fm_metric_number_point(m, i)), 10u);
        }
      }
    }
    EXPECT_EQ(e->Rejected().sum_overflow, 3u);
    fm_bound_counter_u64_add(bound, 5);
    {
      Snap s(e->Collect());
      EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("c"), {S("k", "b")})), e == &cum ? 15u : 5u);
    }
    fm_bound_counter_u64_release(bound);
    fm_counter_u64_release(c);
  }
}

// A double counter's total (and a histogram's sum) never becomes infinite.
TEST(BadInput, DoubleSumsThatWouldBecomeInfiniteAreCounted) {
  Env cum;
  Env delta(FM_TEMPORALITY_PREFERENCE_DELTA);
  const double big = std::numeric_limits<double>::max();
  for (Env* e : {&cum, &delta}) {
    fm_counter_f64* c = nullptr;
    ASSERT_EQ(fm_meter_create_counter_f64(e->meter, "c", 1, nullptr, &c), FM_STATUS_OK);
    fm_histogram_f64* h = nullptr;
    ASSERT_EQ(fm_meter_create_histogram_f64(e->meter, "h", 1, nullptr, &h), FM_STATUS_OK);
    fm_bound_counter_f64* bound = nullptr;
    ASSERT_EQ(fm_counter_f64_bind(c, nullptr, 0, &bound), FM_STATUS_OK);
    fm_bound_counter_f64_add(bound, big);
    fm_histogram_f64_record(h, big, nullptr, 0);
    { Snap s(e->Collect()); }
    for (int round = 0; round < 3; ++round) {
      fm_counter_f64_add(c, big, nullptr, 0);
      fm_bound_counter_f64_add(bound, big);
      fm_histogram_f64_record(h, big, nullptr, 0);
      Snap s(e->Collect());
      const fm_metric* m = s.Metric("c");
      for (size_t i = 0; i < fm_metric_point_count(m); ++i) {
        double v = fm_number_point_as_f64(fm_metric_number_point(m, i));
        EXPECT_TRUE(std::isfinite(v)) << v;
        EXPECT_GE(v, 0.0);
        if (e == &cum) {
          EXPECT_EQ(v, big);
        }
      }
      const fm_histogram_point* hp = FindHist(s.Metric("h"));
      if (e == &cum) {
        ASSERT_NE(hp, nullptr);
        EXPECT_EQ(fm_histogram_point_sum(hp), big);
        EXPECT_EQ(fm_histogram_point_count(hp), 1u);
      } else {
        EXPECT_EQ(hp, nullptr) << "nothing was recorded";
      }
    }
    EXPECT_EQ(e->Rejected().sum_overflow, 9u);
    EXPECT_EQ(e->Rejected().infinite, 0u);
    fm_bound_counter_f64_release(bound);
    fm_histogram_f64_release(h);
    fm_counter_f64_release(c);
  }
}

// An observable counter whose total goes down (100 -> 50) is a reset: a
// delta reader reports 50 (not a wrapped or negative delta), a cumulative
// reader 50 under a new start time (the time of its previous point).
TEST(BadInput, ObservableCounterGoingDownIsAReset) {
  struct Obs {
    fm_observable_counter_u64* u = nullptr;
    fm_observable_counter_f64* f = nullptr;
    uint64_t total = 100;
  };
  Env cum;
  Env delta(FM_TEMPORALITY_PREFERENCE_DELTA);
  for (Env* e : {&cum, &delta}) {
    Obs o;
    ASSERT_EQ(fm_meter_create_observable_counter_u64(e->meter, "ou", 2, nullptr, &o.u), FM_STATUS_OK);
    ASSERT_EQ(fm_meter_create_observable_counter_f64(e->meter, "of", 2, nullptr, &o.f), FM_STATUS_OK);
    fm_callback_registration* r = nullptr;
    ASSERT_EQ(fm_meter_register_callback(
                  e->meter,
                  [](void* ud) {
                    auto* ob = static_cast<Obs*>(ud);
                    fm_observable_counter_u64_observe(ob->u, ob->total, nullptr, 0);
                    fm_observable_counter_f64_observe(ob->f, static_cast<double>(ob->total), nullptr, 0);
                  },
                  &o, &r),
              FM_STATUS_OK);
    uint64_t t1 = 0;
    {
      Snap s(e->Collect());
      const fm_number_point* p = FindPoint(s.Metric("ou"));
      ASSERT_NE(p, nullptr);
      EXPECT_EQ(fm_number_point_as_u64(p), 100u);
      t1 = fm_number_point_time(p);
    }
    o.total = 50;
    {
      Snap s(e->Collect());
      const fm_number_point* pu = FindPoint(s.Metric("ou"));
      const fm_number_point* pf = FindPoint(s.Metric("of"));
      ASSERT_NE(pu, nullptr);
      ASSERT_NE(pf, nullptr);
      EXPECT_EQ(fm_number_point_as_u64(pu), 50u);
      EXPECT_EQ(fm_number_point_as_f64(pf), 50.0);
      EXPECT_EQ(fm_number_point_start_time(pu), t1);
      EXPECT_EQ(fm_number_point_start_time(pf), t1);
    }
    o.total = 80;
    {
      Snap s(e->Collect());
      EXPECT_EQ(fm_number_point_as_u64(FindPoint(s.Metric("ou"))), e == &cum ? 80u : 30u);
      EXPECT_EQ(fm_number_point_as_f64(FindPoint(s.Metric("of"))), e == &cum ? 80.0 : 30.0);
    }
    fm_callback_registration_release(r);
    fm_observable_counter_u64_release(o.u);
    fm_observable_counter_f64_release(o.f);
  }
}

TEST(BadInput, ReaderCannotJoinTwoProviders) {
  Env e;
  fm_provider* p2 = nullptr;
  ASSERT_EQ(fm_provider_new(nullptr, &p2), FM_STATUS_OK);
  EXPECT_EQ(fm_provider_add_reader(p2, e.reader), FM_STATUS_READER_ALREADY_REGISTERED);
  EXPECT_NE(std::string(fm_last_error_message()), "");
  fm_provider_release(p2);
}

// ---- issue 12, section 4: input that was accepted but wrong ----

namespace {

uint64_t SumOfPoints(const fm_metric* m) {
  uint64_t total = 0;
  for (size_t i = 0; i < fm_metric_point_count(m); ++i) total += fm_number_point_as_u64(fm_metric_number_point(m, i));
  return total;
}

// The body of `GET /metrics` from the endpoint on loopback `port`.
std::string ScrapeBody(uint32_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    const std::string req = "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    if (::send(fd, req.data(), req.size(), 0) == static_cast<ssize_t>(req.size())) {
      char buf[4096];
      for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  size_t body = out.find("\r\n\r\n");
  return body == std::string::npos ? "" : out.substr(body + 4);
}

// Lines of `text` starting with `prefix` and containing `part`.
std::vector<std::string> LinesStartingWith(const std::string& text, const std::string& prefix,
                                           const std::string& part = "") {
  std::vector<std::string> lines;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(pos, end - pos);
    if (line.rfind(prefix, 0) == 0 && line.find(part) != std::string::npos) lines.push_back(line);
    pos = end + 1;
  }
  return lines;
}

// `promtool check metrics` on `text`: its exit status is 0.
bool PromtoolAccepts(const std::string& text) {
  char path[] = "/tmp/fm_bad_input_XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return false;
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  std::string cmd = std::string("promtool check metrics < ") + path + " > /dev/null 2>&1";
  int rc = written ? std::system(cmd.c_str()) : -1;
  ::unlink(path);
  return rc == 0;
}

}  // namespace

TEST(BadInput, U64HistogramValuesPastI64MaxKeepTheirValue) {
  Env e;
  fm_histogram_u64* h = nullptr;
  double bounds[] = {0, 1e18, 1e19};
  fm_instrument_options o{};
  o.boundaries = bounds;
  o.boundaries_len = 3;
  ASSERT_EQ(fm_meter_create_histogram_u64(e.meter, "big", 3, &o, &h), FM_STATUS_OK);
  const uint64_t vals[] = {uint64_t{1} << 63, std::numeric_limits<uint64_t>::max(), 5};
  fm_attribute plain[] = {S("path", "plain")};
  fm_attribute prepared[] = {S("path", "prepared")};
  fm_attribute bound[] = {S("path", "bound")};
  fm_attribute_set* set = nullptr;
  ASSERT_EQ(fm_attribute_set_new(prepared, 1, &set), FM_STATUS_OK);
  fm_bound_histogram_u64* b = nullptr;
  ASSERT_EQ(fm_histogram_u64_bind(h, bound, 1, &b), FM_STATUS_OK);
  for (uint64_t v : vals) {
    fm_histogram_u64_record(h, v, plain, 1);
    fm_histogram_u64_record_prepared(h, v, set);
    fm_bound_histogram_u64_record(b, v);
  }
  Snap s(e.Collect());
  const double expected_sum = static_cast<double>(vals[0]) + static_cast<double>(vals[1]) + static_cast<double>(vals[2]);
  for (const char* path : {"plain", "prepared", "bound"}) {
    SCOPED_TRACE(path);
    const fm_histogram_point* p = FindHist(s.Metric("big"), {S("path", path)});
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(fm_histogram_point_count(p), 3u);
    EXPECT_DOUBLE_EQ(fm_histogram_point_sum(p), expected_sum);
    double mn = 0, mx = 0;
    ASSERT_TRUE(fm_histogram_point_min(p, &mn));
    ASSERT_TRUE(fm_histogram_point_max(p, &mx));
    EXPECT_EQ(mn, 5.0);
    EXPECT_EQ(mx, static_cast<double>(vals[1]));
    size_t n = 0;
    const uint64_t* counts = fm_histogram_point_bucket_counts(p, &n);
    ASSERT_EQ(n, 4u);
    // 5 in (0, 1e18], 2^63 in (1e18, 1e19], UINT64_MAX above; none in le=0.
    EXPECT_EQ(counts[0], 0u);
    EXPECT_EQ(counts[1], 1u);
    EXPECT_EQ(counts[2], 1u);
    EXPECT_EQ(counts[3], 1u);
  }
  fm_bound_histogram_u64_release(b);
  fm_attribute_set_release(set);
  fm_histogram_u64_release(h);
}

TEST(BadInput, HistogramBoundariesPastTheCapAreRefused) {
  Env e;
  std::vector<double> at_cap(FM_HISTOGRAM_MAX_BOUNDARIES), past_cap(FM_HISTOGRAM_MAX_BOUNDARIES + 1);
  for (size_t i = 0; i < past_cap.size(); ++i) past_cap[i] = static_cast<double>(i);
  std::copy(past_cap.begin(), past_cap.end() - 1, at_cap.begin());
  fm_instrument_options o{};
  o.boundaries = at_cap.data();
  o.boundaries_len = at_cap.size();
  fm_histogram_f64* h = nullptr;
  ASSERT_EQ(fm_meter_create_histogram_f64(e.meter, "at_cap", 6, &o, &h), FM_STATUS_OK);
  fm_histogram_f64_release(h);
  h = nullptr;
  o.boundaries = past_cap.data();
  o.boundaries_len = past_cap.size();
  EXPECT_EQ(fm_meter_create_histogram_f64(e.meter, "past_cap", 8, &o, &h), FM_STATUS_INVALID_BOUNDARIES);
  EXPECT_EQ(h, nullptr);
  const std::string cap = std::to_string(FM_HISTOGRAM_MAX_BOUNDARIES);
  EXPECT_NE(std::string(fm_last_error_message()).find(cap), std::string::npos) << fm_last_error_message();
  fm_view_builder* b = nullptr;
  ASSERT_EQ(fm_view_builder_new(&b), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_set_instrument_name(b, "h", 1), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_set_histogram(b, past_cap.data(), past_cap.size(), true), FM_STATUS_OK);
  fm_view* v = nullptr;
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_INVALID_BOUNDARIES);
  EXPECT_EQ(v, nullptr);
  EXPECT_NE(std::string(fm_last_error_message()).find(cap), std::string::npos) << fm_last_error_message();
  ASSERT_EQ(fm_view_builder_set_histogram(b, at_cap.data(), at_cap.size(), true), FM_STATUS_OK);
  EXPECT_EQ(fm_view_builder_build(b, &v), FM_STATUS_OK);
  fm_view_release(v);
  fm_view_builder_release(b);
}

TEST(BadInput, CardinalityLimitIsThePointCountOverflowIncluded) {
  for (bool via_view : {false, true}) {
    for (size_t limit : {size_t{1}, size_t{2}, size_t{3}, size_t{0} /* the default, 2000 */}) {
      SCOPED_TRACE(std::to_string(limit) + (via_view ? " (view)" : " (provider)"));
      fm_view* view = nullptr;
      if (via_view && limit != 0) {
        fm_view_builder* vb = nullptr;
        ASSERT_EQ(fm_view_builder_new(&vb), FM_STATUS_OK);
        ASSERT_EQ(fm_view_builder_set_instrument_name(vb, "c", 1), FM_STATUS_OK);
        ASSERT_EQ(fm_view_builder_set_cardinality_limit(vb, limit), FM_STATUS_OK);
        ASSERT_EQ(fm_view_builder_build(vb, &view), FM_STATUS_OK);
        fm_view_builder_release(vb);
      }
      Env e(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, via_view ? 0 : limit, view);
      fm_counter_u64* c = nullptr;
      ASSERT_EQ(fm_meter_create_counter_u64(e.meter, "c", 1, nullptr, &c), FM_STATUS_OK);
      const int n = limit == 0 ? 3000 : 10;
      fm_counter_u64_add(c, 1, nullptr, 0);
      for (int i = 0; i < n; ++i) {
        fm_attribute a[] = {I("id", i)};
        fm_counter_u64_add(c, 1, a, 1);
        fm_bound_counter_u64* b = nullptr;
        ASSERT_EQ(fm_counter_u64_bind(c, a, 1, &b), FM_STATUS_OK);
        fm_bound_counter_u64_add(b, 1);
        fm_bound_counter_u64_release(b);
      }
      Snap s(e.Collect());
      const size_t expected_points = limit == 0 ? 2000 : limit;
      EXPECT_EQ(fm_metric_point_count(s.Metric("c")), expected_points);
      EXPECT_EQ(SumOfPoints(s.Metric("c")), 1u + 2u * static_cast<uint64_t>(n));
      fm_counter_u64_release(c);
      fm_view_release(view);
    }
  }
}

TEST(BadInput, PushgatewayOptionsRefuseWhatCannotBeSent) {
  fm_pushgateway_options* o = nullptr;
  ASSERT_EQ(fm_pushgateway_options_new("http://127.0.0.1:9091", 21, "job", 3, &o), FM_STATUS_OK);
  EXPECT_EQ(fm_pushgateway_options_set_basic_auth(o, "us:er", 5, "pw", 2), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_NE(std::string(fm_last_error_message()).find(':'), std::string::npos) << fm_last_error_message();
  EXPECT_EQ(fm_pushgateway_options_set_basic_auth(o, "user", 4, "p:w", 3), FM_STATUS_OK);
  const std::string crlf = "a\r\nInjected: yes";
  EXPECT_EQ(fm_pushgateway_options_add_header(o, "X-Token", 7, crlf.data(), crlf.size()), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_pushgateway_options_add_header(o, "X-Token", 7, "a\nb", 3), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_pushgateway_options_add_header(o, "X-Token", 7, "a\rb", 3), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_pushgateway_options_add_header(o, "X Token", 7, "v", 1), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_pushgateway_options_add_header(o, "X-Token", 7, "a\tb", 3), FM_STATUS_OK);
  fm_exporter* ex = nullptr;
  EXPECT_EQ(fm_pushgateway_exporter_new(o, &ex), FM_STATUS_OK) << fm_last_error_message();
  fm_exporter_release(ex);
  fm_pushgateway_options_release(o);
}

namespace {

bool ProduceOneSeriesTwice(fm_producer_batch* batch, void*) {
  fm_produced_metric m{};
  m.name = fm_str{"host.queue.depth", 16};
  m.description = fm_str{"Requests waiting in a host queue.", 33};
  m.kind = FM_PRODUCED_GAUGE;
  const uint64_t t = fm_producer_batch_collection_time(batch);
  fm_attribute io[] = {S("queue", "io")};
  fm_attribute net[] = {S("queue", "net")};
  fm_number_value v{};
  v.i64 = 7;
  EXPECT_EQ(fm_producer_batch_add_number(batch, &m, io, 1, FM_NUMBER_I64, v, t - 2000000, 0), FM_STATUS_OK);
  v.i64 = 9;
  EXPECT_EQ(fm_producer_batch_add_number(batch, &m, io, 1, FM_NUMBER_I64, v, t - 1000000, 0), FM_STATUS_OK);
  v.i64 = 1;
  EXPECT_EQ(fm_producer_batch_add_number(batch, &m, net, 1, FM_NUMBER_I64, v, t - 1000000, 0), FM_STATUS_OK);
  return true;
}

struct Messages {
  std::mutex mu;
  std::vector<std::string> warnings;
};

void Capture(fm_level level, const char* msg, size_t len, void* ud) {
  auto* m = static_cast<Messages*>(ud);
  std::lock_guard<std::mutex> g(m->mu);
  if (level == FM_LEVEL_WARN) m->warnings.emplace_back(msg, len);
}

}  // namespace

TEST(BadInput, ProducerSeriesAtTwoTimestampsIsExposedOnceAndCounted) {
  Env e;
  fm_producer_registration* reg = nullptr;
  ASSERT_EQ(fm_provider_register_producer(e.provider, "host", 4, nullptr, 0, ProduceOneSeriesTwice, nullptr, &reg),
            FM_STATUS_OK);
  fm_prometheus_server* server = nullptr;
  ASSERT_EQ(fm_prometheus_server_start(e.provider, "127.0.0.1:0", 11, nullptr, &server), FM_STATUS_OK);
  const std::string text = ScrapeBody(fm_prometheus_server_port(server));
  std::vector<std::string> io = LinesStartingWith(text, "host_queue_depth{queue=\"io\"");
  ASSERT_EQ(io.size(), 1u) << text;
  EXPECT_EQ(io[0].substr(io[0].find("} ") + 2, 2), "7 ") << "the first one added wins: " << io[0];
  EXPECT_EQ(LinesStartingWith(text, "host_queue_depth{queue=\"net\"").size(), 1u) << text;
  EXPECT_EQ(e.Rejected().exposition_conflicts, 1u);
  EXPECT_TRUE(PromtoolAccepts(text)) << text;
  fm_prometheus_server_release(server);
  fm_producer_registration_release(reg);
}

TEST(BadInput, SameNameDifferentBucketAdviceIsVisible) {
  Messages msgs;
  fm_diagnostics_set_handler(Capture, &msgs);
  Env e;
  double b1[] = {1, 2}, b2[] = {10, 20, 30};
  fm_instrument_options o1{}, o2{};
  o1.description = fm_str{"First.", 6};
  o1.boundaries = b1;
  o1.boundaries_len = 2;
  o2.description = fm_str{"First.", 6};
  o2.boundaries = b2;
  o2.boundaries_len = 3;
  fm_histogram_f64 *first = nullptr, *second = nullptr;
  ASSERT_EQ(fm_meter_create_histogram_f64(e.meter, "latency", 7, &o1, &first), FM_STATUS_OK);
  ASSERT_EQ(fm_meter_create_histogram_f64(e.meter, "latency", 7, &o2, &second), FM_STATUS_OK);
  {
    std::lock_guard<std::mutex> g(msgs.mu);
    ASSERT_EQ(msgs.warnings.size(), 1u);
    const std::string& w = msgs.warnings[0];
    EXPECT_NE(w.find("\"latency\""), std::string::npos) << w;
    EXPECT_NE(w.find("bucket boundaries"), std::string::npos) << w;
    EXPECT_NE(w.find("first registered instrument wins"), std::string::npos) << w;
  }
  fm_histogram_f64_record(first, 1.5, nullptr, 0);
  fm_histogram_f64_record(second, 15, nullptr, 0);
  fm_prometheus_server* server = nullptr;
  ASSERT_EQ(fm_prometheus_server_start(e.provider, "127.0.0.1:0", 11, nullptr, &server), FM_STATUS_OK);
  const std::string text = ScrapeBody(fm_prometheus_server_port(server));
  // One sample per series: the first instrument's buckets only.
  std::vector<std::string> counts = LinesStartingWith(text, "latency_count");
  ASSERT_EQ(counts.size(), 1u) << text;
  EXPECT_EQ(LinesStartingWith(text, "latency_bucket{", "le=\"2\"").size(), 1u) << text;
  EXPECT_EQ(LinesStartingWith(text, "latency_bucket{", "le=\"20\"").size(), 0u) << text;
  EXPECT_EQ(e.Rejected().exposition_conflicts, 1u);
  EXPECT_TRUE(PromtoolAccepts(text)) << text;
  fm_prometheus_server_release(server);
  fm_histogram_f64_release(first);
  fm_histogram_f64_release(second);
  fm_diagnostics_set_silent();
}
