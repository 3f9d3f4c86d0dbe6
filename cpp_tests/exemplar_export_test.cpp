// Exemplars recorded from several threads, through the C API and through
// the C++ wrapper, checked where they leave the process: the Prometheus
// endpoint's OpenMetrics exposition (scraped over loopback) and an
// OTLP/HTTP JSON export to a loopback sink. Both cases share the
// expectations and the checks; only the recording and the set-up differ.
//
// Every thread records one shared counter series and one shared histogram
// series in five ways: the thread's current context (fm_trace_context_set
// in C, a ferrometer::TraceScope in C++) on the plain and on a bound
// handle, an explicit sampled context (`_in_context` in C, a TraceContext
// as the last argument of Add/Record in C++) on the plain and on a bound
// handle, and an explicit unsampled context. Values and span ids name the thread and the way, so
// each exemplar exported can be traced back to the one (thread, way) that
// could have produced it. Unsampled measurements also go alone to a counter
// series (`pool="quiet"`) and to the histogram's +Inf bucket: under
// TraceBased those carry no exemplar, under AlwaysOn they must.

#include <gtest/gtest.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <functional>
#include <iterator>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "attrs.hpp"
#include "ferrometer.h"
#include "ferrometer.hpp"
#include "ferrometer_otlp.hpp"
#include "http_sink.hpp"

namespace fm = ferrometer;

namespace {

constexpr int kThreads = 4;
constexpr uint64_t kRounds = 4000;  // per thread, each round records every way once
// Ways of recording (the second byte of the span id, a digit of the value).
enum Way : int {
  kCurrent = 0,        // fm_counter_u64_add / fm_histogram_f64_record, current context
  kExplicit = 1,       // ..._in_context, sampled
  kBoundExplicit = 2,  // fm_bound_..._in_context, sampled
  kBoundCurrent = 3,   // fm_bound_counter_u64_add / fm_bound_histogram_f64_record
  kUnsampled = 4,      // ..._in_context with flags 0
  kWays = 5,
};

// The ids of (thread, way): the trace id names the thread, the span id the
// thread and the way.
struct Ids {
  uint8_t trace[16];
  uint8_t span[8];
};
Ids IdsOf(int thread, int way) {
  Ids ids{};
  for (auto& b : ids.trace) b = static_cast<uint8_t>(thread);
  ids.trace[0] = 0xc0;
  ids.span[0] = static_cast<uint8_t>(thread);
  ids.span[1] = static_cast<uint8_t>(way);
  for (int k = 2; k < 8; ++k) ids.span[k] = 0x5a;
  return ids;
}
fm_trace_context Ctx(int thread, int way, bool sampled) {
  const Ids ids = IdsOf(thread, way);
  fm_trace_context c{};
  std::copy(std::begin(ids.trace), std::end(ids.trace), c.trace_id);
  std::copy(std::begin(ids.span), std::end(ids.span), c.span_id);
  c.flags = sampled ? 1 : 0;
  return c;
}
// The same context built by the C++ wrapper from the ids.
fm::TraceContext CppCtx(int thread, int way, bool sampled) {
  const Ids ids = IdsOf(thread, way);
  return fm::TraceContext(ids.trace, ids.span, sampled);
}

// The counter's value for (thread, way): 10 * thread + way.
uint64_t CounterValue(int t, int way) { return 10 * static_cast<uint64_t>(t) + static_cast<uint64_t>(way); }
// The histogram's value for (thread, way, round): sampled ways in
// (100 t, 100 t + 50), i.e. in bucket (100 t, 100 t + 100] of the
// boundaries below; the unsampled way in (600 + 10 t, 600 + 10 t + 9), the
// +Inf bucket.
double HistValue(int t, int way, uint64_t round) {
  const double small = static_cast<double>(round % 9);
  if (way == kUnsampled) return 600.0 + 10.0 * t + small;
  return 100.0 * t + 10.0 * way + 1.0 + small;
}
// (thread, way) a histogram value names.
std::pair<int, int> HistOwner(double v) {
  if (v > 600) return {static_cast<int>((v - 600) / 10), kUnsampled};
  return {static_cast<int>(v / 100), static_cast<int>(std::fmod(v, 100.0) / 10)};
}
const double kBounds[] = {100, 200, 300, 400, 500};

std::string Hex(const uint8_t* p, size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}

// The (thread, way) whose context has these hex ids, or {-1, -1}.
std::pair<int, int> Owner(const std::string& trace_hex, const std::string& span_hex) {
  for (int t = 1; t <= kThreads; ++t) {
    for (int w = 0; w < kWays; ++w) {
      const Ids ids = IdsOf(t, w);
      if (Hex(ids.trace, 16) == trace_hex && Hex(ids.span, 8) == span_hex) return {t, w};
    }
  }
  return {-1, -1};
}

// One HTTP/1.1 GET on a fresh connection; the whole response.
std::string Get(uint32_t port, const std::string& path, const std::string& headers) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
    std::string req = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n" + headers + "\r\n";
    if (::send(fd, req.data(), req.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(req.size())) {
      char buf[8192];
      for (;;) {
        ssize_t n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<size_t>(n));
      }
    }
  }
  ::close(fd);
  return out;
}

