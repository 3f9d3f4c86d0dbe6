// Views added to a built provider (AddView / fm_provider_add_view), the
// meter schema URL selector, and scope attributes on GetMeter, from C++
// and from C.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "ferrometer.hpp"
#include "test_util.hpp"

namespace fm = ferrometer;
using fmtest::S;
using fmtest::Str;

namespace {

struct Fixture {
  fm::ManualReader reader;
  fm::MeterProvider provider{fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build()};
};

fm::View Rename(const std::string& from, const std::string& to) {
  return fm::ViewBuilder().InstrumentName(from).StreamName(to).Build();
}

uint64_t Total(const fm::Snapshot& s, std::string_view name) {
  auto m = s.Find(name);
  if (!m) return 0;
  uint64_t sum = 0;
  for (size_t i = 0; i < m->PointCount(); ++i) sum += m->NumberPointAt(i).AsUInt64();
  return sum;
}

// The snapshot as OTLP JSON, as an exporter would send it.
std::string OtlpJson(const fm_snapshot* s) {
  size_t n = 0;
  EXPECT_EQ(fm_otlp_encode(s, FM_OTLP_ENCODING_JSON, nullptr, 0, &n), FM_STATUS_OK);
  std::string out(n, '\0');
  EXPECT_EQ(fm_otlp_encode(s, FM_OTLP_ENCODING_JSON, out.data(), out.size(), &n), FM_STATUS_OK);
  out.resize(n);
  return out;
}

size_t ScopesNamed(const fm_snapshot* s, std::string_view name) {
  size_t n = 0;
  for (size_t i = 0; i < fm_snapshot_scope_count(s); ++i) {
    n += Str(fm_scope_metrics_name(fm_snapshot_scope(s, i))) == name;
  }
  return n;
}

}  // namespace

TEST(LateViews, AddViewShapesInstrumentsCreatedAfterIt) {
  Fixture f;
  auto meter = f.provider.GetMeter("m");
  auto before = meter.CreateUInt64Counter("before");
  f.provider.AddView(Rename("before", "before.renamed"));
  f.provider.AddView(Rename("after", "after.renamed"));
  f.provider.AddView(fm::ViewBuilder().InstrumentName("hist").ExplicitBucketHistogram({10.0}).Build());
  auto after = meter.CreateUInt64Counter("after");
  auto hist = meter.CreateDoubleHistogram("hist");
  // Creating the existing instrument again returns it, unchanged.
  auto before_again = meter.CreateUInt64Counter("before");
  before.Add(2);
  before_again.Add(3);
  after.Add(4);
  hist.Record(1.0);
  hist.Record(20.0);
  auto s = f.reader.Collect();
  EXPECT_EQ(Total(s, "before"), 5u);
  EXPECT_FALSE(s.Find("before.renamed"));
  EXPECT_EQ(Total(s, "after.renamed"), 4u);
  EXPECT_FALSE(s.Find("after"));
  auto h = s.Find("hist");
  ASSERT_TRUE(h);
  auto hp = h->FindHistogramPoint();
  ASSERT_TRUE(hp);
  EXPECT_EQ(hp->Bounds(), std::vector<double>{10.0});  // the view's, not the default boundaries
  EXPECT_EQ(hp->BucketCounts(), (std::vector<uint64_t>{1, 1}));
}

