// A small library instrumented the opentelemetry-cpp way: it asks the
// global provider for its meter and never sees the SDK. Ported from
// opentelemetry-cpp by changing includes and names only (each changed
// line says what it was). See docs/migrating-from-opentelemetry-cpp.md.
#pragma once

#include <cstdint>
#include <string>

namespace inventory {

/// Creates the library's instruments (a host may call it before it has
/// configured metrics, or never configure them).
void InitMetrics();
/// Reserves `quantity` of `sku` for a customer in `region`; returns false
/// when the stock is short.
bool Reserve(const std::string& sku, const std::string& region, int64_t quantity);
/// Unregisters the library's callbacks.
void CleanupMetrics();

}  // namespace inventory