struct Recorded {
  uint64_t counter_total = 0;  // pool="shared"
  uint64_t quiet_total = 0;    // pool="quiet"
  double hist_sum = 0;
};

// What RecordFromThreads (either API) records, summed independently of it.
Recorded Expected() {
  Recorded r;
  for (int t = 1; t <= kThreads; ++t) {
    for (int w = 0; w < kWays; ++w) {
      r.counter_total += kRounds * CounterValue(t, w);
      if (w == kUnsampled) r.quiet_total += kRounds * CounterValue(t, w);
      for (uint64_t i = 0; i < kRounds; ++i) r.hist_sum += HistValue(t, w, i);
    }
  }
  return r;
}

// Runs body(t) on threads t = 1..kThreads; `ready()`, called by a body
// after its set-up, returns once every thread has got there, so their
// recording overlaps.
void RunThreads(const std::function<void(int t, const std::function<void()>& ready)>& body) {
  std::atomic<int> count{0};
  const std::function<void()> ready = [&count] {
    count.fetch_add(1);
    while (count.load() < kThreads) std::this_thread::yield();
  };
  std::vector<std::thread> threads;
  for (int t = 1; t <= kThreads; ++t) threads.emplace_back([&, t] { body(t, ready); });
  for (auto& th : threads) th.join();
}

// Records through the C API from kThreads threads, every way once per round.
void RecordFromThreads(fm_counter_u64* counter, fm_histogram_f64* hist) {
  const fm_attribute attrs[] = {fmtest::S("pool", "shared")};
  const fm_attribute quiet[] = {fmtest::S("pool", "quiet")};
  RunThreads([&](int t, const std::function<void()>& ready) {
    fm_bound_counter_u64* bc = nullptr;
    fm_bound_histogram_f64* bh = nullptr;
    EXPECT_EQ(fm_counter_u64_bind(counter, attrs, 1, &bc), FM_STATUS_OK);
    EXPECT_EQ(fm_histogram_f64_bind(hist, attrs, 1, &bh), FM_STATUS_OK);
    fm_trace_context current = Ctx(t, kCurrent, true);
    fm_trace_context previous{};
    EXPECT_EQ(fm_trace_context_set(&current, &previous), FM_STATUS_OK);
    const fm_trace_context explicit_ctx = Ctx(t, kExplicit, true);
    const fm_trace_context bound_ctx = Ctx(t, kBoundExplicit, true);
    const fm_trace_context unsampled = Ctx(t, kUnsampled, false);
    ready();
    for (uint64_t i = 0; i < kRounds; ++i) {
      fm_counter_u64_add(counter, CounterValue(t, kCurrent), attrs, 1);
      fm_counter_u64_add_in_context(counter, CounterValue(t, kExplicit), attrs, 1, &explicit_ctx);
      fm_bound_counter_u64_add_in_context(bc, CounterValue(t, kBoundExplicit), &bound_ctx);
      // The bound handle in the current context: the span id says
      // "current", the value says "bound"; both are the thread's.
      fm_bound_counter_u64_add(bc, CounterValue(t, kBoundCurrent));
      fm_counter_u64_add_in_context(counter, CounterValue(t, kUnsampled), attrs, 1, &unsampled);
      fm_counter_u64_add_in_context(counter, CounterValue(t, kUnsampled), quiet, 1, &unsampled);

      fm_histogram_f64_record(hist, HistValue(t, kCurrent, i), attrs, 1);
      fm_histogram_f64_record_in_context(hist, HistValue(t, kExplicit, i), attrs, 1, &explicit_ctx);
      fm_bound_histogram_f64_record_in_context(bh, HistValue(t, kBoundExplicit, i), &bound_ctx);
      fm_bound_histogram_f64_record(bh, HistValue(t, kBoundCurrent, i));
      fm_histogram_f64_record_in_context(hist, HistValue(t, kUnsampled, i), attrs, 1, &unsampled);
    }
    EXPECT_EQ(fm_trace_context_set(&previous, nullptr), FM_STATUS_OK);
    fm_bound_counter_u64_release(bc);
    fm_bound_histogram_f64_release(bh);
  });
}