// One thread adds views while this one creates the instruments they
// select: an instrument created after its view's AddView returned has the
// view, and every instrument has exactly one stream.
TEST(LateViews, AddViewWhileAnotherThreadCreatesInstruments) {
  constexpr int kN = 200;
  Fixture f;
  std::atomic<int> added{0};
  std::thread adder([&] {
    for (int i = 0; i < kN; ++i) {
      f.provider.AddView(Rename("c" + std::to_string(i), "v" + std::to_string(i)));
      added.store(i + 1, std::memory_order_release);
    }
  });
  auto meter = f.provider.GetMeter("m");
  std::vector<bool> known_added;
  for (int i = 0; i < kN; ++i) {
    known_added.push_back(added.load(std::memory_order_acquire) > i);
    meter.CreateUInt64Counter("c" + std::to_string(i)).Add(static_cast<uint64_t>(i) + 1);
  }
  adder.join();
  auto s = f.reader.Collect();
  for (int i = 0; i < kN; ++i) {
    std::string orig = "c" + std::to_string(i), view = "v" + std::to_string(i);
    bool has_orig = s.Find(orig).has_value(), has_view = s.Find(view).has_value();
    EXPECT_NE(has_orig, has_view) << orig;
    if (known_added[static_cast<size_t>(i)]) {
      EXPECT_TRUE(has_view) << orig << " created after its view";
    }
    EXPECT_EQ(Total(s, has_view ? view : orig), static_cast<uint64_t>(i) + 1) << orig;
  }
  // Once the adder is done, every creation sees every view.
  auto later = f.provider.GetMeter("later");
  for (int i = 0; i < kN; ++i) later.CreateUInt64Counter("c" + std::to_string(i)).Add(1);
  auto s2 = f.reader.Collect();
  for (size_t i = 0; i < fm_snapshot_scope_count(s2.get()); ++i) {
    const fm_scope_metrics* sc = fm_snapshot_scope(s2.get(), i);
    if (Str(fm_scope_metrics_name(sc)) != "later") continue;
    ASSERT_EQ(fm_scope_metrics_metric_count(sc), static_cast<size_t>(kN));
    for (size_t j = 0; j < fm_scope_metrics_metric_count(sc); ++j) {
      EXPECT_EQ(Str(fm_metric_name(fm_scope_metrics_metric(sc, j)))[0], 'v');
    }
  }
}

TEST(LateViews, SchemaUrlSelector) {
  Fixture f;
  const std::string v126 = "https://opentelemetry.io/schemas/1.26.0";
  f.provider.AddView(fm::ViewBuilder().MeterSchemaUrl(v126).Aggregation(FM_AGGREGATION_DROP).Build());
  f.provider.AddView(fm::ViewBuilder().MeterSchemaUrl("").InstrumentName("plain").StreamName("plain.no_schema").Build());
  f.provider.GetMeter("lib", "1", v126).CreateUInt64Counter("dropped").Add(1);
  f.provider.GetMeter("lib", "1", "https://opentelemetry.io/schemas/1.27.0").CreateUInt64Counter("kept").Add(2);
  f.provider.GetMeter("lib", "1").CreateUInt64Counter("plain").Add(3);
  auto s = f.reader.Collect();
  EXPECT_FALSE(s.Find("dropped"));
  EXPECT_EQ(Total(s, "kept"), 2u);
  EXPECT_EQ(Total(s, "plain.no_schema"), 3u);
}

TEST(LateViews, ScopeAttributesOnGetMeter) {
  Fixture f;
  auto a = f.provider.GetMeter("lib", "1.0", "", {{"shard", "eu-1"}, {"tier", 2}});
  // Same attributes in another order: the same meter (shared instrument).
  auto a2 = f.provider.GetMeter("lib", "1.0", "", std::vector<fm::Attribute>{{"tier", 2}, {"shard", "eu-1"}});
  // Other attributes, or none: other meters.
  auto b = f.provider.GetMeter("lib", "1.0", "", {{"shard", "us-1"}});
  auto plain = f.provider.GetMeter("lib", "1.0");
  a.CreateUInt64Counter("hits").Add(1);
  a2.CreateUInt64Counter("hits").Add(2);
  b.CreateUInt64Counter("hits").Add(10);
  plain.CreateUInt64Counter("hits").Add(100);
  auto s = f.reader.Collect();
  EXPECT_EQ(ScopesNamed(s.get(), "lib"), 3u);
  std::string json = OtlpJson(s.get());
  EXPECT_NE(json.find(R"({"key":"shard","value":{"stringValue":"eu-1"}})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"key":"tier","value":{"intValue":"2"}})"), std::string::npos) << json;
  EXPECT_NE(json.find(R"({"key":"shard","value":{"stringValue":"us-1"}})"), std::string::npos) << json;
  // The shared meter's instrument got 1 + 2.
  EXPECT_NE(json.find(R"("asInt":"3")"), std::string::npos) << json;

  auto bad = f.provider.TryGetMeter("lib", "", "", {{"", "empty key"}});
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.status(), FM_STATUS_INVALID_ATTRIBUTES);
}

