// ferrometer_exporters.hpp: C++17 RAII wrappers for push exporters
// (Pushgateway, console, Prometheus text file, host callbacks) and host
// metric producers, over the C ABI in ferrometer.h.
//
//   auto exporter = ferrometer::Exporter::Pushgateway({"http://127.0.0.1:9091", "nightly"});
//   exporter.Export(reader.Collect());
//
//   auto reg = ferrometer::RegisterProducer(provider, "host", [](ferrometer::ProducerBatch& b) {
//     b.Add(ferrometer::ProducedMetric{"queue.depth"}, int64_t{7}, {{"queue", "io"}});
//     return true;
//   });
//
// Conventions are those of ferrometer.hpp: constructors and factories throw
// ferrometer::Error; callbacks must not let exceptions escape (the
// trampolines here catch them and report failure).
#ifndef FERROMETER_EXPORTERS_HPP
#define FERROMETER_EXPORTERS_HPP

#include "ferrometer.hpp"

#include <cmath>
#include <limits>

namespace ferrometer {

/// A snapshot borrowed for the duration of a snapshot-exporter callback.
class SnapshotView {
 public:
  explicit SnapshotView(const fm_snapshot* s) noexcept : s_(s) {}
  size_t MetricCount() const noexcept { return fm_snapshot_metric_count(s_); }
  Metric MetricAt(size_t i) const noexcept { return Metric(fm_snapshot_metric(s_, i)); }
  std::optional<Metric> Find(std::string_view name) const noexcept {
    const fm_metric* m = fm_snapshot_find_metric(s_, name.data(), name.size());
    return m ? std::optional<Metric>(Metric(m)) : std::nullopt;
  }
  AttributeSetView Resource() const noexcept { return AttributeSetView(fm_snapshot_resource(s_)); }
  const fm_snapshot* get() const noexcept { return s_; }