// The same through the C++ wrapper only: a TraceScope for the current
// context, TraceContext as the last argument of Add/Record, Bind for the
// bound handles; attributes as an initializer list on the counter and as a
// prepared AttributeSet on the histogram.
void RecordFromThreads(const fm::Counter<uint64_t>& counter, const fm::Histogram<double>& hist) {
  const fm::AttributeSet shared{{"pool", "shared"}};
  RunThreads([&](int t, const std::function<void()>& ready) {
    auto bc = counter.Bind({{"pool", "shared"}});
    auto bh = hist.Bind({{"pool", "shared"}});
    const fm::TraceScope scope(CppCtx(t, kCurrent, true));
    const fm::TraceContext explicit_ctx = CppCtx(t, kExplicit, true);
    const fm::TraceContext bound_ctx = CppCtx(t, kBoundExplicit, true);
    const fm::TraceContext unsampled = CppCtx(t, kUnsampled, false);
    ready();
    for (uint64_t i = 0; i < kRounds; ++i) {
      counter.Add(CounterValue(t, kCurrent), {{"pool", "shared"}});
      counter.Add(CounterValue(t, kExplicit), {{"pool", "shared"}}, explicit_ctx);
      bc.Add(CounterValue(t, kBoundExplicit), bound_ctx);
      bc.Add(CounterValue(t, kBoundCurrent));  // current context, bound value
      counter.Add(CounterValue(t, kUnsampled), {{"pool", "shared"}}, unsampled);
      counter.Add(CounterValue(t, kUnsampled), {{"pool", "quiet"}}, unsampled);

      hist.Record(HistValue(t, kCurrent, i), shared);
      hist.Record(HistValue(t, kExplicit, i), shared, explicit_ctx);
      bh.Record(HistValue(t, kBoundExplicit, i), bound_ctx);
      bh.Record(HistValue(t, kBoundCurrent, i));
      hist.Record(HistValue(t, kUnsampled, i), shared, unsampled);
    }
  });
  // Each TraceScope restored its thread's previous (empty) context.
}

// Whether an exemplar of `value` from context (t, span_way) could have been
// recorded: the value names thread t and a way whose context has that span
// id (the bound handle without a context uses the thread's current one);
// an unsampled context only under AlwaysOn.
bool Plausible(int t, int span_way, int value_way, int value_thread, bool always_on) {
  if (t < 1 || t != value_thread) return false;
  if (value_way == kUnsampled) return always_on && span_way == kUnsampled;
  if (value_way == kBoundCurrent) return span_way == kCurrent;
  return span_way == value_way;
}

struct Line {
  std::string name;    // metric name up to '{'
  std::string labels;  // between the braces
  double value = 0;
  bool has_exemplar = false;
  std::string trace, span;
  double ex_value = 0;
};

// The exposition's sample lines (comments skipped), with their exemplars.
// The quoted value of `key="..."` in `s` ("" when absent).
std::string Quoted(const std::string& s, const std::string& key) {
  auto at = s.find(key + "=\"");
  if (at == std::string::npos) return "";
  at += key.size() + 2;
  return s.substr(at, s.find('"', at) - at);
}

