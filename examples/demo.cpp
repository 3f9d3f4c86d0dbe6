// ferrometer_demo: a small game-server loop instrumented with ferrometer
// through the C++ wrapper (include/ferrometer.hpp).
//
//   ferrometer_demo [--seconds N] [--listen HOST:PORT]
//
// Every tick (50 per second) the "server" updates its entities, lets
// players join and leave, raises game events and measures its frame time.
// Metrics:
//   game.ticks                   counter                 one per tick
//   game.entity.updates          bound counter (hot)     one add per entity per tick
//   game.events                  counter with attributes {event, region}
//   game.players.online          up-down counter         {region}
//   game.frame.duration          histogram (ms)          {map}
//   game.matchmaking.queue.depth observable gauge        read at each collection
//   process.memory.rss           observable gauge (By)   Linux /proc/self/statm
//
// The metrics are served as Prometheus text on http://127.0.0.1:9464/metrics
// (--listen HOST:PORT to change; port 0 picks a free port) and summarized
// on stdout once per second.
//
// It runs until SIGINT/SIGTERM or for --seconds N, then collects one last
// time, checks that the SDK's totals equal the loop's own counts, prints
// them, shuts the provider down (the push exporters' final export) and
// exits 0 (1 when the totals differ or the shutdown reports data points
// not delivered, 2 on a bad command line).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unistd.h>
#include <vector>

#include "ferrometer.hpp"
#include "ferrometer_remote_write.hpp"

namespace fm = ferrometer;
using Clock = std::chrono::steady_clock;

namespace {

// ------------------------------------------------------------ command line

struct Options {
  double seconds = 0;  // 0: until a signal
  std::string host = "127.0.0.1";
  uint16_t port = 9464;
  std::string pushgateway;  // --pushgateway URL
  std::string otlp_file;    // --otlp-file PATH
  std::string remote_write;  // --remote-write URL
};

void Usage(std::FILE* to) {
  std::fprintf(to,
               "usage: ferrometer_demo [--seconds N] [--listen HOST:PORT] [--pushgateway URL] [--otlp-file PATH]\n"
               "                       [--remote-write URL]\n"
               "  --seconds N         stop after N seconds (default: run until SIGINT/SIGTERM)\n"
               "  --listen HOST:PORT  serve /metrics there (default 127.0.0.1:9464; port 0: any free port)\n"
               "  --pushgateway URL   also push to a Prometheus Pushgateway every second (job ferrometer_demo)\n"
               "  --otlp-file PATH    also write OTLP/JSON lines to PATH every second\n"
               "  --remote-write URL  also push to a Prometheus Remote-Write receiver every second\n"
               "                      (e.g. http://127.0.0.1:9090/api/v1/write)\n"
               "environment: OTEL_METRICS_EXPORTER=otlp,console,... adds those exporters\n"
               "  (OTEL_EXPORTER_OTLP_* configure OTLP; the demo always serves Prometheus itself)\n");
}

bool ParseListen(std::string_view v, Options& o) {
  size_t colon = v.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == v.size()) return false;
  std::string host(v.substr(0, colon));
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  std::string port(v.substr(colon + 1));
  char* end = nullptr;
  unsigned long p = std::strtoul(port.c_str(), &end, 10);
  if (*end != '\0' || p > 65535 || port[0] == '-' || port[0] == '+') return false;
  o.host = host;
  o.port = static_cast<uint16_t>(p);
  return true;
}

bool ParseArgs(int argc, char** argv, Options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      Usage(stdout);
      std::exit(0);
    }
    if ((a == "--seconds" || a == "--listen" || a == "--pushgateway" || a == "--otlp-file" ||
         a == "--remote-write") &&
        i + 1 >= argc) {
      std::fprintf(stderr, "ferrometer_demo: %s needs a value\n", argv[i]);
      return false;
    }
    if (a == "--seconds") {
      char* end = nullptr;
      o.seconds = std::strtod(argv[++i], &end);
      if (*end != '\0' || !(o.seconds > 0) || o.seconds > 1e7) {
        std::fprintf(stderr, "ferrometer_demo: --seconds wants a positive number, got '%s'\n", argv[i]);
        return false;
      }
    } else if (a == "--listen") {
      if (!ParseListen(argv[++i], o)) {
        std::fprintf(stderr, "ferrometer_demo: --listen wants HOST:PORT, got '%s'\n", argv[i]);
        return false;
      }
    } else if (a == "--pushgateway") {
      o.pushgateway = argv[++i];
    } else if (a == "--otlp-file") {
      o.otlp_file = argv[++i];
    } else if (a == "--remote-write") {
      o.remote_write = argv[++i];
    } else {
      std::fprintf(stderr, "ferrometer_demo: unknown argument '%s'\n", argv[i]);
      return false;
    }
  }
  return true;
}