 private:
  const fm_snapshot* s_;
};

/// Configuration of a Pushgateway exporter.
struct PushgatewayOptions {
  PushgatewayOptions(std::string url_, std::string job_) : url(std::move(url_)), job(std::move(job_)) {}
  std::string url;  ///< e.g. "http://127.0.0.1:9091"
  std::string job;
  std::vector<std::pair<std::string, std::string>> grouping;  ///< after job
  bool post = false;                ///< POST (merge) instead of PUT (replace)
  bool delete_on_shutdown = false;  ///< DELETE the group at shutdown
  std::chrono::milliseconds timeout{10000};
  std::vector<std::pair<std::string, std::string>> headers;
};

/// Called with each encoded snapshot; return false when sending failed.
using BytesCallback = std::function<bool(std::string_view bytes, std::string_view content_type)>;
/// Called with each snapshot; return false when exporting failed.
using SnapshotCallback = std::function<bool(const SnapshotView& snapshot)>;

/// Encodings for Exporter::Bytes (FM_WIRE_FORMAT_*).
enum class WireFormat : fm_wire_format {
  kPrometheusText = FM_WIRE_FORMAT_PROMETHEUS_TEXT,
  kOpenMetrics = FM_WIRE_FORMAT_OPENMETRICS,
  kOtlpProtobuf = FM_WIRE_FORMAT_OTLP_PROTOBUF,
  kOtlpJson = FM_WIRE_FORMAT_OTLP_JSON,
};

/// What a full export queue does.
enum class QueuePolicy : fm_queue_policy {
  kDropNewest = FM_QUEUE_POLICY_DROP_NEWEST,
  kDropOldest = FM_QUEUE_POLICY_DROP_OLDEST,
};

/// Configuration of the export pipeline behind a pipeline exporter
/// (MakeOtlpPipelineExporter): a bounded queue, batching, a retry time
/// limit per batch, a circuit breaker and self-metrics. Unset fields keep
/// the defaults (262144 points / 32 MiB, drop newest, never wait, batches
/// of 8192 points / 4 MiB, 60 s, 5 failures / 5 s, self-metrics on, 2
/// encoding threads).
struct PipelineOptions {
  std::optional<std::uint64_t> max_queue_points;
  std::optional<std::uint64_t> max_queue_bytes;
  std::optional<QueuePolicy> policy;
  /// How long an export may wait for room before the policy applies.
  std::chrono::milliseconds max_block{0};
  std::optional<std::uint64_t> batch_max_points;
  std::optional<std::uint64_t> batch_max_bytes;
  std::optional<std::chrono::milliseconds> max_elapsed;
  /// Consecutive failures that open the circuit (0 disables it).
  std::optional<std::uint32_t> breaker_threshold;
  std::optional<std::chrono::milliseconds> breaker_cooldown;
  bool self_metrics = true;
  std::optional<std::uint32_t> encode_threads;
};

/// Counters of a pipeline exporter (see fm_pipeline_stats in ferrometer.h).
using PipelineStats = fm_pipeline_stats;

namespace detail {

/// Fills C pipeline options; `st` is the first failure.
inline fm_status MakePipelineOptions(const PipelineOptions& o, fm_pipeline_options** out) {
  fm_pipeline_options* raw = nullptr;
  fm_status st = fm_pipeline_options_new(&raw);
  if (st != FM_STATUS_OK) return st;
  Owned<fm_pipeline_options, fm_pipeline_options_release> opts(raw);
  auto chain = [&st](fm_status next) {
    if (st == FM_STATUS_OK) st = next;
  };
  if (o.max_queue_points || o.max_queue_bytes)
    chain(fm_pipeline_options_set_queue_limits(raw, o.max_queue_points.value_or(262144),
                                               o.max_queue_bytes.value_or(std::uint64_t{32} << 20)));
  chain(fm_pipeline_options_set_queue_policy(raw,
                                             static_cast<fm_queue_policy>(o.policy.value_or(QueuePolicy::kDropNewest)),
                                             static_cast<std::uint64_t>(o.max_block.count())));
  if (o.batch_max_points || o.batch_max_bytes)
    chain(fm_pipeline_options_set_batch_limits(raw, o.batch_max_points.value_or(8192),
                                               o.batch_max_bytes.value_or(std::uint64_t{4} << 20)));
  if (o.max_elapsed)
    chain(fm_pipeline_options_set_max_elapsed_ms(raw, static_cast<std::uint64_t>(o.max_elapsed->count())));
  if (o.breaker_threshold || o.breaker_cooldown)
    chain(fm_pipeline_options_set_circuit_breaker(
        raw, o.breaker_threshold.value_or(5),
        static_cast<std::uint64_t>(o.breaker_cooldown.value_or(std::chrono::milliseconds(5000)).count())));
  chain(fm_pipeline_options_set_self_metrics(raw, o.self_metrics));
  if (o.encode_threads) chain(fm_pipeline_options_set_encode_threads(raw, *o.encode_threads));
  if (st == FM_STATUS_OK) *out = opts.release();
  return st;
}

}  // namespace detail

/// A push exporter (move-only). Give it to a periodic reader, or drive it
/// with Export() on snapshots of a ManualReader whose temporality is
/// Temporality().
class Exporter {
 public:
  explicit Exporter(fm_exporter* e) noexcept : h_(e) {}

  static Exporter Pushgateway(const PushgatewayOptions& o) {
    auto opts = PushgatewayOptionsFor(o);
    fm_exporter* e = nullptr;
    detail::Check(fm_pushgateway_exporter_new(opts.get(), &e));
    return Exporter(e);
  }

  /// The Pushgateway exporter behind the export pipeline: pushes are queued
  /// and sent by a worker thread with retries, Retry-After and a circuit
  /// breaker; Stats() gives the counters.
  static Exporter PushgatewayPipeline(const PushgatewayOptions& o, const PipelineOptions& p = {}) {
    auto opts = PushgatewayOptionsFor(o);
    fm_pipeline_options* praw = nullptr;
    detail::Check(detail::MakePipelineOptions(p, &praw));
    detail::Owned<fm_pipeline_options, fm_pipeline_options_release> popts(praw);
    fm_exporter* e = nullptr;
    detail::Check(fm_pushgateway_pipeline_exporter_new(opts.get(), praw, &e));
    return Exporter(e);
  }