// `name{labels} value [ts][ # {exemplar labels} value [ts]]`; false when
// the line does not have that shape. (Label values here never hold `}`.)
bool ParseSample(const std::string& l, Line* x) {
  const auto brace = l.find('{');
  const auto space = l.find(' ');
  if (space == std::string::npos || space == 0) return false;
  std::size_t rest;
  if (brace != std::string::npos && brace < space) {
    const auto close = l.find('}', brace);
    if (close == std::string::npos || close + 1 >= l.size() || l[close + 1] != ' ') return false;
    x->name = l.substr(0, brace);
    x->labels = l.substr(brace, close + 1 - brace);
    rest = close + 2;
  } else {
    x->name = l.substr(0, space);
    rest = space + 1;
  }
  char* end = nullptr;
  x->value = std::strtod(l.c_str() + rest, &end);
  if (end == l.c_str() + rest) return false;
  const auto ex = l.find(" # {", rest);
  if (ex == std::string::npos) return true;
  const auto close = l.find('}', ex);
  if (close == std::string::npos || close + 1 >= l.size()) return false;
  const std::string labels = l.substr(ex + 4, close - ex - 4);
  x->has_exemplar = true;
  x->trace = Quoted(labels, "trace_id");
  x->span = Quoted(labels, "span_id");
  const char* v = l.c_str() + close + 2;
  x->ex_value = std::strtod(v, &end);
  return end != v;
}

// The exposition's sample lines (comments skipped), with their exemplars.
std::vector<Line> ParseExposition(const std::string& body) {
  std::vector<Line> out;
  std::istringstream in(body);
  std::string l;
  while (std::getline(in, l)) {
    if (l.empty() || l[0] == '#') continue;
    Line x;
    if (!ParseSample(l, &x)) {
      ADD_FAILURE() << "unparsed line: " << l;
      continue;
    }
    out.push_back(x);
  }
  return out;
}

// One exemplar of an OTLP/JSON body: its value and hex ids.
struct JsonExemplar {
  bool is_int = false;
  double value = 0;
  std::string span, trace;
};

// Every exemplar of an OTLP/JSON body (ferrometer writes an exemplar's
// members in the order timeUnixNano, asInt/asDouble, spanId, traceId);
// a failure for an exemplar with ids it cannot read.
std::vector<JsonExemplar> JsonExemplars(const std::string& json) {
  std::vector<JsonExemplar> out;
  const std::string trace_key = "\"traceId\":\"";
  for (auto at = json.find(trace_key); at != std::string::npos; at = json.find(trace_key, at + 1)) {
    const auto obj = json.rfind('{', at);
    const std::string e = json.substr(obj, json.find('}', at) + 1 - obj);
    JsonExemplar x;
    auto value = e.find("\"asInt\":\"");
    if (value != std::string::npos) {
      x.is_int = true;
      value += 9;
    } else if ((value = e.find("\"asDouble\":")) != std::string::npos) {
      value += 11;
    }
    const auto span = e.find("\"spanId\":\"");
    const auto trace = e.find(trace_key);
    if (value == std::string::npos || span == std::string::npos || trace == std::string::npos) {
      ADD_FAILURE() << "unreadable exemplar: " << e;
      continue;
    }
    x.value = std::strtod(e.c_str() + value, nullptr);
    x.span = e.substr(span + 10, e.find('"', span + 10) - span - 10);
    x.trace = e.substr(trace + 11, e.find('"', trace + 11) - trace - 11);
    EXPECT_EQ(x.span.size(), 16u) << e;
    EXPECT_EQ(x.trace.size(), 32u) << e;
    out.push_back(x);
  }
  return out;
}

double Le(const std::string& labels) {
  auto at = labels.find("le=\"");
  if (at == std::string::npos) return std::nan("");
  return std::strtod(labels.c_str() + at + 4, nullptr);
}

