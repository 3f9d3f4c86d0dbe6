#include "inventory.h"

#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>

#include "ferrometer.hpp"  // was: "opentelemetry/metrics/provider.h"

namespace metrics_api = ferrometer;  // was: opentelemetry::metrics

namespace inventory {
namespace {

std::mutex stock_mu;
std::map<std::string, int64_t> stock{{"apple", 10}, {"pear", 4}};

// Held as opentelemetry-cpp returns them: unique_ptr for synchronous
// instruments, shared_ptr for observables.
std::unique_ptr<metrics_api::GlobalCounter<uint64_t>> reserved;  // was: metrics_api::Counter<uint64_t>
std::unique_ptr<metrics_api::GlobalHistogram<double>> latency;   // was: metrics_api::Histogram<double>
std::shared_ptr<metrics_api::GlobalObservableGauge<int64_t>> on_hand;  // was: metrics_api::ObservableInstrument

// One callback type for every observable kind, as in opentelemetry-cpp.
void ObserveStock(metrics_api::ObserverResult result, void* state) {
  auto* items = static_cast<std::map<std::string, int64_t>*>(state);
  std::lock_guard<std::mutex> lock(stock_mu);
  for (const auto& [sku, count] : *items) {
    // was: nostd::get<nostd::shared_ptr<metrics_api::ObserverResultT<int64_t>>>(result)->Observe(...)
    result.Observe(count, std::map<std::string, std::string>{{"sku", sku}});
  }
}

}  // namespace

void InitMetrics() {
  auto provider = metrics_api::Provider::GetMeterProvider();
  auto meter = provider->GetMeter("inventory", "1.2.0");
  reserved = meter->CreateUInt64Counter("inventory.reserved", "Items reserved", "{item}");
  latency = meter->CreateDoubleHistogram("inventory.reserve.duration", "Time to reserve", "ms");
  on_hand = meter->CreateInt64ObservableGauge("inventory.on_hand", "Items in stock", "{item}");
  on_hand->AddCallback(ObserveStock, &stock);
}

bool Reserve(const std::string& sku, const std::string& region, int64_t quantity) {
  auto start = std::chrono::steady_clock::now();
  bool ok = false;
  {
    std::lock_guard<std::mutex> lock(stock_mu);
    auto it = stock.find(sku);
    if (it != stock.end() && it->second >= quantity) {
      it->second -= quantity;
      ok = true;
    }
  }
  std::map<std::string, std::string> attributes{{"sku", sku}, {"region", region}};
  if (ok) reserved->Add(static_cast<uint64_t>(quantity), attributes);
  std::chrono::duration<double, std::milli> took = std::chrono::steady_clock::now() - start;
  latency->Record(took.count(), {{"outcome", ok ? "reserved" : "short"}});
  return ok;
}

void CleanupMetrics() { on_hand->RemoveCallback(ObserveStock, &stock); }

}  // namespace inventory