  /// Exporter::Bytes behind the export pipeline: `f` runs on the pipeline's
  /// worker thread, once per request (OTLP protobuf is split into bounded
  /// batches); returning false retries it with the pipeline's policy.
  static Exporter BytesPipeline(WireFormat format, BytesCallback f, Temporality t = Temporality::kCumulative,
                                const PipelineOptions& p = {}) {
    fm_pipeline_options* praw = nullptr;
    detail::Check(detail::MakePipelineOptions(p, &praw));
    detail::Owned<fm_pipeline_options, fm_pipeline_options_release> popts(praw);
    auto* user = new BytesCallback(std::move(f));
    fm_exporter* e = nullptr;
    fm_status st =
        fm_bytes_pipeline_exporter_new(static_cast<fm_wire_format>(format), static_cast<fm_temporality_preference>(t),
                                       &BytesTrampoline, user, &Free<BytesCallback>, praw, &e);
    if (st != FM_STATUS_OK) delete user;  // not taken on failure
    detail::Check(st);
    return Exporter(e);
  }

 private:
  static detail::Owned<fm_pushgateway_options, fm_pushgateway_options_release> PushgatewayOptionsFor(
      const PushgatewayOptions& o) {
    fm_pushgateway_options* raw = nullptr;
    detail::Check(fm_pushgateway_options_new(o.url.data(), o.url.size(), o.job.data(), o.job.size(), &raw));
    detail::Owned<fm_pushgateway_options, fm_pushgateway_options_release> opts(raw);
    for (const auto& [k, v] : o.grouping)
      detail::Check(fm_pushgateway_options_add_grouping_label(raw, k.data(), k.size(), v.data(), v.size()));
    for (const auto& [k, v] : o.headers)
      detail::Check(fm_pushgateway_options_add_header(raw, k.data(), k.size(), v.data(), v.size()));
    detail::Check(fm_pushgateway_options_set_method(raw, o.post ? FM_PUSH_METHOD_POST : FM_PUSH_METHOD_PUT));
    detail::Check(fm_pushgateway_options_set_delete_on_shutdown(raw, o.delete_on_shutdown));
    detail::Check(fm_pushgateway_options_set_timeout_ms(raw, static_cast<uint64_t>(o.timeout.count())));
    return opts;
  }

 public:

  /// Readable output on stdout, one block per metric.
  static Exporter Console(Temporality t = Temporality::kCumulative) {
    fm_exporter* e = nullptr;
    detail::Check(fm_console_exporter_new(static_cast<fm_temporality_preference>(t), &e));
    return Exporter(e);
  }

  /// Prometheus text written atomically to `path` (for node_exporter's textfile collector).
  static Exporter TextFile(std::string_view path) {
    fm_exporter* e = nullptr;
    detail::Check(fm_textfile_exporter_new(path.data(), path.size(), &e));
    return Exporter(e);
  }

  /// Hands each encoded snapshot to `f`.
  static Exporter Bytes(WireFormat format, BytesCallback f, Temporality t = Temporality::kCumulative) {
    auto* user = new BytesCallback(std::move(f));
    fm_exporter* e = nullptr;
    fm_status st = fm_bytes_exporter_new(static_cast<fm_wire_format>(format), static_cast<fm_temporality_preference>(t),
                                         &BytesTrampoline, user, &Free<BytesCallback>, &e);
    if (st != FM_STATUS_OK) delete user;  // not taken on failure
    detail::Check(st);
    return Exporter(e);
  }

  /// Hands each snapshot to `f` to walk.
  static Exporter Snapshots(SnapshotCallback f, Temporality t = Temporality::kCumulative) {
    auto* user = new SnapshotCallback(std::move(f));
    fm_exporter* e = nullptr;
    fm_status st = fm_snapshot_exporter_new(static_cast<fm_temporality_preference>(t), &SnapshotTrampoline, user,
                                            &Free<SnapshotCallback>, &e);
    if (st != FM_STATUS_OK) delete user;
    detail::Check(st);
    return Exporter(e);
  }

