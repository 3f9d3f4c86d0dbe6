// The host of the instrumented library: it serves traffic before it has
// configured metrics (those measurements are no-ops), then builds a
// provider with a reader and sets it as the global one. The library's
// early instruments' later measurements must reach the reader.
#include <cstdio>
#include <string_view>

#include "ferrometer.hpp"
#include "instrumented.hpp"

namespace fm = ferrometer;

static int failures = 0;

#define CHECK_EQ(a, b)                                                                        \
  do {                                                                                        \
    auto va = (a);                                                                            \
    auto vb = (b);                                                                            \
    if (!(va == vb)) {                                                                        \
      std::fprintf(stderr, "%s:%d: %s != %s\n", __FILE__, __LINE__, #a, #b);                  \
      ++failures;                                                                             \
    }                                                                                         \
  } while (0)

int main() {
  // Before any provider: the library records into nothing.
  checkout::ServeOrder("eu", 10.0);
  checkout::ServeOrder("us", 20.0);
  payments_record(500);
  CHECK_EQ(fm::Provider::HasMeterProvider(), false);

  fm::ManualReader reader;
  fm::MeterProvider provider = fm::MeterProvider::Builder().AddReader(reader).SetServiceName("shop").Build();
  fm::Provider::SetMeterProvider(provider);

  checkout::ServeOrder("eu", 30.0);
  checkout::ServeOrder("eu", 12.5);
  checkout::ServeOrder("us", 7.0);
  payments_record(250);
  payments_record(100);

  auto s = reader.Collect();
  auto orders = s.Find("checkout.orders");
  if (!orders) {
    std::fprintf(stderr, "checkout.orders missing\n");
    return 1;
  }
  CHECK_EQ(orders->FindNumberPoint({{"region", "eu"}})->AsUInt64(), 2u);
  CHECK_EQ(orders->FindNumberPoint({{"region", "us"}})->AsUInt64(), 1u);
  auto value = s.Find("checkout.order.value")->FindHistogramPoint({{"region", "eu"}});
  CHECK_EQ(value->Count(), 2u);
  CHECK_EQ(value->Sum(), 42.5);
  // The observable reports the library's own total (5 orders, all served).
  CHECK_EQ(s.Find("checkout.orders.served")->FindNumberPoint({{"source", "callback"}})->AsInt64(), 5);
  CHECK_EQ(s.Find("payments.cents")->FindNumberPoint({{"currency", "EUR"}})->AsUInt64(), 350u);

  fm::Provider::SetMeterProvider(nullptr);
  auto flushed = provider.Shutdown();
  CHECK_EQ(flushed.ok(), true);
  if (failures == 0) std::printf("GLOBAL_PROVIDER_HOST_OK\n");
  return failures == 0 ? 0 : 1;
}
