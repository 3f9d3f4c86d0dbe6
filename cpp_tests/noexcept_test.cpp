// Built with -fno-exceptions -Werror (issue 15): every header compiles
// without exceptions, and a host uses the Try* forms, views, both reader
// kinds, the exporters' headers and the Prometheus server. No GoogleTest:
// a plain program whose exit status is the verdict.
#include "ferrometer.hpp"
#include "ferrometer_exporters.hpp"
#include "ferrometer_otlp.hpp"
#include "ferrometer_remote_write.hpp"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <thread>

#if defined(__cpp_exceptions)
#error "this test must be compiled without exceptions"
#endif

namespace fm = ferrometer;

static int failures = 0;
#define CHECK(cond)                                                  \
  do {                                                               \
    if (!(cond)) {                                                   \
      std::fprintf(stderr, "%s:%d: CHECK(%s)\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                    \
    }                                                                \
  } while (0)

int main() {
  auto reader = fm::ManualReader::TryCreate();
  CHECK(reader.ok());
  auto view = fm::ViewBuilder().InstrumentName("frame.ms").Base2ExponentialHistogram().TryBuild();
  CHECK(view.ok());
  // A setter's failure is kept for TryBuild (no exception, no abort).
  auto bad_view = fm::ViewBuilder().InstrumentName("x").Base2ExponentialHistogram(1).TryBuild();
  CHECK(!bad_view.ok());
  CHECK(bad_view.status() == FM_STATUS_INVALID_ARGUMENT);
  CHECK(!bad_view.message().empty());

  auto built = fm::MeterProvider::Builder().AddReader(*reader).AddView(*view).TryBuild();
  CHECK(built.ok());
  if (!built.ok()) return 1;
  fm::MeterProvider& provider = *built;

  // A periodic reader through the exporters' header.
  std::atomic<int> exports{0};
  auto exporter = fm::Exporter::Snapshots([&exports](const fm::SnapshotView& s) {
    if (s.Find("ticks")) exports.fetch_add(1);
    return true;
  });
  CHECK(fm::TryAddPeriodicReader(provider, exporter, std::chrono::milliseconds(50)) == FM_STATUS_OK);

  auto meter = provider.TryGetMeter("noexcept");
  CHECK(meter.ok());
  if (!meter.ok()) return 1;
  auto ticks = meter->TryCreateUInt64Counter("ticks");
  auto dbl = meter->TryCreateDoubleCounter("energy");
  auto online = meter->TryCreateInt64UpDownCounter("online");
  auto balance = meter->TryCreateDoubleUpDownCounter("balance");
  auto sizes = meter->TryCreateUInt64Histogram("sizes");
  auto frame = meter->TryCreateDoubleHistogram("frame.ms");
  auto temp = meter->TryCreateInt64Gauge("temp");
  auto load = meter->TryCreateDoubleGauge("load");
  auto obs_c = meter->TryCreateUInt64ObservableCounter("obs.c");
  auto obs_u = meter->TryCreateInt64ObservableUpDownCounter("obs.u");
  auto obs_g = meter->TryCreateDoubleObservableGauge("obs.g");
  CHECK(ticks.ok() && dbl.ok() && online.ok() && balance.ok() && sizes.ok() && frame.ok() && temp.ok() &&
        load.ok() && obs_c.ok() && obs_u.ok() && obs_g.ok());
  // An invalid name is a Result, not an abort.
  auto bad = meter->TryCreateUInt64Counter("");
  CHECK(!bad.ok());

  ticks->Add(3, {{"map", "harbor"}});
  dbl->Add(1.5);
  online->Add(-2);
  balance->Add(-0.5);
  sizes->Record(1500);
  frame->Record(16.6);
  temp->Record(21);
  load->Record(0.75);
  obs_c->AddCallback([](auto& o) { o.Observe(7); });
  obs_u->AddCallback([](auto& o) { o.Observe(-1); });
  obs_g->AddCallback([](auto& o) { o.Observe(0.5); });
  auto bound = ticks->TryBind({{"map", "desert"}});
  CHECK(bound.ok());
  bound->Add(2);

  auto snap = reader->TryCollect();
  CHECK(snap.ok());
  if (snap.ok()) {
    CHECK(snap->Find("ticks") && snap->Find("ticks")->PointCount() == 2);
    CHECK(snap->Find("frame.ms") && snap->Find("frame.ms")->Type() == FM_METRIC_TYPE_EXPONENTIAL_HISTOGRAM);
    CHECK(snap->Find("obs.c") && snap->Find("obs.c")->FindNumberPoint()->AsUInt64() == 7u);
    CHECK(snap->Find("obs.g"));
  }

  // The remote-write exporter: a bad URL is a result, not an abort.
  fm::RemoteWriteOptions rw;
  rw.url = "ftp://127.0.0.1:1/api/v1/write";
  CHECK(!fm::TryMakeRemoteWriteExporter(rw).ok());
  rw.url = "http://127.0.0.1:1/api/v1/write";
  CHECK(fm::TryMakeRemoteWriteExporter(rw).ok());

  // The Prometheus server.
  auto server = fm::PrometheusServer::TryStart(provider, "127.0.0.1:0");
  CHECK(server.ok());
  if (server.ok()) CHECK(server->Port() != 0);

  for (int i = 0; i < 100 && exports.load() == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  CHECK(exports.load() > 0);

  fm::FlushResult shut = provider.Shutdown(std::chrono::seconds(2));
  CHECK(shut);
  if (failures == 0) std::printf("noexcept: all checks passed\n");
  return failures == 0 ? 0 : 1;
}