  /// Exports `s` now. Throws Error (FM_STATUS_FAILED, FM_STATUS_TIMEOUT).
  void Export(const Snapshot& s, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const {
    detail::Check(fm_exporter_export(h_.get(), s.get(), static_cast<uint64_t>(timeout.count())));
  }
  /// Export() without exceptions.
  fm_status TryExport(const Snapshot& s, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const noexcept {
    return fm_exporter_export(h_.get(), s.get(), static_cast<uint64_t>(timeout.count()));
  }
  /// Flushes what the exporter holds, within `timeout`. Never throws
  /// (destructors and exit paths call it): the result carries the status
  /// and message. The exporter does not count points at this level
  /// (undelivered_points() is 0): a provider's ForceFlush() does.
  FlushResult ForceFlush(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    return detail::Flushed(fm_exporter_force_flush(h_.get(), static_cast<uint64_t>(timeout.count())), 0);
  }
  /// Shuts the exporter down within `timeout`; as ForceFlush(), never
  /// throws.
  FlushResult Shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    return detail::Flushed(fm_exporter_shutdown(h_.get(), static_cast<uint64_t>(timeout.count())), 0);
  }
  ferrometer::Temporality Temporality() const noexcept {
    return static_cast<ferrometer::Temporality>(fm_exporter_temporality(h_.get()));
  }
  const fm_exporter* get() const noexcept { return h_.get(); }

  /// The counters of a pipeline exporter; std::nullopt for other exporters.
  std::optional<PipelineStats> Stats() const noexcept {
    PipelineStats s{};
    if (fm_exporter_pipeline_stats(h_.get(), &s) != FM_STATUS_OK) return std::nullopt;
    return s;
  }

 private:
  template <class F>
  static void Free(void* p) noexcept {
    delete static_cast<F*>(p);
  }
  static bool BytesTrampoline(const uint8_t* data, size_t len, const char* ct, void* user) noexcept {
    FERROMETER_TRY {
      return (*static_cast<BytesCallback*>(user))(
          std::string_view(reinterpret_cast<const char*>(data), len), ct ? std::string_view(ct) : std::string_view());
    } FERROMETER_CATCH_ALL {
      return false;
    }
  }
  static bool SnapshotTrampoline(const fm_snapshot* s, void* user) noexcept {
    FERROMETER_TRY {
      return (*static_cast<SnapshotCallback*>(user))(SnapshotView(s));
    } FERROMETER_CATCH_ALL {
      return false;
    }
  }
  detail::Owned<fm_exporter, fm_exporter_release> h_;
};

/// Attaches a periodic reader to `provider`: a background thread collects
/// every `interval` and exports through `exporter` with a deadline of
/// `timeout` (zero: OTEL_METRIC_EXPORT_INTERVAL / _TIMEOUT, else 60 s / 30 s).
/// provider.ForceFlush() exports now; provider.Shutdown() does a last export.
/// Throws Error (FM_STATUS_SHUTDOWN after shutdown).
/// AddPeriodicReader without exceptions: the status (FM_STATUS_OK on
/// success; the message is fm_last_error_message() on this thread).
[[nodiscard]] inline fm_status TryAddPeriodicReader(const MeterProvider& provider, const Exporter& exporter,
                                                    std::chrono::milliseconds interval = std::chrono::milliseconds(0),
                                                    std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) noexcept {
  return fm_provider_add_periodic_reader(provider.get(), exporter.get(), static_cast<uint64_t>(interval.count()),
                                         static_cast<uint64_t>(timeout.count()));
}

inline void AddPeriodicReader(const MeterProvider& provider, const Exporter& exporter,
                              std::chrono::milliseconds interval = std::chrono::milliseconds(0),
                              std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
  detail::Check(fm_provider_add_periodic_reader(provider.get(), exporter.get(),
                                                static_cast<uint64_t>(interval.count()),
                                                static_cast<uint64_t>(timeout.count())));
}

// --------------------------------------------------------------- producers

/// Shape of a produced metric.
enum class ProducedKind : fm_produced_kind {
  kGauge = FM_PRODUCED_GAUGE,
  kCounter = FM_PRODUCED_COUNTER,
  kUpDownCounter = FM_PRODUCED_UP_DOWN_COUNTER,
  kHistogram = FM_PRODUCED_HISTOGRAM,
  kExponentialHistogram = FM_PRODUCED_EXPONENTIAL_HISTOGRAM,
};

/// The values of one base2 exponential histogram point (see
/// fm_exponential_histogram_value): bucket `offset + k` of a range counts
/// the magnitudes in (base^(offset+k), base^(offset+k+1)], base = 2^(2^-scale).
struct ExponentialHistogramValue {
  int32_t scale = 0;
  uint64_t zero_count = 0;
  double zero_threshold = 0.0;
  int32_t positive_offset = 0;
  std::vector<uint64_t> positive_counts;
  int32_t negative_offset = 0;
  std::vector<uint64_t> negative_counts;
  double sum = 0.0;
  std::optional<std::pair<double, double>> min_max;

