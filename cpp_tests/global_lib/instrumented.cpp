#include "instrumented.hpp"

#include <atomic>
#include <map>
#include <string>

#include "ferrometer.hpp"

namespace checkout {
namespace {

std::atomic<int64_t> served{0};

// Created during static initialization, long before the host's main()
// builds a provider.
struct Instruments {
  std::shared_ptr<ferrometer::GlobalMeter> meter =
      ferrometer::Provider::GetMeterProvider()->GetMeter("checkout", "1.4.0");
  std::unique_ptr<ferrometer::GlobalCounter<uint64_t>> orders =
      meter->CreateUInt64Counter("checkout.orders", "Orders served", "{order}");
  std::unique_ptr<ferrometer::GlobalHistogram<double>> value =
      meter->CreateDoubleHistogram("checkout.order.value", "Order value", "EUR");
  std::shared_ptr<ferrometer::GlobalObservableCounter<int64_t>> served_total =
      meter->CreateInt64ObservableCounter("checkout.orders.served");

  Instruments() {
    served_total->AddCallback(
        [](ferrometer::ObserverResult r, void*) { r.Observe(served.load(), {{"source", "callback"}}); }, nullptr);
  }
};

Instruments& Get() {
  static Instruments instruments;
  return instruments;
}
const Instruments& early = Get();

}  // namespace

void ServeOrder(const char* region, double value) {
  std::map<std::string, std::string> attrs{{"region", region}};
  Get().orders->Add(1, attrs);
  Get().value->Record(value, {{"region", region}});
  served.fetch_add(1);
}

int64_t OrdersServed() { return served.load(); }

}  // namespace checkout
