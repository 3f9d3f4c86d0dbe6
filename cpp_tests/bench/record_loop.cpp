// Calls one recording function in a loop, for instruction counts per call
// with callgrind (load-independent, unlike timings on a shared machine):
//   record_loop MODE N
// MODE: 0 counter add with 3 string attributes, 1 the same unsorted,
// 2 bound add, 3 prepared attribute set, 4 no attributes, 5 3 string
// attributes whose values sit at a different address on every call (as
// strings built per request do), so no per-thread hash memo entry is reused,
// 6 the mode-0 attributes marked FM_VALUE_STATIC (kept and compared by
// pointer), 7 the mode-0 add on a counter of the global provider while no
// provider is set (the no-op), 8 the same once the provider is set.
// scripts/instructions-per-call.sh runs it at two N and prints the
// difference per call; docs/cpp-benchmarks.md has the numbers.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "../attrs.hpp"
#include "ferrometer.h"

using fmtest::S;
using fmtest::Static;

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s MODE N\n", argv[0]);
    return 2;
  }
  const int mode = std::atoi(argv[1]);
  const long n = std::atol(argv[2]);
  fm_manual_reader* reader = nullptr;
  fm_provider* provider = nullptr;
  fm_meter* meter = nullptr;
  fm_counter_u64* c = nullptr;
  if (fm_manual_reader_new(FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &reader) != FM_STATUS_OK ||
      fm_provider_new(reader, &provider) != FM_STATUS_OK ||
      fm_provider_get_meter(provider, "bench", 5, nullptr, 0, nullptr, 0, &meter) != FM_STATUS_OK ||
      fm_meter_create_counter_u64(meter, "requests", 8, nullptr, &c) != FM_STATUS_OK) {
    std::fprintf(stderr, "setup failed: %s\n", fm_last_error_message());
    return 1;
  }
  const fm_attribute sorted[3] = {S("method", "GET"), S("route", "/api/v1/items"), S("status", "200")};
  const fm_attribute literal[3] = {Static(S("method", "GET")), Static(S("route", "/api/v1/items")),
                                   Static(S("status", "200"))};
  const fm_attribute unsorted[3] = {S("status", "200"), S("method", "GET"), S("route", "/api/v1/items")};
  // Mode 5: 4096 copies of the values, far more than the memo holds.
  constexpr long kCopies = 4096;
  static char copies[kCopies][3][16];
  fm_attribute moving[kCopies][3];
  for (long i = 0; i < kCopies; i++) {
    std::strcpy(copies[i][0], "GET");
    std::strcpy(copies[i][1], "/api/v1/items");
    std::strcpy(copies[i][2], "200");
    moving[i][0] = S("method", copies[i][0]);
    moving[i][1] = S("route", copies[i][1]);
    moving[i][2] = S("status", copies[i][2]);
  }
  fm_bound_counter_u64* bound = nullptr;
  fm_attribute_set* set = nullptr;
  if (mode == 2) fm_counter_u64_bind(c, sorted, 3, &bound);
  if (mode == 3) fm_attribute_set_new(sorted, 3, &set);
  fm_global_meter* global_meter = nullptr;
  fm_global_counter_u64* global = nullptr;
  if (mode == 7 || mode == 8) {
    if (fm_global_get_meter("bench", 5, nullptr, 0, nullptr, 0, &global_meter) != FM_STATUS_OK ||
        fm_global_meter_create_counter_u64(global_meter, "requests", 8, nullptr, &global) != FM_STATUS_OK) {
      std::fprintf(stderr, "global setup failed: %s\n", fm_last_error_message());
      return 1;
    }
    if (mode == 8) fm_global_set_meter_provider(provider);
  }
  // One loop per mode, so that the loop itself costs the same few
  // instructions in every mode.
  switch (mode) {
    case 0: for (long i = 0; i < n; i++) fm_counter_u64_add(c, 1, sorted, 3); break;
    case 1: for (long i = 0; i < n; i++) fm_counter_u64_add(c, 1, unsorted, 3); break;
    case 2: for (long i = 0; i < n; i++) fm_bound_counter_u64_add(bound, 1); break;
    case 3: for (long i = 0; i < n; i++) fm_counter_u64_add_prepared(c, 1, set); break;
    case 5: for (long i = 0; i < n; i++) fm_counter_u64_add(c, 1, moving[i % kCopies], 3); break;
    case 6: for (long i = 0; i < n; i++) fm_counter_u64_add(c, 1, literal, 3); break;
    case 7:
    case 8: for (long i = 0; i < n; i++) fm_global_counter_u64_add(global, 1, sorted, 3); break;
    default: for (long i = 0; i < n; i++) fm_counter_u64_add(c, 1, nullptr, 0); break;
  }
  fm_global_set_meter_provider(nullptr);
  fm_global_counter_u64_release(global);
  fm_global_meter_release(global_meter);
  fm_bound_counter_u64_release(bound);
  fm_attribute_set_release(set);
  fm_counter_u64_release(c);
  fm_meter_release(meter);
  fm_provider_shutdown(provider, 1000);
  fm_provider_release(provider);
  fm_manual_reader_release(reader);
  return 0;
}