  /// zero_count plus both ranges' counts (what `count` must be).
  uint64_t Count() const noexcept {
    uint64_t n = zero_count;
    for (uint64_t c : positive_counts) n += c;
    for (uint64_t c : negative_counts) n += c;
    return n;
  }
};

/// Describes a produced metric (build once, pass with every point).
struct ProducedMetric {
  explicit ProducedMetric(std::string name_, ProducedKind kind_ = ProducedKind::kGauge, std::string description_ = {},
                          std::string unit_ = {}, bool delta_ = false)
      : name(std::move(name_)),
        kind(kind_),
        description(std::move(description_)),
        unit(std::move(unit_)),
        delta(delta_) {}
  std::string name;
  ProducedKind kind = ProducedKind::kGauge;
  std::string description;
  std::string unit;
  bool delta = false;  ///< delta temporality (sums and histograms)

  fm_produced_metric raw() const noexcept {
    return fm_produced_metric{fm_str{name.data(), name.size()}, fm_str{description.data(), description.size()},
                              fm_str{unit.data(), unit.size()}, static_cast<fm_produced_kind>(kind),
                              static_cast<uint32_t>(delta ? FM_TEMPORALITY_DELTA : FM_TEMPORALITY_CUMULATIVE)};
  }
};

/// The points of one collection (valid inside the producer callback only).
/// Add* return FM_STATUS_OK, or the reason the point was refused
/// (fm_last_error_message() has the text; a diagnostic was emitted too).
class ProducerBatch {
 public:
  explicit ProducerBatch(fm_producer_batch* b) noexcept : b_(b) {}
  using TimePoint = std::chrono::system_clock::time_point;

