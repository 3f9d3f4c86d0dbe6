// Built with -fno-exceptions: a throwing form that fails prints the
// library's message and aborts (ctest expects the message, and fails on
// "NOT ABORTED").
#include "ferrometer.hpp"

#include <cstdio>

int main() {
  ferrometer::ManualReader reader;
  ferrometer::MeterProvider provider = ferrometer::MeterProvider::Builder().AddReader(reader).Build();
  ferrometer::Meter meter = provider.GetMeter("m");
  (void)meter.CreateUInt64Counter("");  // invalid name: aborts
  std::printf("NOT ABORTED\n");
  return 0;
}