// The Prometheus endpoint on `port`, scraped as OpenMetrics after
// RecordFromThreads: exact totals, and every exemplar on the right line and
// bucket with the ids of the (thread, way) its value names.
void CheckOpenMetrics(uint32_t port, bool always_on) {
  const Recorded rec = Expected();
  std::string resp = Get(port, "/metrics", "Accept: application/openmetrics-text;version=1.0.0\r\n");
  ASSERT_EQ(resp.substr(0, 15), "HTTP/1.1 200 OK") << resp;
  auto head_end = resp.find("\r\n\r\n");
  ASSERT_NE(head_end, std::string::npos);
  ASSERT_NE(resp.substr(0, head_end).find("application/openmetrics-text"), std::string::npos) << resp;
  ASSERT_EQ(resp.substr(0, head_end).find("chunked"), std::string::npos) << "expected a Content-Length body";
  const std::string body = resp.substr(head_end + 4);
  EXPECT_NE(body.find("# EOF"), std::string::npos);

  int counter_lines = 0, counter_exemplars = 0, quiet_lines = 0, inf_lines = 0;
  std::set<int> bucket_threads;
  double prev_le = 0;
  for (const Line& x : ParseExposition(body)) {
    if (x.name == "jobs_total" && x.labels.find("pool=\"quiet\"") != std::string::npos) {
      ++quiet_lines;
      EXPECT_EQ(x.value, static_cast<double>(rec.quiet_total));
      EXPECT_EQ(x.has_exemplar, always_on) << "only unsampled measurements: " << x.labels;
      if (x.has_exemplar) {
        auto [t, span_way] = Owner(x.trace, x.span);
        const auto v = static_cast<uint64_t>(x.ex_value);
        EXPECT_TRUE(t >= 1 && span_way == kUnsampled && v == CounterValue(t, kUnsampled)) << x.ex_value;
      }
      continue;
    }
    if (x.labels.find("pool=\"shared\"") == std::string::npos) continue;
    if (x.name == "jobs_total") {
      ++counter_lines;
      EXPECT_EQ(x.value, static_cast<double>(rec.counter_total)) << "every measurement counted";
      if (x.has_exemplar) {
        ++counter_exemplars;
        auto [t, span_way] = Owner(x.trace, x.span);
        const auto v = static_cast<uint64_t>(x.ex_value);
        EXPECT_EQ(static_cast<double>(v), x.ex_value);
        EXPECT_TRUE(Plausible(t, span_way, static_cast<int>(v % 10), static_cast<int>(v / 10), always_on))
            << "exemplar " << x.ex_value << " trace " << x.trace << " span " << x.span;
      }
    } else if (x.name == "latency_bucket") {
      const double le = Le(x.labels);
      // Cumulative count: thread t's sampled values all fall in
      // (100 t, 100 t + 100], the unsampled ones past the last bound.
      double want = 0;
      for (int t = 1; t <= kThreads; ++t) {
        if (std::isinf(le) || 100.0 * t + 100 <= le) want += static_cast<double>(kRounds * (kWays - 1));
      }
      if (std::isinf(le)) {
        ++inf_lines;
        want += static_cast<double>(kThreads * kRounds);
        EXPECT_EQ(x.has_exemplar, always_on) << "+Inf holds only unsampled measurements";
      }
      EXPECT_EQ(x.value, want) << "bucket le=" << le;
      if (x.has_exemplar) {
        auto [t, span_way] = Owner(x.trace, x.span);
        const double v = x.ex_value;
        EXPECT_GT(v, prev_le) << "exemplar below its bucket";
        EXPECT_LE(v, le) << "exemplar above its bucket";
        auto [vt, vw] = HistOwner(v);
        EXPECT_TRUE(Plausible(t, span_way, vw, vt, always_on)) << "exemplar " << v << " trace " << x.trace << " span " << x.span;
        if (!std::isinf(le)) bucket_threads.insert(t);
      }
      prev_le = le;
    } else if (x.name == "latency_sum") {
      EXPECT_EQ(x.value, rec.hist_sum);
    } else if (x.name == "latency_count") {
      EXPECT_EQ(x.value, static_cast<double>(kThreads * kWays * kRounds));
    }
    EXPECT_LE(x.trace.size() + x.span.size() + 22, 128u) << "OpenMetrics' exemplar label limit";
  }
  EXPECT_EQ(counter_lines, 1) << body;
  EXPECT_EQ(quiet_lines, 1) << body;
  EXPECT_EQ(inf_lines, 1) << body;
  EXPECT_EQ(counter_exemplars, 1) << "the counter's reservoir holds a sampled measurement: " << body;
  // Every thread's bucket saw sampled measurements: each has an exemplar.
  EXPECT_EQ(bucket_threads, (std::set<int>{1, 2, 3, 4})) << body;
}

