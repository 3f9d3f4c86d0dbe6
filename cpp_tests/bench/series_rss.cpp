// Resident memory per 3-attribute uint64 counter series through the C++
// wrapper, the twin of examples/series_rss.rs (issue 19's table in
// BENCHMARKS.md):
//   ferrometer_series_rss [SERIES]        (default 100000)
// Records one add to each of SERIES distinct series {method, route,
// status}, every key and value passed as a std::string (so the library
// copies what it keeps), on a provider with one cumulative ManualReader,
// then prints VmRSS (after malloc_trim) less the VmRSS before recording,
// divided by SERIES: after recording, after one collection (its snapshot
// still held) and after releasing that snapshot.
#include <malloc.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include "ferrometer.hpp"

namespace {

// Resident bytes, after handing freed heap pages back to the system.
long RssBytes() {
  malloc_trim(0);
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6) * 1024;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const long series = argc > 1 ? std::atol(argv[1]) : 100000;
  if (argc > 2 || series <= 0) {
    std::fprintf(stderr, "usage: %s [SERIES]\n", argv[0]);
    return 2;
  }
  ferrometer::ManualReader reader;
  // The warm-up series and the overflow series besides SERIES.
  auto provider =
      ferrometer::MeterProvider::Builder().AddReader(reader).SetCardinalityLimit(static_cast<size_t>(series) + 2).Build();
  auto counter = provider.GetMeter("memory").CreateUInt64Counter("requests");
  const std::string methods[] = {"GET", "POST", "PUT", "DELETE"};
  const std::string statuses[] = {"200", "404", "500"};
  const std::string k_method = "method", k_route = "route", k_status = "status";
  // Warm up this thread's slot and the collection path.
  counter.Add(1, {{"warm", true}});
  reader.Collect();
  const long base = RssBytes();
  for (long i = 0; i < series; i++) {
    const std::string route = "/api/v1/items/" + std::to_string(i);
    counter.Add(1, {{k_method, methods[i % 4]}, {k_route, route}, {k_status, statuses[i % 3]}});
  }
  auto per = [&](long rss) { return static_cast<double>(rss - base) / static_cast<double>(series); };
  const long recorded = RssBytes();
  std::optional<ferrometer::Snapshot> out(reader.Collect());
  const auto m = out->Find("requests");
  if (!m || m->PointCount() != static_cast<size_t>(series) + 1) {
    std::fprintf(stderr, "expected %ld points\n", series + 1);
    return 1;
  }
  const long collected = RssBytes();
  out.reset();
  const long dropped = RssBytes();
  std::printf("c++ series=%ld base_kib=%ld bytes_per_series: recorded=%.0f collected=%.0f output_dropped=%.0f\n", series,
              base / 1024, per(recorded), per(collected), per(dropped));
  return 0;
}