// ------------------------------------------------------------------ signals

volatile std::sig_atomic_t g_stop_signal = 0;
extern "C" void OnSignal(int sig) { g_stop_signal = sig; }

// --------------------------------------------------------------- exposition

// How the metrics leave the process. The demo only calls Poll() once per
// tick and Stop() at the end, so switching from stdout snapshots to the
// Prometheus endpoint only changes StartExposition().
class Exposition {
 public:
  virtual ~Exposition() = default;
  virtual void Poll(Clock::time_point now) = 0;
  virtual void Stop() {}
};

// Prints a one-line summary of the cumulative totals once per second.
class StdoutSnapshots : public Exposition {
 public:
  explicit StdoutSnapshots(const fm::ManualReader& reader) : reader_(reader), next_(Clock::now() + kPeriod) {}
  void Poll(Clock::time_point now) override {
    if (now < next_) return;
    next_ += kPeriod;
    ++seconds_;
    auto snap = reader_.TryCollect();
    if (!snap) {
      std::fprintf(stderr, "ferrometer_demo: collect failed: %s\n", snap.message().c_str());
      return;
    }
    std::printf("[%3lus] ticks=%llu players=%lld events=%llu frames=%llu mean_frame=%.2fms queue=%lld series=%zu\n",
                seconds_, static_cast<unsigned long long>(SumU64(*snap, "game.ticks")),
                static_cast<long long>(SumI64(*snap, "game.players.online")),
                static_cast<unsigned long long>(SumU64(*snap, "game.events")),
                static_cast<unsigned long long>(HistCount(*snap, "game.frame.duration")),
                HistMean(*snap, "game.frame.duration"),
                static_cast<long long>(SumI64(*snap, "game.matchmaking.queue.depth")), PointCount(*snap));
    std::fflush(stdout);
  }

  static uint64_t SumU64(const fm::Snapshot& s, std::string_view name) {
    uint64_t total = 0;
    if (auto m = s.Find(name))
      for (size_t i = 0; i < m->PointCount(); ++i) total += m->NumberPointAt(i).AsUInt64();
    return total;
  }
  static int64_t SumI64(const fm::Snapshot& s, std::string_view name) {
    int64_t total = 0;
    if (auto m = s.Find(name))
      for (size_t i = 0; i < m->PointCount(); ++i) total += m->NumberPointAt(i).AsInt64();
    return total;
  }
  static uint64_t HistCount(const fm::Snapshot& s, std::string_view name) {
    uint64_t total = 0;
    if (auto m = s.Find(name))
      for (size_t i = 0; i < m->PointCount(); ++i) total += m->HistogramPointAt(i).Count();
    return total;
  }
  static uint64_t ExpCount(const fm::Snapshot& s, std::string_view name) {
    uint64_t total = 0;
    if (auto m = s.Find(name))
      for (size_t i = 0; i < m->PointCount(); ++i) total += m->ExponentialHistogramPointAt(i).Count();
    return total;
  }
  static double ExpSum(const fm::Snapshot& s, std::string_view name) {
    double total = 0;
    if (auto m = s.Find(name))
      for (size_t i = 0; i < m->PointCount(); ++i) total += m->ExponentialHistogramPointAt(i).Sum();
    return total;
  }
  static double HistMean(const fm::Snapshot& s, std::string_view name) {
    double sum = 0;
    uint64_t n = 0;
    if (auto m = s.Find(name))
      for (size_t i = 0; i < m->PointCount(); ++i) {
        sum += m->HistogramPointAt(i).Sum();
        n += m->HistogramPointAt(i).Count();
      }
    return n ? sum / static_cast<double>(n) : 0.0;
  }
  static size_t PointCount(const fm::Snapshot& s) {
    size_t n = 0;
    for (size_t i = 0; i < s.MetricCount(); ++i) n += s.MetricAt(i).PointCount();
    return n;
  }

