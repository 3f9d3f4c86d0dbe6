// The host of the inventory library, written the opentelemetry-cpp way on
// ferrometer: it configures an SDK provider with a reader, installs it as
// the global provider, and cleans up at exit. The library created its
// instruments before that; they record from the set on.
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>

#include "ferrometer.hpp"  // was: the SDK's meter_provider_factory.h, provider.h and an exporter's headers
#include "inventory.h"

namespace metrics_api = ferrometer;  // was: opentelemetry::metrics
namespace metrics_sdk = ferrometer;  // was: opentelemetry::sdk::metrics

int main() {
  // The library initializes first, as a static initializer or a plugin would.
  inventory::InitMetrics();
  inventory::Reserve("apple", "eu", 1);  // before any provider: not recorded

  // was: an exporter + PeriodicExportingMetricReaderFactory::Create(...),
  //      MeterProviderFactory::Create(), provider->AddMetricReader(reader)
  metrics_sdk::ManualReader reader;
  auto provider = metrics_sdk::MeterProvider::Builder().AddReader(reader).SetServiceName("inventory-host").Build();
  metrics_api::Provider::SetMeterProvider(provider);  // was: SetMeterProvider(shared_ptr<MeterProvider>(provider))

  inventory::Reserve("apple", "eu", 3);
  inventory::Reserve("apple", "us", 2);
  inventory::Reserve("pear", "eu", 9);  // short: not reserved

  auto snapshot = reader.Collect();
  std::fputs(metrics_sdk::EncodePrometheus(snapshot).c_str(), stdout);

  // The values the library's instruments reported through the provider
  // the host set after they were created.
  auto reserved = snapshot.Find("inventory.reserved");
  auto on_hand = snapshot.Find("inventory.on_hand");
  auto latency = snapshot.Find("inventory.reserve.duration");
  auto value = [](const std::optional<metrics_sdk::Metric>& m, metrics_sdk::Attributes attrs) -> int64_t {
    auto p = m ? m->FindNumberPoint(attrs) : std::nullopt;
    return p ? p->AsInt64() : -1;  // -1: no such point
  };
  auto count = [](const std::optional<metrics_sdk::Metric>& m, metrics_sdk::Attributes attrs) -> int64_t {
    auto p = m ? m->FindHistogramPoint(attrs) : std::nullopt;
    return p ? static_cast<int64_t>(p->Count()) : -1;
  };
  bool ok = value(reserved, {{"sku", "apple"}, {"region", "eu"}}) == 3 &&
            value(reserved, {{"sku", "apple"}, {"region", "us"}}) == 2 &&
            value(reserved, {{"sku", "pear"}}) == -1 &&
            value(on_hand, {{"sku", "apple"}}) == 4 &&  // 10 - 1 - 3 - 2
            value(on_hand, {{"sku", "pear"}}) == 4 &&
            count(latency, {{"outcome", "reserved"}}) == 2 && count(latency, {{"outcome", "short"}}) == 1;

  // was: std::shared_ptr<metrics_api::MeterProvider> none; SetMeterProvider(none);
  inventory::CleanupMetrics();
  metrics_api::Provider::SetMeterProvider(nullptr);
  auto flushed = provider.Shutdown();
  ok = ok && flushed.ok();
  std::printf("%s\n", ok ? "OTEL_STYLE_EXAMPLE_OK" : "OTEL_STYLE_EXAMPLE_FAILED");
  return ok ? 0 : 1;
}