// The OTLP/HTTP JSON bodies a flush after RecordFromThreads exported:
// every exemplar's ids are those of the (thread, way) its value names.
void CheckOtlp(const std::vector<std::string>& bodies, bool always_on) {
  ASSERT_FALSE(bodies.empty());
  std::set<int> otlp_threads;
  int otlp_counter = 0, otlp_unsampled = 0;
  for (const std::string& json : bodies) {
    for (const JsonExemplar& e : JsonExemplars(json)) {
      auto [t, span_way] = Owner(e.trace, e.span);
      if (span_way == kUnsampled) ++otlp_unsampled;
      if (e.is_int) {
        ++otlp_counter;
        const auto u = static_cast<uint64_t>(e.value);
        EXPECT_TRUE(Plausible(t, span_way, static_cast<int>(u % 10), static_cast<int>(u / 10), always_on))
            << e.value << " " << e.trace << " " << e.span;
      } else {
        auto [vt, vw] = HistOwner(e.value);
        EXPECT_TRUE(Plausible(t, span_way, vw, vt, always_on)) << e.value << " " << e.trace << " " << e.span;
        if (vw != kUnsampled) otlp_threads.insert(t);
      }
    }
  }
  // The shared series' exemplar, plus the quiet one's under AlwaysOn; and
  // the quiet series and the +Inf bucket carry the unsampled ones.
  EXPECT_EQ(otlp_counter, always_on ? 2 : 1);
  if (always_on) {
    EXPECT_GE(otlp_unsampled, 2);
  } else {
    EXPECT_EQ(otlp_unsampled, 0);
  }
  EXPECT_EQ(otlp_threads, (std::set<int>{1, 2, 3, 4}));
}

// The C API end to end: the provider builder, the Prometheus server and
// the OTLP/HTTP exporter on a periodic reader through fm_* calls.
void RunCase(uint32_t filter) {
  const bool always_on = filter == FM_EXEMPLAR_FILTER_ALWAYS_ON;
  fm_provider_builder* b = nullptr;
  ASSERT_EQ(fm_provider_builder_new(&b), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_use_empty_resource(b), FM_STATUS_OK);
  ASSERT_EQ(fm_provider_builder_set_exemplar_filter(b, filter), FM_STATUS_OK);
  fm_provider* provider = nullptr;
  ASSERT_EQ(fm_provider_builder_build(b, &provider), FM_STATUS_OK) << fm_last_error_message();
  fm_provider_builder_release(b);

  // OTLP/HTTP JSON to a loopback sink, exported on force flush.
  fmtest::HttpSink sink;
  fm_otlp_options* oo = nullptr;
  ASSERT_EQ(fm_otlp_options_new(false, &oo), FM_STATUS_OK);
  std::string endpoint = sink.Url() + "/v1/metrics";
  ASSERT_EQ(fm_otlp_options_set_endpoint(oo, endpoint.data(), endpoint.size()), FM_STATUS_OK);
  ASSERT_EQ(fm_otlp_options_set_encoding(oo, FM_OTLP_ENCODING_JSON), FM_STATUS_OK);
  fm_exporter* exporter = nullptr;
  ASSERT_EQ(fm_otlp_exporter_new(oo, &exporter), FM_STATUS_OK) << fm_last_error_message();
  fm_otlp_options_release(oo);
  ASSERT_EQ(fm_provider_add_periodic_reader(provider, exporter, 3600 * 1000, 10000), FM_STATUS_OK);

  fm_prometheus_server* server = nullptr;
  ASSERT_EQ(fm_prometheus_server_start(provider, "127.0.0.1:0", 11, nullptr, &server), FM_STATUS_OK)
      << fm_last_error_message();
  const uint32_t port = fm_prometheus_server_port(server);
  ASSERT_NE(port, 0u);

  fm_meter* meter = nullptr;
  ASSERT_EQ(fm_provider_get_meter(provider, "exemplars", 9, nullptr, 0, nullptr, 0, &meter), FM_STATUS_OK);
  fm_counter_u64* counter = nullptr;
  ASSERT_EQ(fm_meter_create_counter_u64(meter, "jobs", 4, nullptr, &counter), FM_STATUS_OK);
  fm_instrument_options ho{};
  ho.boundaries = kBounds;
  ho.boundaries_len = sizeof kBounds / sizeof kBounds[0];
  fm_histogram_f64* hist = nullptr;
  ASSERT_EQ(fm_meter_create_histogram_f64(meter, "latency", 7, &ho, &hist), FM_STATUS_OK);

  RecordFromThreads(counter, hist);
  CheckOpenMetrics(port, always_on);
  ASSERT_EQ(fm_provider_force_flush(provider, 10000), FM_STATUS_OK) << fm_last_error_message();
  CheckOtlp(sink.Bodies(), always_on);

  fm_counter_u64_release(counter);
  fm_histogram_f64_release(hist);
  fm_meter_release(meter);
  fm_prometheus_server_release(server);
  EXPECT_EQ(fm_provider_shutdown(provider, 10000), FM_STATUS_OK);
  fm_exporter_release(exporter);
  fm_provider_release(provider);
}