 private:
  static constexpr std::chrono::seconds kPeriod{1};
  const fm::ManualReader& reader_;
  Clock::time_point next_;
  unsigned long seconds_ = 0;
};

// Serves Prometheus text on http://HOST:PORT/metrics (its own cumulative
// reader on the provider) and keeps printing the one-line summary.
class PrometheusEndpoint : public Exposition {
 public:
  PrometheusEndpoint(const fm::MeterProvider& provider, const fm::ManualReader& reader, const Options& opts)
      : console_(reader) {
    std::string addr = opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host;
    addr += ":" + std::to_string(opts.port);
    fm_prometheus_server* s = nullptr;
    fm_status st = fm_prometheus_server_start(provider.get(), addr.data(), addr.size(), nullptr, &s);
    if (st != FM_STATUS_OK)
      throw fm::Error(st, std::string("cannot serve on ") + addr + ": " + fm_last_error_message());
    server_.reset(s);
    std::string shown = opts.host.find(':') != std::string::npos ? "[" + opts.host + "]" : opts.host;
    std::printf("serving http://%s:%u/metrics\n", shown.c_str(), fm_prometheus_server_port(s));
  }
  void Poll(Clock::time_point now) override { console_.Poll(now); }
  void Stop() override { fm_prometheus_server_stop(server_.get()); }

 private:
  StdoutSnapshots console_;
  struct Release {
    void operator()(fm_prometheus_server* s) const noexcept { fm_prometheus_server_release(s); }
  };
  std::unique_ptr<fm_prometheus_server, Release> server_;
};

// The exposition: the Prometheus endpoint (StdoutSnapshots alone is the
// fallback for a library built without it).
std::unique_ptr<Exposition> StartExposition(const Options& opts, const fm::MeterProvider& provider,
                                            const fm::ManualReader& reader) {
  return std::make_unique<PrometheusEndpoint>(provider, reader, opts);
}

// -------------------------------------------------------------- the server

int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  long long pages_total = 0, pages_resident = 0;
  if (!(statm >> pages_total >> pages_resident)) return -1;
  return static_cast<int64_t>(pages_resident) * static_cast<int64_t>(sysconf(_SC_PAGESIZE));
}

// What the loop counted itself, to check the SDK's totals against.
struct Totals {
  uint64_t ticks = 0;
  uint64_t entity_updates = 0;
  uint64_t joins = 0;
  uint64_t leaves = 0;
  uint64_t chats = 0;
  int64_t online = 0;
  uint64_t packets = 0;
  uint64_t packet_bytes = 0;
};

constexpr const char* kRegions[] = {"eu", "us", "asia"};
constexpr const char* kMaps[] = {"harbor", "desert", "citadel"};
constexpr int kTicksPerSecond = 50;
constexpr int kEntities = 256;