  fm_status Add(const ProducedMetric& m, int64_t v, Attributes attrs = {}, std::optional<TimePoint> t = {},
                std::optional<TimePoint> start = {}) noexcept {
    fm_number_value value;
    value.i64 = v;
    return AddRaw(m, FM_NUMBER_I64, value, attrs, t, start);
  }
  fm_status Add(const ProducedMetric& m, uint64_t v, Attributes attrs = {}, std::optional<TimePoint> t = {},
                std::optional<TimePoint> start = {}) noexcept {
    fm_number_value value;
    value.u64 = v;
    return AddRaw(m, FM_NUMBER_U64, value, attrs, t, start);
  }
  fm_status Add(const ProducedMetric& m, double v, Attributes attrs = {}, std::optional<TimePoint> t = {},
                std::optional<TimePoint> start = {}) noexcept {
    fm_number_value value;
    value.f64 = v;
    return AddRaw(m, FM_NUMBER_F64, value, attrs, t, start);
  }
  /// Per-bucket (not cumulative) counts, bounds.size() + 1 of them.
  fm_status AddHistogram(const ProducedMetric& m, const std::vector<double>& bounds,
                         const std::vector<uint64_t>& bucket_counts, double sum, Attributes attrs = {},
                         std::optional<TimePoint> t = {}, std::optional<TimePoint> start = {},
                         std::optional<std::pair<double, double>> min_max = {}) noexcept {
    fm_produced_metric raw = m.raw();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    return fm_producer_batch_add_histogram(b_, &raw, detail::Data(attrs.begin()), attrs.size(), bounds.data(),
                                           bounds.size(), bucket_counts.data(), bucket_counts.size(), sum,
                                           min_max ? min_max->first : nan, min_max ? min_max->second : nan,
                                           t ? detail::ToUnixNanos(*t) : 0, start ? detail::ToUnixNanos(*start) : 0);
  }
  /// An exponential histogram point; `count` defaults to v.Count().
  fm_status AddExponentialHistogram(const ProducedMetric& m, const ExponentialHistogramValue& v,
                                    Attributes attrs = {}, std::optional<TimePoint> t = {},
                                    std::optional<TimePoint> start = {},
                                    std::optional<uint64_t> count = {}) noexcept {
    fm_produced_metric raw = m.raw();
    const double nan = std::numeric_limits<double>::quiet_NaN();
    fm_exponential_histogram_value value{};
    value.scale = v.scale;
    value.count = count ? *count : v.Count();
    value.sum = v.sum;
    value.min = v.min_max ? v.min_max->first : nan;
    value.max = v.min_max ? v.min_max->second : nan;
    value.zero_count = v.zero_count;
    value.zero_threshold = v.zero_threshold;
    value.positive_offset = v.positive_offset;
    value.positive_counts = v.positive_counts.data();
    value.positive_len = v.positive_counts.size();
    value.negative_offset = v.negative_offset;
    value.negative_counts = v.negative_counts.data();
    value.negative_len = v.negative_counts.size();
    return fm_producer_batch_add_exponential_histogram(b_, &raw, detail::Data(attrs.begin()), attrs.size(), &value,
                                                       t ? detail::ToUnixNanos(*t) : 0,
                                                       start ? detail::ToUnixNanos(*start) : 0);
  }
  uint64_t ReaderId() const noexcept { return fm_producer_batch_reader_id(b_); }
  uint64_t CollectionTime() const noexcept { return fm_producer_batch_collection_time(b_); }
  fm_producer_batch* get() const noexcept { return b_; }

 private:
  fm_status AddRaw(const ProducedMetric& m, fm_number_type type, fm_number_value v, Attributes attrs,
                   std::optional<TimePoint> t, std::optional<TimePoint> start) noexcept {
    fm_produced_metric raw = m.raw();
    return fm_producer_batch_add_number(b_, &raw, detail::Data(attrs.begin()), attrs.size(), type, v,
                                        t ? detail::ToUnixNanos(*t) : 0, start ? detail::ToUnixNanos(*start) : 0);
  }
  fm_producer_batch* b_;
};

/// A producer: adds this collection's points; return false to drop them all.
using Producer = std::function<bool(ProducerBatch& batch)>;

/// Keeps a producer registered; the destructor unregisters it (waiting for
/// a call in progress). Move-only.
class ProducerRegistration {
 public:
  ProducerRegistration(const MeterProvider& provider, std::string_view scope, Producer f,
                       std::string_view scope_version = {})
      : f_(std::make_unique<Producer>(std::move(f))) {
    fm_producer_registration* r = nullptr;
    detail::Check(fm_provider_register_producer(provider.get(), scope.data(), scope.size(), scope_version.data(),
                                                scope_version.size(), &Trampoline, f_.get(), &r));
    h_.reset(r);
  }
  /// Points of this producer refused so far.
  uint64_t Refused() const noexcept { return fm_producer_registration_refused(h_.get()); }
  /// Unregisters now (idempotent; the destructor does it too).
  void Unregister() noexcept { h_.reset(); }

 private:
  static bool Trampoline(fm_producer_batch* b, void* user) noexcept {
    FERROMETER_TRY {
      ProducerBatch batch(b);
      return (*static_cast<Producer*>(user))(batch);
    } FERROMETER_CATCH_ALL {
      return false;
    }
  }
  // Declared first, destroyed last: the registration is released (and any
  // running call finished) before the function is destroyed.
  std::unique_ptr<Producer> f_;
  detail::Owned<fm_producer_registration, fm_producer_registration_release> h_;
};

/// Registers `f` as a metric producer of `provider` under scope `scope`.
inline ProducerRegistration RegisterProducer(const MeterProvider& provider, std::string_view scope, Producer f) {
  return ProducerRegistration(provider, scope, std::move(f));
}

}  // namespace ferrometer

#endif  // FERROMETER_EXPORTERS_HPP
