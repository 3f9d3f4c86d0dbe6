// A library instrumented against the global provider only: it never sees
// the SDK's configuration (the opentelemetry-cpp pattern). Built as a
// static library with -fno-exceptions.
#pragma once

#include <cstdint>

namespace checkout {

/// Serves one order: counts it and records its value.
void ServeOrder(const char* region, double value);
/// Orders served so far (what the library's observable reports).
int64_t OrdersServed();

}  // namespace checkout

extern "C" {
/// The C half of the library: counts one payment through the C API.
void payments_record(uint64_t cents);
}