// Push exporters on top of the endpoint: OTEL_METRICS_EXPORTER (otlp,
// console; the demo serves Prometheus itself), --pushgateway,
// --otlp-file and --remote-write, each through a periodic reader on the provider, exporting
// once per second and a last time at shutdown.
void AttachPushExporters(const Options& opts, const fm::MeterProvider& provider) {
  auto check = [](fm_status st, const char* what) {
    if (st != FM_STATUS_OK) throw fm::Error(st, std::string(what) + ": " + fm_last_error_message());
  };
  if (const char* env = std::getenv("OTEL_METRICS_EXPORTER"); env && *env) {
    check(fm_provider_attach_env_exporters(provider.get(), true, nullptr), "OTEL_METRICS_EXPORTER");
    std::printf("OTEL_METRICS_EXPORTER=%s attached\n", env);
  }
  auto attach = [&](fm_exporter* e, const char* what) {
    fm_status st = fm_provider_add_periodic_reader(provider.get(), e, 1000, 5000);
    fm_exporter_release(e);  // the reader keeps its own reference
    check(st, what);
  };
  if (!opts.pushgateway.empty()) {
    const std::string job = "ferrometer_demo";
    fm_pushgateway_options* po = nullptr;
    check(fm_pushgateway_options_new(opts.pushgateway.data(), opts.pushgateway.size(), job.data(), job.size(), &po),
          "--pushgateway");
    fm_exporter* e = nullptr;
    fm_status st = fm_pushgateway_exporter_new(po, &e);
    fm_pushgateway_options_release(po);
    check(st, "--pushgateway");
    attach(e, "--pushgateway");
    std::printf("pushing to %s every second\n", opts.pushgateway.c_str());
  }
  if (!opts.otlp_file.empty()) {
    fm_exporter* e = nullptr;
    check(fm_otlp_file_exporter_new(opts.otlp_file.data(), opts.otlp_file.size(), 0, 0,
                                    FM_TEMPORALITY_PREFERENCE_CUMULATIVE, &e),
          "--otlp-file");
    attach(e, "--otlp-file");
    std::printf("writing OTLP/JSON lines to %s every second\n", opts.otlp_file.c_str());
  }
  if (!opts.remote_write.empty()) {
    fm::RemoteWriteOptions rw;
    rw.url = opts.remote_write;
    fm::AddPeriodicReader(provider, fm::MakeRemoteWriteExporter(rw), std::chrono::milliseconds(1000),
                          std::chrono::milliseconds(5000));
    std::printf("remote writing to %s every second\n", opts.remote_write.c_str());
  }
}

// The trace context of demo request `tick`: trace id "fmdemo\0\0" followed by
// the tick number (big-endian), span id the tick number.
fm::TraceContext DemoTraceContext(uint64_t tick, bool sampled) {
  uint8_t trace[16] = {'f', 'm', 'd', 'e', 'm', 'o', 0, 0};
  uint8_t span[8];
  for (int k = 0; k < 8; ++k) {
    trace[8 + k] = static_cast<uint8_t>(tick >> (56 - 8 * k));
    span[k] = static_cast<uint8_t>((tick + 1) >> (56 - 8 * k));
  }
  return fm::TraceContext(trace, span, sampled);
}