TEST(LateViewsC, AddViewSchemaUrlAndScopeAttributes) {
  fmtest::Env env;
  fm_view_builder* vb = nullptr;
  fm_view* view = nullptr;
  ASSERT_EQ(fm_view_builder_new(&vb), FM_STATUS_OK);
  const char* url = "https://example.com/schema/2";
  ASSERT_EQ(fm_view_builder_set_meter_schema_url(vb, url, std::strlen(url)), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_set_stream_name(vb, "x", 1), FM_STATUS_OK);
  // A rename needs an exact name criterion.
  EXPECT_EQ(fm_view_builder_build(vb, &view), FM_STATUS_INVALID_VIEW);
  ASSERT_EQ(fm_view_builder_set_instrument_name(vb, "req", 3), FM_STATUS_OK);
  ASSERT_EQ(fm_view_builder_build(vb, &view), FM_STATUS_OK);
  fm_view_builder_release(vb);

  EXPECT_EQ(fm_provider_add_view(nullptr, view), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_provider_add_view(env.provider, nullptr), FM_STATUS_INVALID_ARGUMENT);
  // An instrument of the selected scope created before the view: unchanged.
  fm_meter* scoped = nullptr;
  fm_attribute attrs[] = {S("region", "eu")};
  ASSERT_EQ(fm_provider_get_meter_with_attributes(env.provider, "svc", 3, nullptr, 0, url, std::strlen(url), attrs, 1,
                                                  &scoped),
            FM_STATUS_OK);
  fm_counter_u64* early = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(scoped, "early", 5, nullptr, &early), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_add_view(env.provider, view), FM_STATUS_OK);
  fm_view_release(view);  // the provider keeps its copy

  fm_counter_u64* req = nullptr;
  fm_counter_u64* other = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(scoped, "req", 3, nullptr, &req), FM_STATUS_OK);
  // Same name in a meter without the schema URL: not selected.
  ASSERT_EQ(fm_meter_create_counter_u64(env.meter, "req", 3, nullptr, &other), FM_STATUS_OK);
  fm_counter_u64_add(early, 1, nullptr, 0);
  fm_counter_u64_add(req, 2, nullptr, 0);
  fm_counter_u64_add(other, 3, nullptr, 0);

  // Bad scope attributes are refused.
  fm_meter* bad = nullptr;
  fm_attribute empty_key[] = {S("", "v")};
  EXPECT_EQ(fm_provider_get_meter_with_attributes(env.provider, "svc", 3, nullptr, 0, nullptr, 0, empty_key, 1, &bad),
            FM_STATUS_INVALID_ATTRIBUTES);
  EXPECT_EQ(bad, nullptr);

  fmtest::Snap s(env.Collect());
  ASSERT_NE(s.Metric("x"), nullptr);
  EXPECT_EQ(fm_number_point_as_u64(fmtest::FindPoint(s.Metric("x"))), 2u);
  ASSERT_NE(s.Metric("req"), nullptr);
  EXPECT_EQ(fm_number_point_as_u64(fmtest::FindPoint(s.Metric("req"))), 3u);
  ASSERT_NE(s.Metric("early"), nullptr);
  std::string json = OtlpJson(s.s);
  EXPECT_NE(json.find(R"({"key":"region","value":{"stringValue":"eu"}})"), std::string::npos) << json;

  fm_counter_u64_release(early);
  fm_counter_u64_release(req);
  fm_counter_u64_release(other);
  fm_meter_release(scoped);
}
