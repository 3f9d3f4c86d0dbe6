// Bad input never crashes: it gets a documented status, or (hot path) is
// dropped and counted, and nothing already recorded is lost.
#include <cmath>
#include <limits>
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

TEST(BadInput, EmptyKeyAndEmptyValuesAreValid) {
  WithCounter e;
  fm_attribute a[] = {S("", "")};
  fm_counter_u64_add(e.c, 1, a, 1);
  EXPECT_EQ(e.Rejected().invalid_attributes, 0u);
  Snap s(e.Collect());
  EXPECT_EQ(fm_metric_point_count(s.Metric("base")), 2u);
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