int Run(const Options& opts) {
  fm::SetDiagnosticsHandler([](fm::DiagnosticLevel level, std::string_view message) {
    if (level >= fm::DiagnosticLevel::kWarn)
      std::fprintf(stderr, "ferrometer: %.*s\n", static_cast<int>(message.size()), message.data());
  });

  // Setup: a reader, a provider, a meter (the only part that differs from
  // an opentelemetry-cpp program; see README "Migrating").
  fm::ManualReader reader;
  // Packet sizes span 40 B to 64 KiB: a base2 exponential histogram picks
  // its own buckets (Prometheus scrapes it as a native histogram).
  fm::View packet_view = fm::ViewBuilder().InstrumentName("net.packet.size").Base2ExponentialHistogram().Build();
  fm::MeterProvider provider = fm::MeterProvider::Builder()
                                   .AddReader(reader)
                                   .AddView(packet_view)
                                   .SetServiceName("ferrometer-demo")
                                   .AddResourceAttributes({{"deployment.environment.name", "demo"}})
                                   .Build();
  fm::Meter meter = provider.GetMeter("ferrometer.demo.game", FERROMETER_VERSION_STRING);

  auto ticks = meter.CreateUInt64Counter("game.ticks", "Server ticks", "{tick}");
  auto entity_updates = meter.CreateUInt64Counter("game.entity.updates", "Entity updates", "{update}");
  auto hot = entity_updates.Bind({{"shard", "0"}});  // the hot path: one atomic add
  auto events = meter.CreateUInt64Counter("game.events", "Game events", "{event}");
  auto online = meter.CreateInt64UpDownCounter("game.players.online", "Players online", "{player}");
  auto frame = meter.CreateDoubleHistogram("game.frame.duration", "Frame time", "ms",
                                           {1, 2, 4, 8, 12, 16, 20, 33, 50, 100});
  auto packets = meter.CreateUInt64Histogram("net.packet.size", "Packet sizes", "By");

  std::atomic<int64_t> queue_depth{0};
  auto queue = meter.CreateInt64ObservableGauge("game.matchmaking.queue.depth", "Players waiting", "{player}");
  queue.AddCallback([&queue_depth](auto& observer) { observer.Observe(queue_depth.load()); });
  auto rss = meter.CreateInt64ObservableGauge("process.memory.rss", "Resident memory", "By");
  rss.AddCallback([](auto& observer) {
    int64_t bytes = ResidentBytes();
    if (bytes >= 0) observer.Observe(bytes);
  });

  std::unique_ptr<Exposition> exposition = StartExposition(opts, provider, reader);
  AttachPushExporters(opts, provider);

  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);
  if (opts.seconds > 0)
    std::printf("running for %g s (Ctrl-C stops earlier)\n", opts.seconds);
  else
    std::printf("running until SIGINT/SIGTERM\n");
  std::fflush(stdout);

  Totals t;
  std::vector<int64_t> players(std::size(kRegions), 0);
  std::mt19937 rng(42);
  std::uniform_real_distribution<double> uniform(0.0, 1.0);
  const auto start = Clock::now();
  const auto deadline =
      opts.seconds > 0 ? start + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(opts.seconds))
                       : Clock::time_point::max();
  const auto tick_period = std::chrono::microseconds(1000000 / kTicksPerSecond);
  auto next_tick = start;

  while (g_stop_signal == 0 && Clock::now() < deadline) {
    const char* map = kMaps[(t.ticks / (kTicksPerSecond * 10)) % std::size(kMaps)];  // new map every 10 s

    // Entity updates: the hot loop.
    for (int e = 0; e < kEntities; ++e) hot.Add(1);
    t.entity_updates += kEntities;

    // Each tick is one traced request; 10% of them are sampled. Measurements
    // recorded inside the scope carry its context: under the default
    // trace-based exemplar filter the sampled ones may become exemplars
    // (trace ids "fmdemo" + the tick number, so a test can tell them).
    const bool sampled = uniform(rng) < 0.10;
    fm::TraceScope request(DemoTraceContext(t.ticks, sampled));

    // Players join and leave.
    size_t r = static_cast<size_t>(uniform(rng) * std::size(kRegions)) % std::size(kRegions);
    if (uniform(rng) < 0.30) {
      players[r] += 1;
      ++t.joins;
      online.Add(1, {{"region", kRegions[r]}});
      events.Add(1, {{"event", "join"}, {"region", kRegions[r]}});
    }
    if (players[r] > 0 && uniform(rng) < 0.25) {
      players[r] -= 1;
      ++t.leaves;
      online.Add(-1, {{"region", kRegions[r]}});
      events.Add(1, {{"event", "leave"}, {"region", kRegions[r]}});
    }
    if (uniform(rng) < 0.5) {
      ++t.chats;
      events.Add(1, {{"event", "chat"}, {"region", kRegions[r]}});
    }
    queue_depth.store(static_cast<int64_t>(uniform(rng) * 8));

    // Frame time: a simulated 3-9 ms frame with an occasional spike.
    double frame_ms = 3.0 + 6.0 * uniform(rng);
    if (uniform(rng) < 0.02) frame_ms += 25.0;
    frame.Record(frame_ms, {{"map", map}});

    // Network packets: mostly small, a long tail up to 64 KiB.
    for (int k = 0; k < 4; ++k) {
      const uint64_t size = 40 + static_cast<uint64_t>(std::exp(uniform(rng) * std::log(65536.0 - 40.0)));
      const char* dir = k % 2 ? "in" : "out";
      packets.Record(size, {{"direction", dir}});
      ++t.packets;
      t.packet_bytes += size;
    }

    ticks.Add(1);
    ++t.ticks;

    exposition->Poll(Clock::now());
    next_tick += tick_period;
    std::this_thread::sleep_until(std::min(next_tick, deadline));
  }
  for (int64_t p : players) t.online += p;

  if (g_stop_signal != 0) std::printf("received signal %d, shutting down\n", static_cast<int>(g_stop_signal));
  exposition->Stop();

  // The last collection, then compare with what the loop counted.
  fm::Snapshot snap = reader.Collect();
  uint64_t sdk_ticks = StdoutSnapshots::SumU64(snap, "game.ticks");
  uint64_t sdk_updates = StdoutSnapshots::SumU64(snap, "game.entity.updates");
  uint64_t sdk_events = StdoutSnapshots::SumU64(snap, "game.events");
  int64_t sdk_online = StdoutSnapshots::SumI64(snap, "game.players.online");
  uint64_t sdk_frames = StdoutSnapshots::HistCount(snap, "game.frame.duration");
  uint64_t sdk_packets = StdoutSnapshots::ExpCount(snap, "net.packet.size");
  double sdk_packet_bytes = StdoutSnapshots::ExpSum(snap, "net.packet.size");
  uint64_t sdk_joins = 0;
  if (auto m = snap.Find("game.events"))
    for (const char* region : kRegions)
      if (auto p = m->FindNumberPoint({{"event", "join"}, {"region", region}})) sdk_joins += p->AsUInt64();
  fm::RejectedCounts rejected = provider.Rejected();

  const uint64_t want_events = t.joins + t.leaves + t.chats;
  const bool ok = sdk_ticks == t.ticks && sdk_updates == t.entity_updates && sdk_events == want_events &&
                  sdk_joins == t.joins && sdk_online == t.online && sdk_frames == t.ticks &&
                  sdk_packets == t.packets && sdk_packet_bytes == static_cast<double>(t.packet_bytes);
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();

  std::printf("totals after %.1f s (sdk / loop):\n", elapsed);
  std::printf("  ticks           %llu / %llu\n", static_cast<unsigned long long>(sdk_ticks),
              static_cast<unsigned long long>(t.ticks));
  std::printf("  entity updates  %llu / %llu\n", static_cast<unsigned long long>(sdk_updates),
              static_cast<unsigned long long>(t.entity_updates));
  std::printf("  events          %llu / %llu (joins %llu, leaves %llu, chats %llu)\n",
              static_cast<unsigned long long>(sdk_events), static_cast<unsigned long long>(want_events),
              static_cast<unsigned long long>(t.joins), static_cast<unsigned long long>(t.leaves),
              static_cast<unsigned long long>(t.chats));
  std::printf("  players online  %lld / %lld\n", static_cast<long long>(sdk_online), static_cast<long long>(t.online));
  std::printf("  frames          %llu / %llu (mean %.2f ms)\n", static_cast<unsigned long long>(sdk_frames),
              static_cast<unsigned long long>(t.ticks), StdoutSnapshots::HistMean(snap, "game.frame.duration"));
  std::printf("  packets         %llu / %llu (%.0f / %llu bytes)\n", static_cast<unsigned long long>(sdk_packets),
              static_cast<unsigned long long>(t.packets), sdk_packet_bytes,
              static_cast<unsigned long long>(t.packet_bytes));
  std::printf("  rejected        %llu\n",
              static_cast<unsigned long long>(rejected.nan + rejected.infinite + rejected.negative +
                                              rejected.after_shutdown + rejected.invalid_attributes));
  std::printf("check: %s\n", ok ? "OK (the SDK's totals equal the loop's counts)" : "MISMATCH");

  // Shutdown reports (never throws) what the final exports could not deliver.
  fm::FlushResult shut = provider.Shutdown(std::chrono::seconds(2));
  if (shut)
    std::printf("shut down cleanly\n");
  else
    std::printf("shut down: %s (%llu data points not delivered)\n", shut.message().c_str(),
                static_cast<unsigned long long>(shut.undelivered_points()));
  std::fflush(stdout);
  fm::ResetDiagnosticsHandler();
  return ok && shut.undelivered_points() == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Options opts;
  if (!ParseArgs(argc, argv, opts)) {
    Usage(stderr);
    return 2;
  }
  try {
    return Run(opts);
  } catch (const fm::Error& e) {
    std::fprintf(stderr, "ferrometer_demo: %s (status %u)\n", e.what(), static_cast<unsigned>(e.status()));
    return 1;
  }
}