// The C++ wrapper end to end: MeterProvider::Builder with the filter,
// PrometheusServer, the OTLP/HTTP exporter on a periodic reader, and the
// recording of RecordFromThreads' C++ overload.
void RunCppCase(uint32_t filter) {
  const bool always_on = filter == FM_EXEMPLAR_FILTER_ALWAYS_ON;
  fm::MeterProvider provider = fm::MeterProvider::Builder().UseEmptyResource().SetExemplarFilter(filter).Build();

  fmtest::HttpSink sink;
  fm::OtlpHttpOptions oo;
  oo.read_env = false;
  oo.endpoint = sink.Url() + "/v1/metrics";
  oo.encoding = fm::OtlpEncoding::kJson;
  const fm::Exporter exporter = fm::MakeOtlpHttpExporter(oo);
  fm::AddPeriodicReader(provider, exporter, std::chrono::hours(1), std::chrono::seconds(10));

  fm::PrometheusServer server(provider, "127.0.0.1:0");
  ASSERT_NE(server.Port(), 0u);

  const fm::Meter meter = provider.GetMeter("exemplars");
  const auto counter = meter.CreateUInt64Counter("jobs");
  const auto hist =
      meter.CreateDoubleHistogram("latency", {}, {}, std::vector<double>(std::begin(kBounds), std::end(kBounds)));

  RecordFromThreads(counter, hist);
  CheckOpenMetrics(server.Port(), always_on);
  const fm::FlushResult flushed = provider.ForceFlush(std::chrono::seconds(10));
  ASSERT_TRUE(flushed.ok()) << flushed.message();
  CheckOtlp(sink.Bodies(), always_on);

  server.Stop();
  const fm::FlushResult shut = provider.Shutdown(std::chrono::seconds(10));
  EXPECT_TRUE(shut.ok()) << shut.message();
}

}  // namespace

TEST(ExemplarExport, CApiThreadsTraceBasedToOpenMetricsAndOtlp) { RunCase(FM_EXEMPLAR_FILTER_TRACE_BASED); }

TEST(ExemplarExport, CApiThreadsAlwaysOnToOpenMetricsAndOtlp) { RunCase(FM_EXEMPLAR_FILTER_ALWAYS_ON); }

TEST(ExemplarExport, CppApiThreadsTraceBasedToOpenMetricsAndOtlp) { RunCppCase(FM_EXEMPLAR_FILTER_TRACE_BASED); }

TEST(ExemplarExport, CppApiThreadsAlwaysOnToOpenMetricsAndOtlp) { RunCppCase(FM_EXEMPLAR_FILTER_ALWAYS_ON); }
