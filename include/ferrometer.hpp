// ferrometer.hpp: header-only C++17 RAII wrapper over the ferrometer C ABI
// (ferrometer.h), with the names an opentelemetry-cpp user already knows.
//
//   ferrometer::ManualReader reader;
//   ferrometer::MeterProvider provider(reader);
//   auto meter = provider.GetMeter("game", "1.0");
//   auto requests = meter.CreateUInt64Counter("requests", "Requests served", "{request}");
//   requests.Add(1, {{"route", "/play"}, {"code", 200}});
//
// Conventions
// - Creation and configuration calls throw ferrometer::Error (derived from
//   std::runtime_error) carrying the fm_status code and the library's
//   message. The Try* variants (TryCreateUInt64Counter, TryGetMeter,
//   TryBuild, TryBind, TryCollect, ...) return ferrometer::Result<T>
//   instead of throwing. MeterProvider::Shutdown() and ForceFlush() never
//   throw: they return a FlushResult (status and undelivered points).
// - SetDiagnosticsHandler / ScopedDiagnosticsHandler route the SDK's
//   warnings and errors to a std::function.
// - Hot-path calls (Add, Record, Observe) are noexcept and inline into one C
//   call: invalid input (NaN, negative counter increments, empty keys or
//   invalid UTF-8 in attributes) is dropped and counted
//   (MeterProvider::Rejected()), never reported by exception.
// - Every handle class is move-only and releases its C handle in its
//   destructor. Instruments may outlive their Meter and MeterProvider
//   objects: destroying the last MeterProvider shuts the provider down
//   (final export included, 5 s deadline); measurements after shutdown
//   are counted, not recorded.
// - Attribute keys and string values are borrowed for the duration of the
//   call only; the library copies what it keeps.
// - Callbacks (AddCallback, RegisterCallback) run on the thread that
//   collects; exceptions they throw are caught and swallowed at the boundary.
//   One callback type, `void cb(ferrometer::ObserverResult, void* state)`,
//   serves every observable kind; RemoveCallback(cb, state) removes one
//   registration of that pair.
// - Recording calls also take a std::map, std::unordered_map, vector of
//   pairs or any iterable of key/value pairs (no allocation up to 16).
// - Provider::GetMeterProvider() is the global provider for libraries:
//   its instruments are no-ops until the host calls
//   Provider::SetMeterProvider(provider), then record there, whenever they
//   were created (see Provider for setting twice, ownership, shutdown).
// - Builds without exceptions (-fno-exceptions; detected with
//   __cpp_exceptions, or forced with FERROMETER_NO_EXCEPTIONS): every
//   header compiles and works, the Try* forms and FlushResult are the API,
//   and a throwing form that fails prints "ferrometer: <message>" on stderr
//   and calls std::abort() instead of throwing (its failure is a
//   programming error there: use the Try* form where failure is expected).
#ifndef FERROMETER_HPP
#define FERROMETER_HPP

#if !defined(FERROMETER_NO_EXCEPTIONS) && !defined(__cpp_exceptions)
#define FERROMETER_NO_EXCEPTIONS 1
#endif
#if defined(FERROMETER_NO_EXCEPTIONS)
// No try/catch: a callback cannot throw when nothing can.
#define FERROMETER_TRY if (true)
#define FERROMETER_CATCH_ALL else
#else
#define FERROMETER_TRY try
#define FERROMETER_CATCH_ALL catch (...)
#endif

#include "ferrometer.h"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace ferrometer {

/// Thrown by creation and configuration calls that fail; `status()` is the
/// C status code, `what()` the library's message.
class Error : public std::runtime_error {
 public:
  Error(fm_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  fm_status status() const noexcept { return status_; }

 private:
  fm_status status_;
};

namespace detail {

/// Reports a failure of a throwing form: throws Error, or, without
/// exceptions, prints the message and aborts.
[[noreturn]] inline void Raise(fm_status s, const std::string& message) {
#if defined(FERROMETER_NO_EXCEPTIONS)
  (void)s;
  std::fprintf(stderr, "ferrometer: %s\n", message.c_str());
  std::abort();
#else
  throw Error(s, message);
#endif
}

inline void Check(fm_status s) {
  if (s != FM_STATUS_OK) {
    const char* m = fm_last_error_message();
    Raise(s, std::string(fm_status_message(s)) + ": " + (m ? m : ""));
  }
}

/// The error a failed call reports: the status's text plus the thread's
/// last error message (what Error::what() and Result::message() carry).
inline std::string Message(fm_status s) {
  const char* m = fm_last_error_message();
  return std::string(fm_status_message(s)) + ": " + (m ? m : "");
}

template <class T, void (*Release)(T*)>
struct Deleter {
  void operator()(T* p) const noexcept { Release(p); }
};

template <class T, void (*Release)(T*)>
using Owned = std::unique_ptr<T, Deleter<T, Release>>;

inline std::string_view View(fm_str s) noexcept {
  return s.len == 0 ? std::string_view() : std::string_view(s.ptr, s.len);
}

inline uint64_t ToUnixNanos(std::chrono::system_clock::time_point t) noexcept {
  auto d = std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
  return d < 0 ? 0 : static_cast<uint64_t>(d);
}

}  // namespace detail

/// The outcome of a non-throwing creation call (the `Try*` variants, e.g.
/// Meter::TryCreateUInt64Counter, MeterProvider::TryGetMeter,
/// MeterProvider::Builder::TryBuild): either a value or the fm_status and
/// message the library reported. The `Try*` functions themselves never
/// throw ferrometer::Error (std::bad_alloc can still escape, as from any
/// allocation).
///
///   auto counter = meter.TryCreateUInt64Counter("requests");
///   if (!counter) { log(counter.message()); return; }
///   counter->Add(1);
template <class T>
class [[nodiscard]] Result {
 public:
  /// A success holding `value`.
  Result(T value) : value_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  /// A failure; `status` must not be FM_STATUS_OK.
  static Result Failure(fm_status status, std::string message) {
    return Result(status == FM_STATUS_OK ? FM_STATUS_FAILED : status, std::move(message));
  }

  /// True on success.
  bool ok() const noexcept { return value_.has_value(); }
  explicit operator bool() const noexcept { return ok(); }
  /// FM_STATUS_OK on success, the library's status otherwise.
  fm_status status() const noexcept { return status_; }
  /// "" on success; otherwise the status text and the library's message.
  const std::string& message() const noexcept { return message_; }

  /// The value; throws Error when this is a failure (like
  /// std::optional::value; without exceptions: aborts with the message).
  T& value() & {
    ThrowIfFailed();
    return *value_;
  }
  const T& value() const& {
    ThrowIfFailed();
    return *value_;
  }
  T&& value() && {
    ThrowIfFailed();
    return std::move(*value_);
  }
  /// Unchecked access: only after ok() returned true.
  T& operator*() & noexcept { return *value_; }
  const T& operator*() const& noexcept { return *value_; }
  T&& operator*() && noexcept { return std::move(*value_); }
  T* operator->() noexcept { return &*value_; }
  const T* operator->() const noexcept { return &*value_; }

 private:
  Result(fm_status status, std::string message) : status_(status), message_(std::move(message)) {}
  void ThrowIfFailed() const {
    if (!ok()) detail::Raise(status_, message_);
  }

  std::optional<T> value_;
  fm_status status_ = FM_STATUS_OK;
  std::string message_;
};

namespace detail {
/// A non-negative duration in whole milliseconds.
inline uint64_t Millis(std::chrono::milliseconds d) noexcept {
  return d.count() < 0 ? 0 : static_cast<uint64_t>(d.count());
}
/// The failed Result of a call that returned `s`.
template <class T>
Result<T> Fail(fm_status s) {
  return Result<T>::Failure(s, Message(s));
}
}  // namespace detail

/// One attribute: a key and a string, integer, double or bool value, laid
/// out exactly like the C `fm_attribute` (so a list of them is passed to
/// the library without conversion). Borrows the strings it is built from.
class Attribute {
 public:
  Attribute(std::string_view key, std::string_view value) noexcept : raw_() {
    SetKey(key);
    raw_.type_ = FM_VALUE_STRING;
    raw_.value.str = fm_str{value.data(), value.size()};
  }
  Attribute(std::string_view key, const char* value) noexcept
      : Attribute(key, value ? std::string_view(value) : std::string_view()) {}
  Attribute(std::string_view key, const std::string& value) noexcept
      : Attribute(key, std::string_view(value)) {}
  Attribute(std::string_view key, bool value) noexcept : raw_() {
    SetKey(key);
    raw_.type_ = FM_VALUE_BOOL;
    raw_.value.boolean = value;
  }
  Attribute(std::string_view key, double value) noexcept : raw_() {
    SetKey(key);
    raw_.type_ = FM_VALUE_F64;
    raw_.value.f64 = value;
  }
  Attribute(std::string_view key, float value) noexcept
      : Attribute(key, static_cast<double>(value)) {}
  template <class I, std::enable_if_t<std::is_integral_v<I> && !std::is_same_v<I, bool>, int> = 0>
  Attribute(std::string_view key, I value) noexcept : raw_() {
    SetKey(key);
    raw_.type_ = FM_VALUE_I64;
    raw_.value.i64 = static_cast<int64_t>(value);
  }
  /// From a raw C attribute (for example a key with invalid UTF-8, in tests).
  explicit Attribute(const fm_attribute& raw) noexcept : raw_(raw) {}

  /// An attribute whose key and string value are string literals, marked
  /// `FM_VALUE_STATIC`: the library keeps the pointers instead of copying
  /// the strings, and later calls with the same literals match by address
  /// without reading the bytes. Only for strings that are never modified
  /// or freed (the literal's trailing NUL is not part of the string).
  template <std::size_t N, std::size_t M>
  static Attribute Literal(const char (&key)[N], const char (&value)[M]) noexcept {
    return Static(Attribute(std::string_view(key, N - 1), std::string_view(value, M - 1)));
  }
  /// A literal key with an integer, double or bool value (the flag covers
  /// the key).
  template <std::size_t N, class V, std::enable_if_t<std::is_arithmetic_v<V>, int> = 0>
  static Attribute Literal(const char (&key)[N], V value) noexcept {
    return Static(Attribute(std::string_view(key, N - 1), value));
  }

  const fm_attribute& raw() const noexcept { return raw_; }

 private:
  static Attribute Static(Attribute a) noexcept {
    a.raw_.type_ |= FM_VALUE_STATIC;
    return a;
  }
  void SetKey(std::string_view key) noexcept {
    // A non-NULL pointer even for an empty key (NULL keys are invalid, and
    // so are empty ones: the library counts and drops both).
    raw_.key = key.data() ? key.data() : "";
    raw_.key_len = key.size();
  }
  fm_attribute raw_;
};

static_assert(sizeof(Attribute) == sizeof(fm_attribute), "Attribute must wrap fm_attribute exactly");
static_assert(std::is_standard_layout_v<Attribute>, "Attribute must be standard layout");

/// A list of attributes, as accepted by every recording call.
using Attributes = std::initializer_list<Attribute>;

namespace detail {
inline const fm_attribute* Data(const Attribute* a) noexcept {
  return reinterpret_cast<const fm_attribute*>(a);
}

/// True for a container whose elements have `first` (a key) and `second`
/// (a string, integer, double or bool value): std::map, std::unordered_map,
/// std::vector<std::pair<...>>, and any iterable of pairs. Its iterators
/// must yield references (the strings are borrowed until the call returns,
/// so pairs made on the fly would be gone before the library reads them).
template <class C, class = void>
struct IsKeyValues : std::false_type {};
template <class C>
struct IsKeyValues<C, std::void_t<decltype(std::begin(std::declval<const C&>()) != std::end(std::declval<const C&>())),
                                  decltype(std::begin(std::declval<const C&>())->first),
                                  decltype(std::begin(std::declval<const C&>())->second)>>
    : std::bool_constant<std::is_lvalue_reference_v<decltype(*std::begin(std::declval<const C&>()))> &&
                         std::is_constructible_v<Attribute, decltype((std::begin(std::declval<const C&>())->first)),
                                                 decltype((std::begin(std::declval<const C&>())->second))>> {};
template <class C>
using EnableIfKeyValues = std::enable_if_t<IsKeyValues<C>::value, int>;

/// Up to this many key/value pairs are converted on the stack; a larger
/// container costs one allocation per call.
inline constexpr std::size_t kStackAttributes = 16;

template <class C, class F>
void WithManyKeyValues(const C& kvs, F& f) noexcept {
  std::vector<fm_attribute> a;
  for (const auto& kv : kvs) a.push_back(Attribute(kv.first, kv.second).raw());
  f(static_cast<const fm_attribute*>(a.data()), a.size());
}

/// Calls `f(attrs, n)` with the pairs of `kvs` as C attributes (borrowing
/// their strings), without allocating for up to kStackAttributes pairs.
template <class C, class F>
void WithKeyValues(const C& kvs, F&& f) noexcept {
  fm_attribute a[kStackAttributes];
  std::size_t n = 0;
  for (const auto& kv : kvs) {
    if (n == kStackAttributes) return WithManyKeyValues(kvs, f);
    a[n++] = Attribute(kv.first, kv.second).raw();
  }
  f(static_cast<const fm_attribute*>(a), n);
}
}  // namespace detail

/// A prepared (validated, copied, canonical) attribute set: recording with
/// it skips attribute validation and copying.
class AttributeSet {
 public:
  AttributeSet(Attributes attrs) : AttributeSet(attrs.begin(), attrs.size()) {}
  AttributeSet(const std::vector<Attribute>& attrs) : AttributeSet(attrs.data(), attrs.size()) {}
  AttributeSet(const Attribute* attrs, size_t n) {
    fm_attribute_set* s = nullptr;
    detail::Check(fm_attribute_set_new(detail::Data(attrs), n, &s));
    h_.reset(s);
  }
  size_t size() const noexcept { return fm_attribute_set_len(h_.get()); }
  const fm_attribute_set* get() const noexcept { return h_.get(); }

 private:
  detail::Owned<fm_attribute_set, fm_attribute_set_release> h_;
};

/// A read-only view of an attribute set owned by a snapshot.
class AttributeSetView {
 public:
  explicit AttributeSetView(const fm_attribute_set* s) noexcept : s_(s) {}
  size_t size() const noexcept { return fm_attribute_set_len(s_); }
  /// The raw attribute at `i` (sorted by key); strings borrowed from the snapshot.
  std::optional<fm_attribute> At(size_t i) const noexcept {
    fm_attribute a;
    if (fm_attribute_set_get(s_, i, &a) != FM_STATUS_OK) return std::nullopt;
    return a;
  }
  std::optional<fm_attribute> Find(std::string_view key) const noexcept {
    fm_attribute a;
    if (!fm_attribute_set_find(s_, key.data(), key.size(), &a)) return std::nullopt;
    return a;
  }
  std::optional<std::string_view> GetString(std::string_view key) const noexcept {
    auto a = Find(key);
    if (!a || a->type_ != FM_VALUE_STRING) return std::nullopt;
    return detail::View(a->value.str);
  }
  std::optional<int64_t> GetInt(std::string_view key) const noexcept {
    auto a = Find(key);
    if (!a || a->type_ != FM_VALUE_I64) return std::nullopt;
    return a->value.i64;
  }
  /// True when every given attribute is present with an equal value.
  bool Contains(Attributes attrs) const noexcept {
    for (const auto& want : attrs) {
      const fm_attribute& w = want.raw();
      auto a = Find(std::string_view(w.key, w.key_len));
      if (!a || a->type_ != w.type_) return false;
      switch (w.type_) {
        case FM_VALUE_STRING:
          if (detail::View(a->value.str) != detail::View(w.value.str)) return false;
          break;
        case FM_VALUE_I64:
          if (a->value.i64 != w.value.i64) return false;
          break;
        case FM_VALUE_F64:
          if (a->value.f64 != w.value.f64) return false;
          break;
        default:
          if (a->value.boolean != w.value.boolean) return false;
      }
    }
    return true;
  }

 private:
  const fm_attribute_set* s_;
};

// ---------------------------------------------------------------- snapshot

/// A trace context for exemplars: the W3C trace id, span (parent) id and
/// trace flags (bit 0: sampled). Pass one as the last argument of
/// Add/Record (where opentelemetry-cpp takes its context::Context), or make
/// it the thread's current context with SetCurrent or a TraceScope.
class TraceContext {
 public:
  /// No context (all-zero ids, not sampled).
  TraceContext() noexcept : c_{} {}
  TraceContext(const uint8_t (&trace_id)[16], const uint8_t (&span_id)[8], bool sampled) noexcept : c_{} {
    std::memcpy(c_.trace_id, trace_id, 16);
    std::memcpy(c_.span_id, span_id, 8);
    c_.flags = sampled ? 1 : 0;
  }
  explicit TraceContext(const fm_trace_context& c) noexcept : c_(c) {}
  /// The calling thread's current context (an empty one when none is set).
  static TraceContext Current() noexcept {
    fm_trace_context c{};
    fm_trace_context_current(&c);
    return TraceContext(c);
  }
  /// Makes `ctx` the calling thread's current context; returns the previous.
  static TraceContext SetCurrent(const TraceContext& ctx) noexcept {
    fm_trace_context prev{};
    fm_trace_context_set(&ctx.c_, &prev);
    return TraceContext(prev);
  }
  /// Clears the calling thread's current context; returns the previous.
  static TraceContext ClearCurrent() noexcept {
    fm_trace_context prev{};
    fm_trace_context_set(nullptr, &prev);
    return TraceContext(prev);
  }
  bool IsSampled() const noexcept { return (c_.flags & 1) != 0; }
  const uint8_t* TraceId() const noexcept { return c_.trace_id; }
  const uint8_t* SpanId() const noexcept { return c_.span_id; }
  const fm_trace_context* get() const noexcept { return &c_; }

 private:
  fm_trace_context c_;
};

/// Sets the calling thread's current trace context for a scope (a span's)
/// and restores the previous one when it ends.
class TraceScope {
 public:
  explicit TraceScope(const TraceContext& ctx) noexcept : prev_(TraceContext::SetCurrent(ctx)) {}
  ~TraceScope() { TraceContext::SetCurrent(prev_); }
  TraceScope(const TraceScope&) = delete;
  TraceScope& operator=(const TraceScope&) = delete;

 private:
  TraceContext prev_;
};

/// An exemplar of a snapshot's point: a measurement with the trace context
/// it was recorded in.
class Exemplar {
 public:
  explicit Exemplar(const fm_exemplar* e) noexcept : e_(e) {}
  TraceContext Context() const noexcept {
    fm_trace_context c{};
    fm_exemplar_trace_context(e_, &c);
    return TraceContext(c);
  }
  uint64_t Time() const noexcept { return fm_exemplar_time(e_); }
  fm_number_type ValueType() const noexcept { return fm_exemplar_value_type(e_); }
  double AsDouble() const noexcept { return fm_exemplar_as_f64(e_); }
  AttributeSetView FilteredAttributes() const noexcept {
    return AttributeSetView(fm_exemplar_filtered_attributes(e_));
  }

 private:
  const fm_exemplar* e_;
};

/// A sum or gauge point of a snapshot.
class NumberPoint {
 public:
  explicit NumberPoint(const fm_number_point* p) noexcept : p_(p) {}
  AttributeSetView Attributes() const noexcept { return AttributeSetView(fm_number_point_attributes(p_)); }
  fm_number_type ValueType() const noexcept { return fm_number_point_value_type(p_); }
  double AsDouble() const noexcept { return fm_number_point_as_f64(p_); }
  int64_t AsInt64() const noexcept { return fm_number_point_as_i64(p_); }
  uint64_t AsUInt64() const noexcept { return fm_number_point_as_u64(p_); }
  uint64_t StartTime() const noexcept { return fm_number_point_start_time(p_); }
  uint64_t Time() const noexcept { return fm_number_point_time(p_); }
  bool HasExplicitTime() const noexcept { return fm_number_point_has_explicit_time(p_); }

  size_t ExemplarCount() const noexcept { return fm_number_point_exemplar_count(p_); }
  Exemplar ExemplarAt(size_t i) const noexcept { return Exemplar(fm_number_point_exemplar(p_, i)); }
 private:
  const fm_number_point* p_;
};

/// A histogram point of a snapshot.
class HistogramPoint {
 public:
  explicit HistogramPoint(const fm_histogram_point* p) noexcept : p_(p) {}
  AttributeSetView Attributes() const noexcept { return AttributeSetView(fm_histogram_point_attributes(p_)); }
  uint64_t Count() const noexcept { return fm_histogram_point_count(p_); }
  double Sum() const noexcept { return fm_histogram_point_sum(p_); }
  std::optional<double> Min() const noexcept {
    double v;
    return fm_histogram_point_min(p_, &v) ? std::optional<double>(v) : std::nullopt;
  }
  std::optional<double> Max() const noexcept {
    double v;
    return fm_histogram_point_max(p_, &v) ? std::optional<double>(v) : std::nullopt;
  }
  std::vector<double> Bounds() const {
    size_t n = 0;
    const double* b = fm_histogram_point_bounds(p_, &n);
    return b ? std::vector<double>(b, b + n) : std::vector<double>();
  }
  std::vector<uint64_t> BucketCounts() const {
    size_t n = 0;
    const uint64_t* b = fm_histogram_point_bucket_counts(p_, &n);
    return b ? std::vector<uint64_t>(b, b + n) : std::vector<uint64_t>();
  }

  size_t ExemplarCount() const noexcept { return fm_histogram_point_exemplar_count(p_); }
  Exemplar ExemplarAt(size_t i) const noexcept { return Exemplar(fm_histogram_point_exemplar(p_, i)); }
 private:
  const fm_histogram_point* p_;
};

/// A base2 exponential histogram point of a snapshot. Bucket `i` of the
/// positive range counts the values in (base^i, base^(i+1)], of the
/// negative range those in [-base^(i+1), -base^i), base = 2^(2^-Scale()).
class ExponentialHistogramPoint {
 public:
  explicit ExponentialHistogramPoint(const fm_exponential_histogram_point* p) noexcept : p_(p) {}
  AttributeSetView Attributes() const noexcept {
    return AttributeSetView(fm_exponential_histogram_point_attributes(p_));
  }
  uint64_t Count() const noexcept { return fm_exponential_histogram_point_count(p_); }
  double Sum() const noexcept { return fm_exponential_histogram_point_sum(p_); }
  std::optional<double> Min() const noexcept {
    double v;
    return fm_exponential_histogram_point_min(p_, &v) ? std::optional<double>(v) : std::nullopt;
  }
  std::optional<double> Max() const noexcept {
    double v;
    return fm_exponential_histogram_point_max(p_, &v) ? std::optional<double>(v) : std::nullopt;
  }
  int32_t Scale() const noexcept { return fm_exponential_histogram_point_scale(p_); }
  uint64_t ZeroCount() const noexcept { return fm_exponential_histogram_point_zero_count(p_); }
  double ZeroThreshold() const noexcept { return fm_exponential_histogram_point_zero_threshold(p_); }
  /// Index of the first positive bucket and the per-bucket counts.
  std::pair<int32_t, std::vector<uint64_t>> Positive() const {
    int32_t offset = 0;
    size_t n = 0;
    const uint64_t* c = fm_exponential_histogram_point_positive(p_, &offset, &n);
    return {offset, c ? std::vector<uint64_t>(c, c + n) : std::vector<uint64_t>()};
  }
  /// Index of the first negative bucket (by magnitude) and the counts.
  std::pair<int32_t, std::vector<uint64_t>> Negative() const {
    int32_t offset = 0;
    size_t n = 0;
    const uint64_t* c = fm_exponential_histogram_point_negative(p_, &offset, &n);
    return {offset, c ? std::vector<uint64_t>(c, c + n) : std::vector<uint64_t>()};
  }

  size_t ExemplarCount() const noexcept { return fm_exponential_histogram_point_exemplar_count(p_); }
  Exemplar ExemplarAt(size_t i) const noexcept { return Exemplar(fm_exponential_histogram_point_exemplar(p_, i)); }
 private:
  const fm_exponential_histogram_point* p_;
};

/// One metric stream of a snapshot (valid while the snapshot lives).
class Metric {
 public:
  explicit Metric(const fm_metric* m) noexcept : m_(m) {}
  std::string_view Name() const noexcept { return detail::View(fm_metric_name(m_)); }
  std::string_view Description() const noexcept { return detail::View(fm_metric_description(m_)); }
  std::string_view Unit() const noexcept { return detail::View(fm_metric_unit(m_)); }
  fm_metric_type Type() const noexcept { return fm_metric_type_of(m_); }
  fm_temporality Temporality() const noexcept { return fm_metric_temporality(m_); }
  bool IsMonotonic() const noexcept { return fm_metric_is_monotonic(m_); }
  size_t PointCount() const noexcept { return fm_metric_point_count(m_); }
  NumberPoint NumberPointAt(size_t i) const noexcept { return NumberPoint(fm_metric_number_point(m_, i)); }
  HistogramPoint HistogramPointAt(size_t i) const noexcept {
    return HistogramPoint(fm_metric_histogram_point(m_, i));
  }
  ExponentialHistogramPoint ExponentialHistogramPointAt(size_t i) const noexcept {
    return ExponentialHistogramPoint(fm_metric_exponential_histogram_point(m_, i));
  }
  /// The first sum/gauge point whose attributes contain `attrs`.
  std::optional<NumberPoint> FindNumberPoint(Attributes attrs = {}) const noexcept {
    for (size_t i = 0; i < PointCount(); ++i) {
      const fm_number_point* p = fm_metric_number_point(m_, i);
      if (p && NumberPoint(p).Attributes().Contains(attrs)) return NumberPoint(p);
    }
    return std::nullopt;
  }
  /// The first histogram point whose attributes contain `attrs`.
  std::optional<HistogramPoint> FindHistogramPoint(Attributes attrs = {}) const noexcept {
    for (size_t i = 0; i < PointCount(); ++i) {
      const fm_histogram_point* p = fm_metric_histogram_point(m_, i);
      if (p && HistogramPoint(p).Attributes().Contains(attrs)) return HistogramPoint(p);
    }
    return std::nullopt;
  }

 private:
  const fm_metric* m_;
};

/// What one collection produced. Move-only; views into it (Metric, points,
/// attribute views) are valid while it lives.
class Snapshot {
 public:
  explicit Snapshot(fm_snapshot* s) noexcept : h_(s) {}
  size_t MetricCount() const noexcept { return fm_snapshot_metric_count(h_.get()); }
  Metric MetricAt(size_t i) const noexcept { return Metric(fm_snapshot_metric(h_.get(), i)); }
  std::optional<Metric> Find(std::string_view name) const noexcept {
    const fm_metric* m = fm_snapshot_find_metric(h_.get(), name.data(), name.size());
    return m ? std::optional<Metric>(Metric(m)) : std::nullopt;
  }
  AttributeSetView Resource() const noexcept { return AttributeSetView(fm_snapshot_resource(h_.get())); }
  const fm_snapshot* get() const noexcept { return h_.get(); }

 private:
  detail::Owned<fm_snapshot, fm_snapshot_release> h_;
};

/// Temporality preference of a reader.
enum class Temporality : fm_temporality_preference {
  kCumulative = FM_TEMPORALITY_PREFERENCE_CUMULATIVE,
  kDelta = FM_TEMPORALITY_PREFERENCE_DELTA,
  kLowMemory = FM_TEMPORALITY_PREFERENCE_LOWMEMORY,
};

/// A reader the host collects from on demand.
class ManualReader {
 public:
  explicit ManualReader(Temporality t = Temporality::kCumulative) {
    fm_manual_reader* r = nullptr;
    detail::Check(fm_manual_reader_new(static_cast<fm_temporality_preference>(t), &r));
    h_.reset(r);
  }
  /// Collects now (runs observable callbacks on this thread). Throws Error
  /// (FM_STATUS_SHUTDOWN, FM_STATUS_READER_NOT_REGISTERED).
  Snapshot Collect() const {
    fm_snapshot* s = nullptr;
    detail::Check(fm_manual_reader_collect(h_.get(), &s));
    return Snapshot(s);
  }
  /// Collect() without exceptions: the snapshot, or the status
  /// (FM_STATUS_SHUTDOWN, FM_STATUS_READER_NOT_REGISTERED).
  Result<Snapshot> TryCollect() const {
    fm_snapshot* s = nullptr;
    fm_status st = fm_manual_reader_collect(h_.get(), &s);
    if (st != FM_STATUS_OK) return detail::Fail<Snapshot>(st);
    return Snapshot(s);
  }
  /// The constructor without exceptions.
  static Result<ManualReader> TryCreate(Temporality t = Temporality::kCumulative) {
    fm_manual_reader* r = nullptr;
    fm_status st = fm_manual_reader_new(static_cast<fm_temporality_preference>(t), &r);
    if (st != FM_STATUS_OK) return detail::Fail<ManualReader>(st);
    return ManualReader(r);
  }
  /// Takes ownership of a C reader handle.
  explicit ManualReader(fm_manual_reader* r) noexcept : h_(r) {}
  const fm_manual_reader* get() const noexcept { return h_.get(); }

 private:
  detail::Owned<fm_manual_reader, fm_manual_reader_release> h_;
};

// ------------------------------------------------------------------ views

/// A checked view (see ViewBuilder).
class View {
 public:
  explicit View(fm_view* v) noexcept : h_(v) {}
  const fm_view* get() const noexcept { return h_.get(); }

 private:
  detail::Owned<fm_view, fm_view_release> h_;
};

/// Defines a view; setters throw Error on invalid UTF-8 or parameters,
/// Build() on an inconsistent definition. Without exceptions, a setter's
/// failure is kept: TryBuild() returns it, Build() aborts with it.
class ViewBuilder {
 public:
  ViewBuilder() {
    fm_view_builder* b = nullptr;
    detail::Check(fm_view_builder_new(&b));
    h_.reset(b);
  }
  ViewBuilder& InstrumentName(std::string_view v) {
    Set(fm_view_builder_set_instrument_name(h_.get(), v.data(), v.size()));
    return *this;
  }
  ViewBuilder& InstrumentKind(fm_instrument_kind k) {
    Set(fm_view_builder_set_instrument_kind(h_.get(), k));
    return *this;
  }
  ViewBuilder& InstrumentUnit(std::string_view v) {
    Set(fm_view_builder_set_instrument_unit(h_.get(), v.data(), v.size()));
    return *this;
  }
  ViewBuilder& MeterName(std::string_view v) {
    Set(fm_view_builder_set_meter_name(h_.get(), v.data(), v.size()));
    return *this;
  }
  ViewBuilder& MeterVersion(std::string_view v) {
    Set(fm_view_builder_set_meter_version(h_.get(), v.data(), v.size()));
    return *this;
  }
  /// Selects instruments of meters with exactly this schema URL; an empty
  /// URL selects the meters created without one.
  ViewBuilder& MeterSchemaUrl(std::string_view v) {
    Set(fm_view_builder_set_meter_schema_url(h_.get(), v.data(), v.size()));
    return *this;
  }
  ViewBuilder& StreamName(std::string_view v) {
    Set(fm_view_builder_set_stream_name(h_.get(), v.data(), v.size()));
    return *this;
  }
  ViewBuilder& StreamDescription(std::string_view v) {
    Set(fm_view_builder_set_stream_description(h_.get(), v.data(), v.size()));
    return *this;
  }
  ViewBuilder& AllowedAttributeKeys(const std::vector<std::string_view>& keys) {
    std::vector<fm_str> k;
    for (auto s : keys) k.push_back(fm_str{s.data(), s.size()});
    Set(fm_view_builder_set_allowed_attribute_keys(h_.get(), k.data(), k.size()));
    return *this;
  }
  ViewBuilder& DeniedAttributeKeys(const std::vector<std::string_view>& keys) {
    std::vector<fm_str> k;
    for (auto s : keys) k.push_back(fm_str{s.data(), s.size()});
    Set(fm_view_builder_set_denied_attribute_keys(h_.get(), k.data(), k.size()));
    return *this;
  }
  ViewBuilder& Aggregation(fm_aggregation a) {
    Set(fm_view_builder_set_aggregation(h_.get(), a));
    return *this;
  }
  ViewBuilder& ExplicitBucketHistogram(const std::vector<double>& bounds, bool record_min_max = true) {
    Set(fm_view_builder_set_histogram(h_.get(), bounds.data(), bounds.size(), record_min_max));
    return *this;
  }
  // Base2 exponential bucket histogram: at most max_size buckets per sign,
  // scale at most max_scale (lowered as the range of values grows).
  ViewBuilder& Base2ExponentialHistogram(uint32_t max_size = FM_EXPONENTIAL_DEFAULT_MAX_SIZE,
                                         int32_t max_scale = FM_EXPONENTIAL_MAX_SCALE,
                                         bool record_min_max = true) {
    Set(fm_view_builder_set_exponential_histogram(h_.get(), max_size, max_scale, record_min_max));
    return *this;
  }
  ViewBuilder& CardinalityLimit(size_t n) {
    Set(fm_view_builder_set_cardinality_limit(h_.get(), n));
    return *this;
  }
  /// Exemplars per series and collection in a fixed-size reservoir (0: none).
  ViewBuilder& ExemplarReservoirSize(size_t n) {
    Set(fm_view_builder_set_exemplar_reservoir_size(h_.get(), n));
    return *this;
  }
  /// Build() without exceptions: the first failure of a setter (builds
  /// without exceptions) or of the definition, as a Result.
  Result<View> TryBuild() const {
    if (error_ != FM_STATUS_OK) return Result<View>::Failure(error_, message_);
    fm_view* v = nullptr;
    fm_status st = fm_view_builder_build(h_.get(), &v);
    if (st != FM_STATUS_OK) return detail::Fail<View>(st);
    return View(v);
  }
  View Build() const {
    if (error_ != FM_STATUS_OK) detail::Raise(error_, message_);
    fm_view* v = nullptr;
    detail::Check(fm_view_builder_build(h_.get(), &v));
    return View(v);
  }

 private:
  // A setter's status: thrown at once with exceptions, kept for Build /
  // TryBuild without them.
  void Set(fm_status st) {
#if defined(FERROMETER_NO_EXCEPTIONS)
    if (st != FM_STATUS_OK && error_ == FM_STATUS_OK) {
      error_ = st;
      message_ = detail::Message(st);
    }
#else
    detail::Check(st);
#endif
  }

  detail::Owned<fm_view_builder, fm_view_builder_release> h_;
  fm_status error_ = FM_STATUS_OK;
  std::string message_;
};

// ------------------------------------------------------------ instruments


namespace detail {

struct CounterTag {};
struct UpDownCounterTag {};
struct HistogramTag {};
struct GaugeTag {};
struct ObservableCounterTag {};
struct ObservableUpDownCounterTag {};
struct ObservableGaugeTag {};

template <class Tag, class T>
struct Ops;

#define FERROMETER_SYNC_OPS(TAG, T, N, VERB)                                          \
  template <>                                                                        \
  struct Ops<TAG, T> {                                                               \
    using Handle = fm_##N;                                                           \
    using BoundHandle = fm_bound_##N;                                                \
    static fm_status Create(const fm_meter* m, const char* n, size_t l,              \
                            const fm_instrument_options* o, Handle** out) noexcept { \
      return fm_meter_create_##N(m, n, l, o, out);                                   \
    }                                                                                \
    static void Release(Handle* h) noexcept { fm_##N##_release(h); }                 \
    static void Record(const Handle* h, T v, const fm_attribute* a, size_t n) noexcept { \
      fm_##N##_##VERB(h, v, a, n);                                                   \
    }                                                                                \
    static void RecordPrepared(const Handle* h, T v, const fm_attribute_set* s) noexcept { \
      fm_##N##_##VERB##_prepared(h, v, s);                                           \
    }                                                                                \
    static void RecordInContext(const Handle* h, T v, const fm_attribute* a, size_t n, \
                                const fm_trace_context* c) noexcept {                \
      fm_##N##_##VERB##_in_context(h, v, a, n, c);                                   \
    }                                                                                \
    static void RecordPreparedInContext(const Handle* h, T v, const fm_attribute_set* s, \
                                        const fm_trace_context* c) noexcept {        \
      fm_##N##_##VERB##_prepared_in_context(h, v, s, c);                             \
    }                                                                                \
    static fm_status Remove(const Handle* h, const fm_attribute* a, size_t n, bool* e) noexcept { \
      return fm_##N##_remove(h, a, n, e);                                            \
    }                                                                                \
    static fm_status RemoveAll(const Handle* h) noexcept { return fm_##N##_remove_all(h); } \
    static fm_status Bind(const Handle* h, const fm_attribute* a, size_t n, BoundHandle** out) noexcept { \
      return fm_##N##_bind(h, a, n, out);                                            \
    }                                                                                \
    static void BoundRelease(BoundHandle* b) noexcept { fm_bound_##N##_release(b); } \
    static void BoundRecord(const BoundHandle* b, T v) noexcept { fm_bound_##N##_##VERB(b, v); } \
    static void BoundRecordInContext(const BoundHandle* b, T v, const fm_trace_context* c) noexcept { \
      fm_bound_##N##_##VERB##_in_context(b, v, c);                                   \
    }                                                                                \
  };

FERROMETER_SYNC_OPS(CounterTag, uint64_t, counter_u64, add)
FERROMETER_SYNC_OPS(CounterTag, double, counter_f64, add)
FERROMETER_SYNC_OPS(UpDownCounterTag, int64_t, updown_counter_i64, add)
FERROMETER_SYNC_OPS(UpDownCounterTag, double, updown_counter_f64, add)
FERROMETER_SYNC_OPS(HistogramTag, uint64_t, histogram_u64, record)
FERROMETER_SYNC_OPS(HistogramTag, double, histogram_f64, record)
FERROMETER_SYNC_OPS(GaugeTag, int64_t, gauge_i64, record)
FERROMETER_SYNC_OPS(GaugeTag, double, gauge_f64, record)
#undef FERROMETER_SYNC_OPS

#define FERROMETER_OBS_OPS(TAG, T, N, F64)                                           \
  template <>                                                                        \
  struct Ops<TAG, T> {                                                               \
    using Handle = fm_##N;                                                           \
    static fm_status Create(const fm_meter* m, const char* n, size_t l,              \
                            const fm_instrument_options* o, Handle** out) noexcept { \
      return fm_meter_create_##N(m, n, l, o, out);                                   \
    }                                                                                \
    static void Release(Handle* h) noexcept { fm_##N##_release(h); }                 \
    static void Observe(const Handle* h, T v, const fm_attribute* a, size_t n) noexcept { \
      fm_##N##_observe(h, v, a, n);                                                  \
    }                                                                                \
    static void ObserveAt(const Handle* h, T v, const fm_attribute* a, size_t n, uint64_t t) noexcept { \
      fm_##N##_observe_at(h, v, a, n, t);                                            \
    }                                                                                \
    static fm_status AddCallback(const Handle* h, fm_callback cb, void* ud,          \
                                 fm_callback_registration** out) noexcept {          \
      return fm_##N##_add_callback(h, cb, ud, out);                                  \
    }                                                                                \
    static fm_status RemoveAll(const Handle* h) noexcept { return fm_##N##_remove_all(h); } \
    using Registration = fm_callback_registration;                                   \
    /* A double observed through ObserverResult (rounded for integers). */          \
    static void ObserveF64(const Handle* h, double v, const fm_attribute* a, size_t n) noexcept { \
      fm_##N##_##F64(h, v, a, n);                                                    \
    }                                                                                \
  };

FERROMETER_OBS_OPS(ObservableCounterTag, uint64_t, observable_counter_u64, observe_f64)
FERROMETER_OBS_OPS(ObservableCounterTag, int64_t, observable_counter_i64, observe_f64)
FERROMETER_OBS_OPS(ObservableCounterTag, double, observable_counter_f64, observe)
FERROMETER_OBS_OPS(ObservableUpDownCounterTag, int64_t, observable_updown_counter_i64, observe_f64)
FERROMETER_OBS_OPS(ObservableUpDownCounterTag, double, observable_updown_counter_f64, observe)
FERROMETER_OBS_OPS(ObservableGaugeTag, int64_t, observable_gauge_i64, observe_f64)
FERROMETER_OBS_OPS(ObservableGaugeTag, double, observable_gauge_f64, observe)
#undef FERROMETER_OBS_OPS

template <class Tag, class T>
using HandleOf = typename Ops<Tag, T>::Handle;

template <class Tag, class T>
void ReleaseHandle(HandleOf<Tag, T>* h) noexcept {
  Ops<Tag, T>::Release(h);
}

}  // namespace detail

/// An instrument bound to one series: recording is one atomic update.
template <class Tag, class T>
class BoundInstrument {
  using O = detail::Ops<Tag, T>;
  using H = typename O::BoundHandle;

 public:
  explicit BoundInstrument(H* h) noexcept : h_(h) {}
  /// Hot path (counters, up-down counters).
  void Add(T value) noexcept { O::BoundRecord(h_.get(), value); }
  /// Hot path (histograms, gauges).
  void Record(T value) noexcept { O::BoundRecord(h_.get(), value); }
  /// In the trace context `ctx` for this measurement (exemplars).
  void Add(T value, const TraceContext& ctx) noexcept { O::BoundRecordInContext(h_.get(), value, ctx.get()); }
  void Record(T value, const TraceContext& ctx) noexcept { O::BoundRecordInContext(h_.get(), value, ctx.get()); }
  const H* get() const noexcept { return h_.get(); }

 private:
  struct Del {
    void operator()(H* h) const noexcept { O::BoundRelease(h); }
  };
  std::unique_ptr<H, Del> h_;
};

/// The operations every synchronous instrument shares.
template <class Tag, class T>
class SyncInstrument {
  using O = detail::Ops<Tag, T>;
  using H = typename O::Handle;

 public:
  explicit SyncInstrument(H* h) noexcept : h_(h) {}

  /// Binds to one series (attributes copied). Throws Error on invalid attributes.
  BoundInstrument<Tag, T> Bind(Attributes attrs = {}) const {
    typename O::BoundHandle* b = nullptr;
    detail::Check(O::Bind(h_.get(), detail::Data(attrs.begin()), attrs.size(), &b));
    return BoundInstrument<Tag, T>(b);
  }
  /// Bind() without exceptions (FM_STATUS_INVALID_ATTRIBUTES, FM_STATUS_INVALID_ARGUMENT).
  Result<BoundInstrument<Tag, T>> TryBind(Attributes attrs = {}) const {
    typename O::BoundHandle* b = nullptr;
    fm_status st = O::Bind(h_.get(), detail::Data(attrs.begin()), attrs.size(), &b);
    if (st != FM_STATUS_OK) return detail::Fail<BoundInstrument<Tag, T>>(st);
    return BoundInstrument<Tag, T>(b);
  }
  /// Removes one series; returns whether it existed. Throws Error on invalid attributes.
  bool Remove(Attributes attrs = {}) const {
    bool existed = false;
    detail::Check(O::Remove(h_.get(), detail::Data(attrs.begin()), attrs.size(), &existed));
    return existed;
  }
  /// Removes every series.
  void RemoveAll() const { detail::Check(O::RemoveAll(h_.get())); }
  const H* get() const noexcept { return h_.get(); }

 protected:
  void Rec(T v, const Attribute* a, size_t n) const noexcept { O::Record(h_.get(), v, detail::Data(a), n); }
  void Rec(T v, const AttributeSet& s) const noexcept { O::RecordPrepared(h_.get(), v, s.get()); }
  template <class C>
  void RecKeyValues(T v, const C& kvs) const noexcept {
    const H* h = h_.get();
    detail::WithKeyValues(kvs, [h, v](const fm_attribute* a, size_t n) { O::Record(h, v, a, n); });
  }
  void RecCtx(T v, const Attribute* a, size_t n, const TraceContext& c) const noexcept {
    O::RecordInContext(h_.get(), v, detail::Data(a), n, c.get());
  }
  void RecCtx(T v, const AttributeSet& s, const TraceContext& c) const noexcept {
    O::RecordPreparedInContext(h_.get(), v, s.get(), c.get());
  }
  template <class C>
  void RecKeyValuesCtx(T v, const C& kvs, const TraceContext& c) const noexcept {
    const H* h = h_.get();
    const fm_trace_context* ctx = c.get();
    detail::WithKeyValues(kvs, [h, v, ctx](const fm_attribute* a, size_t n) { O::RecordInContext(h, v, a, n, ctx); });
  }

 private:
  struct Del {
    void operator()(H* h) const noexcept { O::Release(h); }
  };
  std::unique_ptr<H, Del> h_;
};

// The recording overloads under an instrument's verb (Add or Record):
// attributes as an initializer list, a vector, a prepared AttributeSet or
// any key/value container. The global instruments offer these.
#define FERROMETER_ATTRIBUTE_OVERLOADS(VERB)                                                   \
  void VERB(T value, Attributes attrs = {}) const noexcept { this->Rec(value, attrs.begin(), attrs.size()); } \
  void VERB(T value, const std::vector<Attribute>& attrs) const noexcept {                    \
    this->Rec(value, attrs.data(), attrs.size());                                              \
  }                                                                                            \
  void VERB(T value, const AttributeSet& attrs) const noexcept { this->Rec(value, attrs); }   \
  /* Attributes from a std::map, std::unordered_map, vector of pairs or any */                 \
  /* iterable of key/value pairs (no allocation up to 16 pairs). */                            \
  template <class C, detail::EnableIfKeyValues<C> = 0>                                         \
  void VERB(T value, const C& attrs) const noexcept {                                          \
    this->RecKeyValues(value, attrs);                                                          \
  }

// The overloads every synchronous instrument offers: those above, each
// also with a trace context as the last argument (see TraceContext).
#define FERROMETER_RECORDING_OVERLOADS(VERB)                                                   \
  FERROMETER_ATTRIBUTE_OVERLOADS(VERB)                                                         \
  /* In the trace context `ctx` for this measurement: it may become an */                      \
  /* exemplar carrying ctx's ids (the provider's exemplar filter decides); */                  \
  /* the measurement is recorded either way. */                                                \
  void VERB(T value, const TraceContext& ctx) const noexcept { this->RecCtx(value, nullptr, 0, ctx); } \
  void VERB(T value, Attributes attrs, const TraceContext& ctx) const noexcept {              \
    this->RecCtx(value, attrs.begin(), attrs.size(), ctx);                                     \
  }                                                                                            \
  void VERB(T value, const std::vector<Attribute>& attrs, const TraceContext& ctx) const noexcept { \
    this->RecCtx(value, attrs.data(), attrs.size(), ctx);                                      \
  }                                                                                            \
  void VERB(T value, const AttributeSet& attrs, const TraceContext& ctx) const noexcept {     \
    this->RecCtx(value, attrs, ctx);                                                           \
  }                                                                                            \
  template <class C, detail::EnableIfKeyValues<C> = 0>                                         \
  void VERB(T value, const C& attrs, const TraceContext& ctx) const noexcept {                 \
    this->RecKeyValuesCtx(value, attrs, ctx);                                                  \
  }

/// A monotonic counter (uint64_t or double).
template <class T>
class Counter : public SyncInstrument<detail::CounterTag, T> {
 public:
  using SyncInstrument<detail::CounterTag, T>::SyncInstrument;
  /// Hot path; negative, NaN and infinite increments are dropped and counted.
  FERROMETER_RECORDING_OVERLOADS(Add)
};

/// A counter that goes up and down (int64_t or double).
template <class T>
class UpDownCounter : public SyncInstrument<detail::UpDownCounterTag, T> {
 public:
  using SyncInstrument<detail::UpDownCounterTag, T>::SyncInstrument;
  FERROMETER_RECORDING_OVERLOADS(Add)
};

/// A distribution in explicit buckets (uint64_t or double).
template <class T>
class Histogram : public SyncInstrument<detail::HistogramTag, T> {
 public:
  using SyncInstrument<detail::HistogramTag, T>::SyncInstrument;
  FERROMETER_RECORDING_OVERLOADS(Record)
};

/// The last value of something (int64_t or double).
template <class T>
class Gauge : public SyncInstrument<detail::GaugeTag, T> {
 public:
  using SyncInstrument<detail::GaugeTag, T>::SyncInstrument;
  FERROMETER_RECORDING_OVERLOADS(Record)
  /// Records a value observed at `time` (exported as the point's timestamp).
  void RecordAt(T value, Attributes attrs, std::chrono::system_clock::time_point time) const noexcept {
    if constexpr (std::is_same_v<T, double>) {
      fm_gauge_f64_record_at(this->get(), value, detail::Data(attrs.begin()), attrs.size(),
                             detail::ToUnixNanos(time));
    } else {
      fm_gauge_i64_record_at(this->get(), value, detail::Data(attrs.begin()), attrs.size(),
                             detail::ToUnixNanos(time));
    }
  }
};

#undef FERROMETER_RECORDING_OVERLOADS

/// A registered callback; destroying it unregisters the callback (and
/// waits for a call in progress on another thread).
class CallbackRegistration {
 public:
  CallbackRegistration() = default;
  CallbackRegistration(fm_callback_registration* r, std::unique_ptr<std::function<void()>> f) noexcept
      : f_(std::move(f)), h_(r, &ReleaseProvider) {}
  /// A callback of a global observable instrument (it follows the
  /// instrument to every provider set).
  CallbackRegistration(fm_global_callback_registration* r, std::unique_ptr<std::function<void()>> f) noexcept
      : f_(std::move(f)), h_(r, &ReleaseGlobal) {}
  CallbackRegistration(CallbackRegistration&&) noexcept = default;
  CallbackRegistration& operator=(CallbackRegistration&& o) noexcept {
    h_ = std::move(o.h_);  // unregister ours first, then drop our function
    f_ = std::move(o.f_);
    return *this;
  }
  ~CallbackRegistration() { h_.reset(); }
  /// Unregisters now.
  void Reset() noexcept { h_.reset(); f_.reset(); }
  explicit operator bool() const noexcept { return h_ != nullptr; }

  /// Trampoline for std::function<void()> user data (exceptions swallowed).
  static void Invoke(void* ud) noexcept {
    FERROMETER_TRY {
      (*static_cast<std::function<void()>*>(ud))();
    } FERROMETER_CATCH_ALL {
    }
  }

 private:
  static void ReleaseProvider(void* r) noexcept {
    fm_callback_registration_release(static_cast<fm_callback_registration*>(r));
  }
  static void ReleaseGlobal(void* r) noexcept {
    fm_global_callback_registration_release(static_cast<fm_global_callback_registration*>(r));
  }
  std::unique_ptr<std::function<void()>> f_;  // destroyed after h_ (declared first)
  std::unique_ptr<void, void (*)(void*)> h_{nullptr, &ReleaseProvider};
};

/// What one callback observes into, whatever the kind and number type of
/// the observable instrument it was registered on (opentelemetry-cpp's
/// ObserverResult role): a callback written once can be added to a
/// counter, an up-down counter and a gauge, of uint64_t, int64_t or
/// double. A value is converted to the instrument's number type: integers
/// to double exactly up to 2^53; doubles to integers rounded to the
/// nearest; a value the instrument cannot hold (NaN, infinite, negative
/// for a uint64_t counter, out of range) is dropped and counted in the
/// provider's rejected measurements (nan, infinite, negative,
/// sum_overflow), never wrapped. Valid during the callback only.
class ObserverResult {
 public:
  /// The functions that observe into one instrument type.
  struct Sink {
    void (*i64)(const void* h, int64_t v, const fm_attribute* a, size_t n) noexcept;
    void (*u64)(const void* h, uint64_t v, const fm_attribute* a, size_t n) noexcept;
    void (*f64)(const void* h, double v, const fm_attribute* a, size_t n) noexcept;
    fm_number_type type;
  };
  ObserverResult(const void* instrument, const Sink* sink) noexcept : h_(instrument), sink_(sink) {}

  template <class V, std::enable_if_t<std::is_arithmetic_v<V> && !std::is_same_v<V, bool>, int> = 0>
  void Observe(V value, Attributes attrs = {}) const noexcept {
    Put(value, detail::Data(attrs.begin()), attrs.size());
  }
  template <class V, std::enable_if_t<std::is_arithmetic_v<V> && !std::is_same_v<V, bool>, int> = 0>
  void Observe(V value, const std::vector<Attribute>& attrs) const noexcept {
    Put(value, detail::Data(attrs.data()), attrs.size());
  }
  template <class V, class C, std::enable_if_t<std::is_arithmetic_v<V> && !std::is_same_v<V, bool>, int> = 0,
            detail::EnableIfKeyValues<C> = 0>
  void Observe(V value, const C& attrs) const noexcept {
    detail::WithKeyValues(attrs, [this, value](const fm_attribute* a, size_t n) { Put(value, a, n); });
  }
  /// The instrument's number type (FM_NUMBER_U64, FM_NUMBER_I64 or FM_NUMBER_F64).
  fm_number_type ValueType() const noexcept { return sink_->type; }

 private:
  template <class V>
  void Put(V v, const fm_attribute* a, size_t n) const noexcept {
    if constexpr (std::is_floating_point_v<V>) {
      sink_->f64(h_, static_cast<double>(v), a, n);
    } else if constexpr (std::is_signed_v<V>) {
      sink_->i64(h_, static_cast<int64_t>(v), a, n);
    } else {
      sink_->u64(h_, static_cast<uint64_t>(v), a, n);
    }
  }
  const void* h_;
  const Sink* sink_;
};

/// A callback for any observable instrument (opentelemetry-cpp's
/// ObservableCallbackPtr): `state` is what AddCallback was given.
using ObservableCallbackPtr = void (*)(ObserverResult result, void* state);

namespace detail {
/// ObserverResult's conversions into the observable (Tag, T).
template <class Tag, class T>
struct SinkOf {
  using O = Ops<Tag, T>;
  using H = typename O::Handle;
  static void I64(const void* h, int64_t v, const fm_attribute* a, size_t n) noexcept {
    if constexpr (std::is_same_v<T, uint64_t>) {
      // A negative value goes through the double path, which counts it.
      if (v < 0) return O::ObserveF64(static_cast<const H*>(h), static_cast<double>(v), a, n);
    }
    O::Observe(static_cast<const H*>(h), static_cast<T>(v), a, n);
  }
  static void U64(const void* h, uint64_t v, const fm_attribute* a, size_t n) noexcept {
    if constexpr (std::is_same_v<T, int64_t>) {
      // Past INT64_MAX: the double path counts it as out of range.
      if (v > static_cast<uint64_t>(INT64_MAX))
        return O::ObserveF64(static_cast<const H*>(h), static_cast<double>(v), a, n);
    }
    O::Observe(static_cast<const H*>(h), static_cast<T>(v), a, n);
  }
  static void F64(const void* h, double v, const fm_attribute* a, size_t n) noexcept {
    O::ObserveF64(static_cast<const H*>(h), v, a, n);
  }
  static constexpr fm_number_type kType = std::is_same_v<T, double>     ? FM_NUMBER_F64
                                          : std::is_same_v<T, int64_t> ? FM_NUMBER_I64
                                                                       : FM_NUMBER_U64;
  static const ObserverResult::Sink* Get() noexcept {
    static const ObserverResult::Sink sink{&I64, &U64, &F64, kType};
    return &sink;
  }
};
}  // namespace detail

/// What a callback uses to observe one observable instrument of a known
/// type (see ObserverResult for a callback that serves every kind).
template <class Tag, class T>
class TypedObserverResult {
  using O = detail::Ops<Tag, T>;

 public:
  explicit TypedObserverResult(const typename O::Handle* h) noexcept : h_(h) {}
  void Observe(T value, Attributes attrs = {}) const noexcept {
    O::Observe(h_, value, detail::Data(attrs.begin()), attrs.size());
  }
  void Observe(T value, const std::vector<Attribute>& attrs) const noexcept {
    O::Observe(h_, value, detail::Data(attrs.data()), attrs.size());
  }
  template <class C, detail::EnableIfKeyValues<C> = 0>
  void Observe(T value, const C& attrs) const noexcept {
    const typename O::Handle* h = h_;
    detail::WithKeyValues(attrs, [h, value](const fm_attribute* a, size_t n) { O::Observe(h, value, a, n); });
  }
  void ObserveAt(T value, Attributes attrs, std::chrono::system_clock::time_point t) const noexcept {
    O::ObserveAt(h_, value, detail::Data(attrs.begin()), attrs.size(), detail::ToUnixNanos(t));
  }
  /// The same instrument as an ObserverResult.
  operator ObserverResult() const noexcept {  // NOLINT(google-explicit-constructor)
    return ObserverResult(h_, detail::SinkOf<Tag, T>::Get());
  }

 private:
  const typename O::Handle* h_;
};

/// An observable instrument: values come from callbacks run once per
/// collection. Callbacks added with AddCallback are owned by the instrument
/// object and unregistered when it is destroyed (or by RemoveCallback).
template <class Tag, class T>
class ObservableInstrument {
  using O = detail::Ops<Tag, T>;
  using H = typename O::Handle;

 public:
  using Observer = TypedObserverResult<Tag, T>;

  explicit ObservableInstrument(H* h) noexcept : h_(h) {}
  ObservableInstrument(ObservableInstrument&&) noexcept = default;
  ObservableInstrument& operator=(ObservableInstrument&& o) noexcept {
    callbacks_ = std::move(o.callbacks_);  // unregisters ours before our handle goes
    h_ = std::move(o.h_);
    return *this;
  }
  ~ObservableInstrument() { callbacks_.clear(); }

  /// Adds `f(Observer&)` (or `f(ObserverResult)`), called on the collecting
  /// thread each cycle. Throws Error (e.g. FM_STATUS_INVALID_ARGUMENT).
  /// Exceptions thrown by `f` are swallowed.
  template <class F>
  void AddCallback(F f) {
    Register(Key{}, std::move(f));
  }
  /// opentelemetry-cpp style: `cb(observer, state)`; `state` is borrowed
  /// and must outlive the registration.
  void AddCallback(void (*cb)(Observer&, void*), void* state) {
    Register(Key{reinterpret_cast<void (*)()>(cb), state}, [cb, state](Observer& o) { cb(o, state); });
  }
  /// One callback for every observable kind: `cb(result, state)`.
  void AddCallback(ObservableCallbackPtr cb, void* state) {
    Register(Key{reinterpret_cast<void (*)()>(cb), state}, [cb, state](Observer& o) { cb(o, state); });
  }
  /// Removes one registration of `cb` with `state` (the earliest; others,
  /// including the same pair added again, stay). Returns whether one was
  /// found. Once it returns, that registration's call is not running and
  /// never runs again.
  bool RemoveCallback(ObservableCallbackPtr cb, void* state) noexcept {
    return Unregister(Key{reinterpret_cast<void (*)()>(cb), state});
  }
  bool RemoveCallback(void (*cb)(Observer&, void*), void* state) noexcept {
    return Unregister(Key{reinterpret_cast<void (*)()>(cb), state});
  }
  /// Removes every callback added to this object.
  void RemoveCallbacks() noexcept { callbacks_.clear(); }
  /// Observes directly (for use from Meter::RegisterCallback callbacks).
  void Observe(T value, Attributes attrs = {}) const noexcept {
    O::Observe(h_.get(), value, detail::Data(attrs.begin()), attrs.size());
  }
  template <class C, detail::EnableIfKeyValues<C> = 0>
  void Observe(T value, const C& attrs) const noexcept {
    Observer(h_.get()).Observe(value, attrs);
  }
  void ObserveAt(T value, Attributes attrs, std::chrono::system_clock::time_point t) const noexcept {
    O::ObserveAt(h_.get(), value, detail::Data(attrs.begin()), attrs.size(), detail::ToUnixNanos(t));
  }
  void RemoveAll() const { detail::Check(O::RemoveAll(h_.get())); }
  const H* get() const noexcept { return h_.get(); }

 private:
  /// Identifies a registration made from a function pointer and state.
  struct Key {
    void (*fn)() = nullptr;
    void* state = nullptr;
  };
  struct Entry {
    Key key;
    CallbackRegistration reg;
  };

  template <class F>
  void Register(Key key, F f) {
    const H* h = h_.get();
    auto fn = std::make_unique<std::function<void()>>([h, f = std::move(f)]() mutable {
      Observer o(h);
      if constexpr (std::is_invocable_v<F&, Observer&>) {
        f(o);
      } else {
        f(static_cast<ObserverResult>(o));
      }
    });
    typename O::Registration* r = nullptr;
    detail::Check(O::AddCallback(h, &CallbackRegistration::Invoke, fn.get(), &r));
    callbacks_.push_back(Entry{key, CallbackRegistration(r, std::move(fn))});
  }
  bool Unregister(Key key) noexcept {
    for (auto it = callbacks_.begin(); it != callbacks_.end(); ++it) {
      if (it->key.fn == key.fn && it->key.state == key.state) {
        callbacks_.erase(it);
        return true;
      }
    }
    return false;
  }

  struct Del {
    void operator()(H* h) const noexcept { O::Release(h); }
  };
  std::unique_ptr<H, Del> h_;
  std::vector<Entry> callbacks_;  // destroyed before h_
};

template <class T>
using ObservableCounter = ObservableInstrument<detail::ObservableCounterTag, T>;
template <class T>
using ObservableUpDownCounter = ObservableInstrument<detail::ObservableUpDownCounterTag, T>;
template <class T>
using ObservableGauge = ObservableInstrument<detail::ObservableGaugeTag, T>;

// ------------------------------------------------------------------ meter

/// Creates instruments for one instrumentation scope. Every Create* throws
/// Error on an invalid name (FM_STATUS_INVALID_NAME), unit, description,
/// boundaries or UTF-8.
class Meter {
 public:
  explicit Meter(fm_meter* m) noexcept : h_(m) {}

  Counter<uint64_t> CreateUInt64Counter(std::string_view name, std::string_view description = {},
                                        std::string_view unit = {}) const {
    return Create<Counter<uint64_t>, detail::CounterTag, uint64_t>(name, description, unit);
  }
  Counter<double> CreateDoubleCounter(std::string_view name, std::string_view description = {},
                                      std::string_view unit = {}) const {
    return Create<Counter<double>, detail::CounterTag, double>(name, description, unit);
  }
  UpDownCounter<int64_t> CreateInt64UpDownCounter(std::string_view name, std::string_view description = {},
                                                  std::string_view unit = {}) const {
    return Create<UpDownCounter<int64_t>, detail::UpDownCounterTag, int64_t>(name, description, unit);
  }
  UpDownCounter<double> CreateDoubleUpDownCounter(std::string_view name, std::string_view description = {},
                                                  std::string_view unit = {}) const {
    return Create<UpDownCounter<double>, detail::UpDownCounterTag, double>(name, description, unit);
  }
  Histogram<uint64_t> CreateUInt64Histogram(std::string_view name, std::string_view description = {},
                                            std::string_view unit = {},
                                            const std::vector<double>& boundaries = {}) const {
    return Create<Histogram<uint64_t>, detail::HistogramTag, uint64_t>(name, description, unit, &boundaries);
  }
  Histogram<double> CreateDoubleHistogram(std::string_view name, std::string_view description = {},
                                          std::string_view unit = {},
                                          const std::vector<double>& boundaries = {}) const {
    return Create<Histogram<double>, detail::HistogramTag, double>(name, description, unit, &boundaries);
  }
  Gauge<int64_t> CreateInt64Gauge(std::string_view name, std::string_view description = {},
                                  std::string_view unit = {}) const {
    return Create<Gauge<int64_t>, detail::GaugeTag, int64_t>(name, description, unit);
  }
  Gauge<double> CreateDoubleGauge(std::string_view name, std::string_view description = {},
                                  std::string_view unit = {}) const {
    return Create<Gauge<double>, detail::GaugeTag, double>(name, description, unit);
  }
  ObservableCounter<uint64_t> CreateUInt64ObservableCounter(std::string_view name,
                                                            std::string_view description = {},
                                                            std::string_view unit = {}) const {
    return Create<ObservableCounter<uint64_t>, detail::ObservableCounterTag, uint64_t>(name, description, unit);
  }
  ObservableCounter<int64_t> CreateInt64ObservableCounter(std::string_view name, std::string_view description = {},
                                                          std::string_view unit = {}) const {
    return Create<ObservableCounter<int64_t>, detail::ObservableCounterTag, int64_t>(name, description, unit);
  }
  ObservableCounter<double> CreateDoubleObservableCounter(std::string_view name, std::string_view description = {},
                                                          std::string_view unit = {}) const {
    return Create<ObservableCounter<double>, detail::ObservableCounterTag, double>(name, description, unit);
  }
  ObservableUpDownCounter<int64_t> CreateInt64ObservableUpDownCounter(std::string_view name,
                                                                      std::string_view description = {},
                                                                      std::string_view unit = {}) const {
    return Create<ObservableUpDownCounter<int64_t>, detail::ObservableUpDownCounterTag, int64_t>(name, description,
                                                                                               unit);
  }
  ObservableUpDownCounter<double> CreateDoubleObservableUpDownCounter(std::string_view name,
                                                                      std::string_view description = {},
                                                                      std::string_view unit = {}) const {
    return Create<ObservableUpDownCounter<double>, detail::ObservableUpDownCounterTag, double>(name, description,
                                                                                             unit);
  }
  ObservableGauge<int64_t> CreateInt64ObservableGauge(std::string_view name, std::string_view description = {},
                                                      std::string_view unit = {}) const {
    return Create<ObservableGauge<int64_t>, detail::ObservableGaugeTag, int64_t>(name, description, unit);
  }
  ObservableGauge<double> CreateDoubleObservableGauge(std::string_view name, std::string_view description = {},
                                                      std::string_view unit = {}) const {
    return Create<ObservableGauge<double>, detail::ObservableGaugeTag, double>(name, description, unit);
  }

  // Non-throwing variants: the same arguments, a Result instead of an
  // exception (FM_STATUS_INVALID_NAME, FM_STATUS_INVALID_UNIT, ...).
  Result<Counter<uint64_t>> TryCreateUInt64Counter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<Counter<uint64_t>, detail::CounterTag, uint64_t>(name, description, unit);
  }
  Result<Counter<double>> TryCreateDoubleCounter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<Counter<double>, detail::CounterTag, double>(name, description, unit);
  }
  Result<UpDownCounter<int64_t>> TryCreateInt64UpDownCounter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<UpDownCounter<int64_t>, detail::UpDownCounterTag, int64_t>(name, description, unit);
  }
  Result<UpDownCounter<double>> TryCreateDoubleUpDownCounter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<UpDownCounter<double>, detail::UpDownCounterTag, double>(name, description, unit);
  }
  Result<Histogram<uint64_t>> TryCreateUInt64Histogram(std::string_view name, std::string_view description = {},
      std::string_view unit = {}, const std::vector<double>& boundaries = {}) const {
    return TryCreate<Histogram<uint64_t>, detail::HistogramTag, uint64_t>(name, description, unit, &boundaries);
  }
  Result<Histogram<double>> TryCreateDoubleHistogram(std::string_view name, std::string_view description = {},
      std::string_view unit = {}, const std::vector<double>& boundaries = {}) const {
    return TryCreate<Histogram<double>, detail::HistogramTag, double>(name, description, unit, &boundaries);
  }
  Result<Gauge<int64_t>> TryCreateInt64Gauge(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<Gauge<int64_t>, detail::GaugeTag, int64_t>(name, description, unit);
  }
  Result<Gauge<double>> TryCreateDoubleGauge(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<Gauge<double>, detail::GaugeTag, double>(name, description, unit);
  }
  Result<ObservableCounter<uint64_t>> TryCreateUInt64ObservableCounter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<ObservableCounter<uint64_t>, detail::ObservableCounterTag, uint64_t>(name, description, unit);
  }
  Result<ObservableCounter<int64_t>> TryCreateInt64ObservableCounter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<ObservableCounter<int64_t>, detail::ObservableCounterTag, int64_t>(name, description, unit);
  }
  Result<ObservableCounter<double>> TryCreateDoubleObservableCounter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<ObservableCounter<double>, detail::ObservableCounterTag, double>(name, description, unit);
  }
  Result<ObservableUpDownCounter<int64_t>> TryCreateInt64ObservableUpDownCounter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<ObservableUpDownCounter<int64_t>, detail::ObservableUpDownCounterTag, int64_t>(name, description, unit);
  }
  Result<ObservableUpDownCounter<double>> TryCreateDoubleObservableUpDownCounter(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<ObservableUpDownCounter<double>, detail::ObservableUpDownCounterTag, double>(name, description, unit);
  }
  Result<ObservableGauge<int64_t>> TryCreateInt64ObservableGauge(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<ObservableGauge<int64_t>, detail::ObservableGaugeTag, int64_t>(name, description, unit);
  }
  Result<ObservableGauge<double>> TryCreateDoubleObservableGauge(std::string_view name, std::string_view description = {},
      std::string_view unit = {}) const {
    return TryCreate<ObservableGauge<double>, detail::ObservableGaugeTag, double>(name, description, unit);
  }

  /// Registers `f()`, run once per collection cycle (observe several
  /// instruments from it). Destroying the returned object unregisters it.
  template <class F>
  CallbackRegistration RegisterCallback(F f) const {
    auto fn = std::make_unique<std::function<void()>>(std::move(f));
    fm_callback_registration* r = nullptr;
    detail::Check(fm_meter_register_callback(h_.get(), &CallbackRegistration::Invoke, fn.get(), &r));
    return CallbackRegistration(r, std::move(fn));
  }

  const fm_meter* get() const noexcept { return h_.get(); }

 private:
  template <class I, class Tag, class T>
  I Create(std::string_view name, std::string_view description, std::string_view unit,
           const std::vector<double>* boundaries = nullptr) const {
    fm_instrument_options o{};
    o.description = fm_str{description.data(), description.size()};
    o.unit = fm_str{unit.data(), unit.size()};
    if (boundaries && !boundaries->empty()) {
      o.boundaries = boundaries->data();
      o.boundaries_len = boundaries->size();
    }
    detail::HandleOf<Tag, T>* h = nullptr;
    detail::Check(detail::Ops<Tag, T>::Create(h_.get(), name.data(), name.size(), &o, &h));
    return I(h);
  }
  template <class I, class Tag, class T>
  Result<I> TryCreate(std::string_view name, std::string_view description, std::string_view unit,
                      const std::vector<double>* boundaries = nullptr) const {
    fm_instrument_options o{};
    o.description = fm_str{description.data(), description.size()};
    o.unit = fm_str{unit.data(), unit.size()};
    if (boundaries && !boundaries->empty()) {
      o.boundaries = boundaries->data();
      o.boundaries_len = boundaries->size();
    }
    detail::HandleOf<Tag, T>* h = nullptr;
    fm_status st = detail::Ops<Tag, T>::Create(h_.get(), name.data(), name.size(), &o, &h);
    if (st != FM_STATUS_OK) return detail::Fail<I>(st);
    return I(h);
  }

  detail::Owned<fm_meter, fm_meter_release> h_;
};

// --------------------------------------------------------------- provider

/// Rejected-measurement counters (see fm_rejected_counts).
using RejectedCounts = fm_rejected_counts;

/// What MeterProvider::Shutdown() or ForceFlush() achieved: a status and
/// how many data points did not reach their destinations. Returned, never
/// thrown: these calls run in destructors and exit paths, where an
/// exception would terminate the program.
///
///   auto r = provider.Shutdown(std::chrono::seconds(2));
///   if (!r) log(r.message() + " (" + std::to_string(r.undelivered_points()) + " points lost)");
class FlushResult {
 public:
  FlushResult(fm_status status, uint64_t undelivered_points, std::string message)
      : status_(status), undelivered_(undelivered_points), message_(std::move(message)) {}

  /// True when everything was delivered within the deadline.
  bool ok() const noexcept { return status_ == FM_STATUS_OK; }
  explicit operator bool() const noexcept { return ok(); }
  /// FM_STATUS_OK; FM_STATUS_FAILED (an export failed or was refused),
  /// FM_STATUS_TIMEOUT (the deadline passed first), FM_STATUS_SHUTDOWN
  /// (ForceFlush after shutdown)...
  fm_status status() const noexcept { return status_; }
  /// Data points that did not reach their destinations, over every reader.
  uint64_t undelivered_points() const noexcept { return undelivered_; }
  /// "" on success; otherwise the status text and the library's message.
  const std::string& message() const noexcept { return message_; }

 private:
  fm_status status_;
  uint64_t undelivered_;
  std::string message_;
};

namespace detail {
/// The FlushResult of a flush or shutdown call that returned `s`.
inline FlushResult Flushed(fm_status s, uint64_t undelivered_points) {
  return FlushResult(s, undelivered_points, s == FM_STATUS_OK ? std::string() : Message(s));
}
}  // namespace detail

/// The SDK entry point. Move-only; destroying it (the last handle) shuts
/// the provider down with a 5 s deadline, final collection and export
/// included, even while Meters and instruments of it are alive (they then
/// record nothing, as after Shutdown()). Call Shutdown() first to choose
/// the deadline and see what was not delivered.
class MeterProvider {
 public:
  /// Configures a provider.
  class Builder {
   public:
    Builder() {
      fm_provider_builder* b = nullptr;
      detail::Check(fm_provider_builder_new(&b));
      h_.reset(b);
    }
    Builder& AddReader(const ManualReader& r) {
      detail::Check(fm_provider_builder_add_reader(h_.get(), r.get()));
      return *this;
    }
    Builder& AddView(const View& v) {
      detail::Check(fm_provider_builder_add_view(h_.get(), v.get()));
      return *this;
    }
    Builder& SetServiceName(std::string_view n) {
      detail::Check(fm_provider_builder_set_service_name(h_.get(), n.data(), n.size()));
      return *this;
    }
    Builder& AddResourceAttributes(Attributes attrs) {
      detail::Check(
          fm_provider_builder_add_resource_attributes(h_.get(), detail::Data(attrs.begin()), attrs.size()));
      return *this;
    }
    Builder& UseEmptyResource() {
      detail::Check(fm_provider_builder_use_empty_resource(h_.get()));
      return *this;
    }
    Builder& SetCardinalityLimit(size_t n) {
      detail::Check(fm_provider_builder_set_cardinality_limit(h_.get(), n));
      return *this;
    }
    // Collection window (default 100 ms, zero disables it): a reader
    // collecting within it after a cycle it shared, and not yet served
    // from it, gets that cycle's reading (its time) without a new walk or
    // callbacks. Flushes and the final collection always read anew. See
    // fm_provider_builder_set_collection_window.
    Builder& SetCollectionWindow(std::chrono::milliseconds window) {
      detail::Check(fm_provider_builder_set_collection_window(h_.get(), detail::Millis(window)));
      return *this;
    }
    // Histograms no view configures: explicit buckets (default) or base2
    // exponential buckets (FM_HISTOGRAM_AGGREGATION_*).
    Builder& SetDefaultHistogramAggregation(uint32_t aggregation) {
      detail::Check(fm_provider_builder_set_default_histogram_aggregation(h_.get(), aggregation));
      return *this;
    }
    // Which measurements may become exemplars (FM_EXEMPLAR_FILTER_*);
    // unset, OTEL_METRICS_EXEMPLAR_FILTER decides, else trace-based.
    Builder& SetExemplarFilter(uint32_t filter) {
      detail::Check(fm_provider_builder_set_exemplar_filter(h_.get(), filter));
      return *this;
    }
    MeterProvider Build() const {
      fm_provider* p = nullptr;
      detail::Check(fm_provider_builder_build(h_.get(), &p));
      return MeterProvider(p);
    }
    /// Build() without exceptions.
    Result<MeterProvider> TryBuild() const {
      fm_provider* p = nullptr;
      fm_status st = fm_provider_builder_build(h_.get(), &p);
      if (st != FM_STATUS_OK) return detail::Fail<MeterProvider>(st);
      return MeterProvider(p);
    }

   private:
    detail::Owned<fm_provider_builder, fm_provider_builder_release> h_;
  };

  /// A provider with default configuration and no reader.
  MeterProvider() : MeterProvider(static_cast<const fm_manual_reader*>(nullptr)) {}
  /// A provider with default configuration and `reader` attached.
  explicit MeterProvider(const ManualReader& reader) : MeterProvider(reader.get()) {}
  explicit MeterProvider(fm_provider* p) noexcept : h_(p) {}

  /// The meter of a scope (equal scopes share instruments).
  Meter GetMeter(std::string_view name, std::string_view version = {}, std::string_view schema_url = {}) const {
    fm_meter* m = nullptr;
    detail::Check(fm_provider_get_meter(h_.get(), name.data(), name.size(), version.data(), version.size(),
                                        schema_url.data(), schema_url.size(), &m));
    return Meter(m);
  }
  /// The meter of a scope with scope attributes (opentelemetry-cpp's
  /// GetMeter(name, version, schema_url, attributes)): exported with the
  /// scope, and part of its identity (other attributes, another meter).
  Meter GetMeter(std::string_view name, std::string_view version, std::string_view schema_url,
                 Attributes attributes) const {
    return GetMeter(name, version, schema_url, attributes.begin(), attributes.size());
  }
  Meter GetMeter(std::string_view name, std::string_view version, std::string_view schema_url,
                 const std::vector<Attribute>& attributes) const {
    return GetMeter(name, version, schema_url, attributes.data(), attributes.size());
  }
  Meter GetMeter(std::string_view name, std::string_view version, std::string_view schema_url,
                 const Attribute* attributes, size_t n) const {
    fm_meter* m = nullptr;
    detail::Check(fm_provider_get_meter_with_attributes(h_.get(), name.data(), name.size(), version.data(),
                                                        version.size(), schema_url.data(), schema_url.size(),
                                                        detail::Data(attributes), n, &m));
    return Meter(m);
  }
  /// GetMeter() without exceptions (FM_STATUS_INVALID_UTF8, FM_STATUS_SHUTDOWN...).
  Result<Meter> TryGetMeter(std::string_view name, std::string_view version = {},
                            std::string_view schema_url = {}) const {
    return TryGetMeter(name, version, schema_url, nullptr, 0);
  }
  /// GetMeter() with scope attributes, without exceptions
  /// (FM_STATUS_INVALID_ATTRIBUTES for an empty key or invalid UTF-8...).
  Result<Meter> TryGetMeter(std::string_view name, std::string_view version, std::string_view schema_url,
                            Attributes attributes) const {
    return TryGetMeter(name, version, schema_url, attributes.begin(), attributes.size());
  }
  Result<Meter> TryGetMeter(std::string_view name, std::string_view version, std::string_view schema_url,
                            const Attribute* attributes, size_t n) const {
    fm_meter* m = nullptr;
    fm_status st = fm_provider_get_meter_with_attributes(h_.get(), name.data(), name.size(), version.data(),
                                                         version.size(), schema_url.data(), schema_url.size(),
                                                         detail::Data(attributes), n, &m);
    if (st != FM_STATUS_OK) return detail::Fail<Meter>(st);
    return Meter(m);
  }
  /// Adds a view to the built provider (opentelemetry-cpp's AddView),
  /// after the builder's views. Views apply when an instrument is
  /// created: this one shapes instruments created after AddView returns;
  /// existing instruments keep their streams, and creating one of them
  /// again returns it unchanged. Safe from any thread while others create
  /// instruments (each creation sees the view whole or not at all),
  /// record or collect. It fails only for a moved-from provider or view.
  void AddView(const View& v) const { detail::Check(fm_provider_add_view(h_.get(), v.get())); }
  /// A default provider with `reader` attached (or none), without exceptions.
  static Result<MeterProvider> TryCreate(const ManualReader* reader = nullptr) {
    fm_provider* p = nullptr;
    fm_status st = fm_provider_new(reader ? reader->get() : nullptr, &p);
    if (st != FM_STATUS_OK) return detail::Fail<MeterProvider>(st);
    return MeterProvider(p);
  }
  void AddReader(const ManualReader& r) const { detail::Check(fm_provider_add_reader(h_.get(), r.get())); }
  /// Stops recording, lets every reader do its final collection and
  /// export within `timeout`, shuts the exporters down. Idempotent (later
  /// calls report OK). Never throws Error: see FlushResult.
  FlushResult Shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    uint64_t lost = 0;
    fm_status st = fm_provider_shutdown_report(h_.get(), detail::Millis(timeout), &lost);
    return detail::Flushed(st, lost);
  }
  /// Collects and exports now on every reader, within `timeout`. Never
  /// throws Error: see FlushResult (FM_STATUS_SHUTDOWN after shutdown).
  FlushResult ForceFlush(std::chrono::milliseconds timeout = std::chrono::seconds(5)) const {
    uint64_t lost = 0;
    fm_status st = fm_provider_force_flush_report(h_.get(), detail::Millis(timeout), &lost);
    return detail::Flushed(st, lost);
  }
  bool IsShutdown() const noexcept { return fm_provider_is_shutdown(h_.get()); }
  RejectedCounts Rejected() const {
    RejectedCounts c{};
    detail::Check(fm_provider_rejected(h_.get(), &c));
    return c;
  }
  const fm_provider* get() const noexcept { return h_.get(); }

 private:
  explicit MeterProvider(const fm_manual_reader* r) {
    fm_provider* p = nullptr;
    detail::Check(fm_provider_new(r, &p));
    h_.reset(p);
  }
  detail::Owned<fm_provider, fm_provider_release> h_;
};

// ---------------------------------------------------------- global provider

namespace detail {

struct GlobalCounterTag {};
struct GlobalUpDownCounterTag {};
struct GlobalHistogramTag {};
struct GlobalGaugeTag {};
struct GlobalObservableCounterTag {};
struct GlobalObservableUpDownCounterTag {};
struct GlobalObservableGaugeTag {};

#define FERROMETER_GLOBAL_SYNC_OPS(TAG, T, N, VERB)                                   \
  template <>                                                                        \
  struct Ops<TAG, T> {                                                               \
    using Handle = fm_global_##N;                                                    \
    static fm_status Create(const fm_global_meter* m, const char* n, size_t l,       \
                            const fm_instrument_options* o, Handle** out) noexcept { \
      return fm_global_meter_create_##N(m, n, l, o, out);                            \
    }                                                                                \
    static void Release(Handle* h) noexcept { fm_global_##N##_release(h); }          \
    static void Record(const Handle* h, T v, const fm_attribute* a, size_t n) noexcept { \
      fm_global_##N##_##VERB(h, v, a, n);                                            \
    }                                                                                \
    static void RecordPrepared(const Handle* h, T v, const fm_attribute_set* s) noexcept { \
      fm_global_##N##_##VERB##_prepared(h, v, s);                                    \
    }                                                                                \
  };

FERROMETER_GLOBAL_SYNC_OPS(GlobalCounterTag, uint64_t, counter_u64, add)
FERROMETER_GLOBAL_SYNC_OPS(GlobalCounterTag, double, counter_f64, add)
FERROMETER_GLOBAL_SYNC_OPS(GlobalUpDownCounterTag, int64_t, updown_counter_i64, add)
FERROMETER_GLOBAL_SYNC_OPS(GlobalUpDownCounterTag, double, updown_counter_f64, add)
FERROMETER_GLOBAL_SYNC_OPS(GlobalHistogramTag, uint64_t, histogram_u64, record)
FERROMETER_GLOBAL_SYNC_OPS(GlobalHistogramTag, double, histogram_f64, record)
FERROMETER_GLOBAL_SYNC_OPS(GlobalGaugeTag, int64_t, gauge_i64, record)
FERROMETER_GLOBAL_SYNC_OPS(GlobalGaugeTag, double, gauge_f64, record)
#undef FERROMETER_GLOBAL_SYNC_OPS

#define FERROMETER_GLOBAL_OBS_OPS(TAG, T, N, F64)                                    \
  template <>                                                                        \
  struct Ops<TAG, T> {                                                               \
    using Handle = fm_global_##N;                                                    \
    using Registration = fm_global_callback_registration;                            \
    static fm_status Create(const fm_global_meter* m, const char* n, size_t l,       \
                            const fm_instrument_options* o, Handle** out) noexcept { \
      return fm_global_meter_create_##N(m, n, l, o, out);                            \
    }                                                                                \
    static void Release(Handle* h) noexcept { fm_global_##N##_release(h); }          \
    static void Observe(const Handle* h, T v, const fm_attribute* a, size_t n) noexcept { \
      fm_global_##N##_observe(h, v, a, n);                                           \
    }                                                                                \
    static void ObserveF64(const Handle* h, double v, const fm_attribute* a, size_t n) noexcept { \
      fm_global_##N##_##F64(h, v, a, n);                                             \
    }                                                                                \
    static fm_status AddCallback(const Handle* h, fm_callback cb, void* ud,          \
                                 Registration** out) noexcept {                      \
      return fm_global_##N##_add_callback(h, cb, ud, out);                           \
    }                                                                                \
  };

FERROMETER_GLOBAL_OBS_OPS(GlobalObservableCounterTag, uint64_t, observable_counter_u64, observe_f64)
FERROMETER_GLOBAL_OBS_OPS(GlobalObservableCounterTag, int64_t, observable_counter_i64, observe_f64)
FERROMETER_GLOBAL_OBS_OPS(GlobalObservableCounterTag, double, observable_counter_f64, observe)
FERROMETER_GLOBAL_OBS_OPS(GlobalObservableUpDownCounterTag, int64_t, observable_updown_counter_i64, observe_f64)
FERROMETER_GLOBAL_OBS_OPS(GlobalObservableUpDownCounterTag, double, observable_updown_counter_f64, observe)
FERROMETER_GLOBAL_OBS_OPS(GlobalObservableGaugeTag, int64_t, observable_gauge_i64, observe_f64)
FERROMETER_GLOBAL_OBS_OPS(GlobalObservableGaugeTag, double, observable_gauge_f64, observe)
#undef FERROMETER_GLOBAL_OBS_OPS

}  // namespace detail

/// A synchronous instrument of the global provider: a no-op until the host
/// sets a provider, then it records there (see Provider). Move-only;
/// recording is noexcept and lock-free; no Bind or Remove (use the
/// provider's own instruments for those).
template <class Tag, class T>
class GlobalSyncInstrument {
  using O = detail::Ops<Tag, T>;
  using H = typename O::Handle;

 public:
  explicit GlobalSyncInstrument(H* h) noexcept : h_(h) {}
  const H* get() const noexcept { return h_.get(); }

 protected:
  void Rec(T v, const Attribute* a, size_t n) const noexcept { O::Record(h_.get(), v, detail::Data(a), n); }
  void Rec(T v, const AttributeSet& s) const noexcept { O::RecordPrepared(h_.get(), v, s.get()); }
  template <class C>
  void RecKeyValues(T v, const C& kvs) const noexcept {
    const H* h = h_.get();
    detail::WithKeyValues(kvs, [h, v](const fm_attribute* a, size_t n) { O::Record(h, v, a, n); });
  }

 private:
  struct Del {
    void operator()(H* h) const noexcept { O::Release(h); }
  };
  std::unique_ptr<H, Del> h_;
};

#define FERROMETER_GLOBAL_SYNC_CLASS(NAME, TAG, VERB)                                               \
  template <class T>                                                                               \
  class NAME : public GlobalSyncInstrument<detail::TAG, T> {                                       \
   public:                                                                                         \
    using GlobalSyncInstrument<detail::TAG, T>::GlobalSyncInstrument;                              \
    FERROMETER_ATTRIBUTE_OVERLOADS(VERB)                                                           \
  };

/// Counter<T> of the global provider.
FERROMETER_GLOBAL_SYNC_CLASS(GlobalCounter, GlobalCounterTag, Add)
/// UpDownCounter<T> of the global provider.
FERROMETER_GLOBAL_SYNC_CLASS(GlobalUpDownCounter, GlobalUpDownCounterTag, Add)
/// Histogram<T> of the global provider.
FERROMETER_GLOBAL_SYNC_CLASS(GlobalHistogram, GlobalHistogramTag, Record)
/// Gauge<T> of the global provider.
FERROMETER_GLOBAL_SYNC_CLASS(GlobalGauge, GlobalGaugeTag, Record)
#undef FERROMETER_GLOBAL_SYNC_CLASS
#undef FERROMETER_ATTRIBUTE_OVERLOADS

/// Observable instruments of the global provider: their callbacks run in
/// the collections of the provider set (never while none is set), and
/// follow the instrument when another provider is set.
template <class T>
using GlobalObservableCounter = ObservableInstrument<detail::GlobalObservableCounterTag, T>;
template <class T>
using GlobalObservableUpDownCounter = ObservableInstrument<detail::GlobalObservableUpDownCounterTag, T>;
template <class T>
using GlobalObservableGauge = ObservableInstrument<detail::GlobalObservableGaugeTag, T>;

/// A meter of the global provider (see Provider). Creating instruments
/// works before any provider is set; every Create* throws Error on an
/// invalid name, unit, description or boundaries (without exceptions: see
/// the header's conventions). Synchronous instruments come back as
/// std::unique_ptr and observables as std::shared_ptr, as opentelemetry-cpp
/// returns them, so `meter->CreateUInt64Counter(...)` then `counter->Add(...)`
/// port with a change of names only.
class GlobalMeter {
 public:
  explicit GlobalMeter(fm_global_meter* m) noexcept : h_(m) {}

  std::unique_ptr<GlobalCounter<uint64_t>> CreateUInt64Counter(std::string_view name, std::string_view description = {},
                                                               std::string_view unit = {}) const {
    return Sync<GlobalCounter<uint64_t>, detail::GlobalCounterTag, uint64_t>(name, description, unit);
  }
  std::unique_ptr<GlobalCounter<double>> CreateDoubleCounter(std::string_view name, std::string_view description = {},
                                                             std::string_view unit = {}) const {
    return Sync<GlobalCounter<double>, detail::GlobalCounterTag, double>(name, description, unit);
  }
  std::unique_ptr<GlobalUpDownCounter<int64_t>> CreateInt64UpDownCounter(std::string_view name,
                                                                         std::string_view description = {},
                                                                         std::string_view unit = {}) const {
    return Sync<GlobalUpDownCounter<int64_t>, detail::GlobalUpDownCounterTag, int64_t>(name, description, unit);
  }
  std::unique_ptr<GlobalUpDownCounter<double>> CreateDoubleUpDownCounter(std::string_view name,
                                                                         std::string_view description = {},
                                                                         std::string_view unit = {}) const {
    return Sync<GlobalUpDownCounter<double>, detail::GlobalUpDownCounterTag, double>(name, description, unit);
  }
  std::unique_ptr<GlobalHistogram<uint64_t>> CreateUInt64Histogram(std::string_view name,
                                                                   std::string_view description = {},
                                                                   std::string_view unit = {},
                                                                   const std::vector<double>& boundaries = {}) const {
    return Sync<GlobalHistogram<uint64_t>, detail::GlobalHistogramTag, uint64_t>(name, description, unit,
                                                                                &boundaries);
  }
  std::unique_ptr<GlobalHistogram<double>> CreateDoubleHistogram(std::string_view name,
                                                                 std::string_view description = {},
                                                                 std::string_view unit = {},
                                                                 const std::vector<double>& boundaries = {}) const {
    return Sync<GlobalHistogram<double>, detail::GlobalHistogramTag, double>(name, description, unit, &boundaries);
  }
  std::unique_ptr<GlobalGauge<int64_t>> CreateInt64Gauge(std::string_view name, std::string_view description = {},
                                                         std::string_view unit = {}) const {
    return Sync<GlobalGauge<int64_t>, detail::GlobalGaugeTag, int64_t>(name, description, unit);
  }
  std::unique_ptr<GlobalGauge<double>> CreateDoubleGauge(std::string_view name, std::string_view description = {},
                                                         std::string_view unit = {}) const {
    return Sync<GlobalGauge<double>, detail::GlobalGaugeTag, double>(name, description, unit);
  }
  std::shared_ptr<GlobalObservableCounter<uint64_t>> CreateUInt64ObservableCounter(
      std::string_view name, std::string_view description = {}, std::string_view unit = {}) const {
    return Obs<GlobalObservableCounter<uint64_t>, detail::GlobalObservableCounterTag, uint64_t>(name, description,
                                                                                               unit);
  }
  std::shared_ptr<GlobalObservableCounter<int64_t>> CreateInt64ObservableCounter(
      std::string_view name, std::string_view description = {}, std::string_view unit = {}) const {
    return Obs<GlobalObservableCounter<int64_t>, detail::GlobalObservableCounterTag, int64_t>(name, description,
                                                                                             unit);
  }
  std::shared_ptr<GlobalObservableCounter<double>> CreateDoubleObservableCounter(
      std::string_view name, std::string_view description = {}, std::string_view unit = {}) const {
    return Obs<GlobalObservableCounter<double>, detail::GlobalObservableCounterTag, double>(name, description, unit);
  }
  std::shared_ptr<GlobalObservableUpDownCounter<int64_t>> CreateInt64ObservableUpDownCounter(
      std::string_view name, std::string_view description = {}, std::string_view unit = {}) const {
    return Obs<GlobalObservableUpDownCounter<int64_t>, detail::GlobalObservableUpDownCounterTag, int64_t>(
        name, description, unit);
  }
  std::shared_ptr<GlobalObservableUpDownCounter<double>> CreateDoubleObservableUpDownCounter(
      std::string_view name, std::string_view description = {}, std::string_view unit = {}) const {
    return Obs<GlobalObservableUpDownCounter<double>, detail::GlobalObservableUpDownCounterTag, double>(
        name, description, unit);
  }
  std::shared_ptr<GlobalObservableGauge<int64_t>> CreateInt64ObservableGauge(
      std::string_view name, std::string_view description = {}, std::string_view unit = {}) const {
    return Obs<GlobalObservableGauge<int64_t>, detail::GlobalObservableGaugeTag, int64_t>(name, description, unit);
  }
  std::shared_ptr<GlobalObservableGauge<double>> CreateDoubleObservableGauge(
      std::string_view name, std::string_view description = {}, std::string_view unit = {}) const {
    return Obs<GlobalObservableGauge<double>, detail::GlobalObservableGaugeTag, double>(name, description, unit);
  }

  const fm_global_meter* get() const noexcept { return h_.get(); }

 private:
  template <class Tag, class T>
  detail::HandleOf<Tag, T>* Make(std::string_view name, std::string_view description, std::string_view unit,
                                 const std::vector<double>* boundaries) const {
    fm_instrument_options o{};
    o.description = fm_str{description.data(), description.size()};
    o.unit = fm_str{unit.data(), unit.size()};
    if (boundaries && !boundaries->empty()) {
      o.boundaries = boundaries->data();
      o.boundaries_len = boundaries->size();
    }
    detail::HandleOf<Tag, T>* h = nullptr;
    detail::Check(detail::Ops<Tag, T>::Create(h_.get(), name.data(), name.size(), &o, &h));
    return h;
  }
  template <class I, class Tag, class T>
  std::unique_ptr<I> Sync(std::string_view name, std::string_view description, std::string_view unit,
                          const std::vector<double>* boundaries = nullptr) const {
    return std::make_unique<I>(Make<Tag, T>(name, description, unit, boundaries));
  }
  template <class I, class Tag, class T>
  std::shared_ptr<I> Obs(std::string_view name, std::string_view description, std::string_view unit) const {
    return std::make_shared<I>(Make<Tag, T>(name, description, unit, nullptr));
  }

  detail::Owned<fm_global_meter, fm_global_meter_release> h_;
};

/// The global provider as a library sees it: meters whose instruments
/// record into whatever provider the host sets (see Provider).
class GlobalMeterProvider {
 public:
  /// The meter of a scope; valid before any provider is set. Throws Error
  /// (FM_STATUS_INVALID_ARGUMENT for an empty name, FM_STATUS_INVALID_UTF8).
  std::shared_ptr<GlobalMeter> GetMeter(std::string_view name, std::string_view version = {},
                                        std::string_view schema_url = {}) const {
    fm_global_meter* m = nullptr;
    detail::Check(fm_global_get_meter(name.data(), name.size(), version.data(), version.size(), schema_url.data(),
                                      schema_url.size(), &m));
    return std::make_shared<GlobalMeter>(m);
  }
};

/// The process-wide meter provider (opentelemetry-cpp's
/// opentelemetry::metrics::Provider). Libraries instrument against
/// GetMeterProvider() without knowing the SDK; the host calls
/// SetMeterProvider(provider) when (and if) it configures one.
///
/// - Before a provider is set, global instruments are no-ops: a recording
///   call is one C call that loads a pointer and returns.
/// - Once it is set, every global instrument, created before or after,
///   records into it, with no lock on the recording path; a measurement
///   that starts after SetMeterProvider returns is never lost. (Unlike
///   opentelemetry-cpp, where instruments created before the set stay
///   no-ops.)
/// - Setting another provider moves every global instrument (and its
///   callbacks) to it; SetMeterProvider(nullptr) makes them no-ops again.
///   Concurrent measurements land in the old or the new one.
/// - The global does not own the provider: destroying the host's last
///   MeterProvider shuts it down as usual (final export included), after
///   which global instruments count their measurements as after-shutdown
///   in it. Call SetMeterProvider(nullptr) before that to make them no-ops.
/// - Thread safety: any thread, concurrently with recording; never from an
///   observable callback.
class Provider {
 public:
  /// The global provider (one shared object; cheap to call).
  static std::shared_ptr<GlobalMeterProvider> GetMeterProvider() {
    static const std::shared_ptr<GlobalMeterProvider> global = std::make_shared<GlobalMeterProvider>();
    return global;
  }
  /// Makes `provider` the global provider (see the class comment).
  static void SetMeterProvider(const MeterProvider& provider) noexcept {
    fm_global_set_meter_provider(provider.get());
  }
  /// Clears the global provider: global instruments become no-ops.
  static void SetMeterProvider(std::nullptr_t) noexcept { fm_global_set_meter_provider(nullptr); }
  /// As opentelemetry-cpp hosts hold their provider: an empty pointer
  /// clears the global provider. The global keeps no reference to `provider`.
  static void SetMeterProvider(const std::shared_ptr<MeterProvider>& provider) noexcept {
    fm_global_set_meter_provider(provider ? provider->get() : nullptr);
  }
  /// True while a provider is set.
  static bool HasMeterProvider() noexcept { return fm_global_meter_provider_is_set(); }
};

// ------------------------------------------------------------ diagnostics

/// Severity of a diagnostic message (FM_LEVEL_*).
enum class DiagnosticLevel : fm_level {
  kDebug = FM_LEVEL_DEBUG,
  kInfo = FM_LEVEL_INFO,
  kWarn = FM_LEVEL_WARN,
  kError = FM_LEVEL_ERROR,
};

/// Receives the SDK's warnings and errors (refused instruments, rejected
/// measurements, export failures). Called from any thread, possibly
/// concurrently; `message` is valid for the call only. Messages about
/// rejected measurements on recording threads are rate-limited per reason.
/// Exceptions it throws are caught and dropped; it should not call back
/// into the library.
using DiagnosticsHandler = std::function<void(DiagnosticLevel level, std::string_view message)>;

namespace detail {
struct DiagnosticsSlot {
  std::mutex mu;
  std::shared_ptr<const DiagnosticsHandler> handler;
  static DiagnosticsSlot& Get() noexcept {
    static DiagnosticsSlot slot;
    return slot;
  }
  std::shared_ptr<const DiagnosticsHandler> Load() noexcept {
    std::lock_guard<std::mutex> lock(mu);
    return handler;
  }
  void Store(std::shared_ptr<const DiagnosticsHandler> h) noexcept {
    std::lock_guard<std::mutex> lock(mu);
    handler.swap(h);
  }  // the previous handler is destroyed here, outside the lock, once no call uses it
};

inline void DiagnosticsTrampoline(fm_level level, const char* message, size_t message_len, void*) noexcept {
  // A call in progress keeps its handler alive even if another thread
  // replaces it meanwhile.
  std::shared_ptr<const DiagnosticsHandler> h = DiagnosticsSlot::Get().Load();
  if (!h || !*h) return;
  FERROMETER_TRY {
    (*h)(static_cast<DiagnosticLevel>(level),
         message ? std::string_view(message, message_len) : std::string_view());
  } FERROMETER_CATCH_ALL {
  }
}
}  // namespace detail

/// Restores the default diagnostics handler (warnings and errors on stderr).
inline void ResetDiagnosticsHandler() noexcept {
  fm_diagnostics_set_handler(nullptr, nullptr);
  detail::DiagnosticsSlot::Get().Store(nullptr);
}

/// Installs `handler` as the process-wide diagnostics handler, replacing
/// any previous one (C or C++). An empty function restores the default.
/// Thread safety: any thread; a message being delivered while the handler
/// is replaced finishes with the old one, which is destroyed afterwards.
inline void SetDiagnosticsHandler(DiagnosticsHandler handler) {
  if (!handler) {
    ResetDiagnosticsHandler();
    return;
  }
  detail::DiagnosticsSlot::Get().Store(std::make_shared<const DiagnosticsHandler>(std::move(handler)));
  fm_diagnostics_set_handler(&detail::DiagnosticsTrampoline, nullptr);
}

/// Drops every diagnostic message (no handler, nothing on stderr).
inline void SilenceDiagnostics() noexcept {
  fm_diagnostics_set_silent();
  detail::DiagnosticsSlot::Get().Store(nullptr);
}

/// Installs a diagnostics handler for its lifetime; the destructor
/// restores the default handler (stderr). Not nestable: the innermost
/// destructor restores the default, not the outer handler.
class ScopedDiagnosticsHandler {
 public:
  explicit ScopedDiagnosticsHandler(DiagnosticsHandler handler) { SetDiagnosticsHandler(std::move(handler)); }
  ScopedDiagnosticsHandler(const ScopedDiagnosticsHandler&) = delete;
  ScopedDiagnosticsHandler& operator=(const ScopedDiagnosticsHandler&) = delete;
  ~ScopedDiagnosticsHandler() { ResetDiagnosticsHandler(); }
};

/// The library's version string (compare with FERROMETER_VERSION_STRING).
inline std::string_view Version() noexcept { return fm_version(); }

}  // namespace ferrometer

namespace ferrometer {

/// How metric and label names are translated for Prometheus (the
/// OpenTelemetry Prometheus exporter specification's strategies). Each
/// scrape still gets names escaped as its Accept header negotiates.
enum class PrometheusTranslation : fm_prometheus_translation {
  /// `http.server.duration` → `http_server_duration_seconds` (the default).
  kUnderscoreEscapingWithSuffixes = FM_PROMETHEUS_TRANSLATION_UNDERSCORE_ESCAPING_WITH_SUFFIXES,
  /// `http_server_duration`: sanitized, no unit or `_total` suffix.
  kUnderscoreEscapingWithoutSuffixes = FM_PROMETHEUS_TRANSLATION_UNDERSCORE_ESCAPING_WITHOUT_SUFFIXES,
  /// `http.server.duration_seconds` for scrapers that take UTF-8.
  kNoUTF8EscapingWithSuffixes = FM_PROMETHEUS_TRANSLATION_NO_UTF8_ESCAPING_WITH_SUFFIXES,
  /// `http.server.duration`: names exactly as recorded.
  kNoTranslation = FM_PROMETHEUS_TRANSLATION_NO_TRANSLATION,
};

/// Configuration of a PrometheusServer (copied when the server starts).
struct PrometheusServerOptions {
  std::string path = "/metrics";
  /// A scrape waits at most this long for its collection (then HTTP 503).
  std::chrono::milliseconds scrape_timeout{10000};
  /// A client must send its whole request head within this time.
  std::chrono::milliseconds header_timeout{5000};
  std::size_t max_connections = 64;
  /// Non-empty: require `Authorization: Bearer <token>`.
  std::string bearer_token;
  /// Non-empty user: require HTTP basic authentication.
  std::string basic_user;
  std::string basic_password;
  bool gzip = true;
  bool openmetrics = true;
  bool self_metrics = true;
  bool scope_labels = true;
  bool target_info = true;
  PrometheusTranslation translation_strategy = PrometheusTranslation::kUnderscoreEscapingWithSuffixes;
  /// No unit suffixes (`_seconds`...) and no OpenMetrics `# UNIT`.
  bool without_units = false;
  /// No `_total` on counters in the text format.
  bool without_type_suffix = false;
  /// HTTPS: a certificate chain and its key as PEM files, or (when the
  /// file names are empty) as PEM text in memory. Empty: plain HTTP.
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_cert_pem;
  std::string tls_key_pem;
  /// Non-empty (file, else PEM text): require client certificates signed
  /// by this CA (mutual TLS). Needs a certificate above.
  std::string tls_client_ca_file;
  std::string tls_client_ca_pem;
};

/// A Prometheus pull endpoint (`GET /metrics`) for a provider, with its own
/// cumulative reader. Move-only; the destructor stops it and joins its
/// threads. Thread-safe.
///
///   ferrometer::PrometheusServer server(provider, "127.0.0.1:9464");
class PrometheusServer {
 public:
  /// Starts the endpoint; throws Error (FM_STATUS_INVALID_ARGUMENT for a
  /// bad address or option, FM_STATUS_FAILED when the port cannot be bound).
  explicit PrometheusServer(const MeterProvider& provider, std::string_view address = "127.0.0.1:9464",
                            const PrometheusServerOptions& options = {}) {
    fm_prometheus_server* s = nullptr;
    detail::Check(Start(provider, address, options, &s));
    h_.reset(s);
  }
  /// The constructor without exceptions.
  static Result<PrometheusServer> TryStart(const MeterProvider& provider, std::string_view address = "127.0.0.1:9464",
                                           const PrometheusServerOptions& options = {}) {
    fm_prometheus_server* s = nullptr;
    fm_status st = Start(provider, address, options, &s);
    if (st != FM_STATUS_OK) return detail::Fail<PrometheusServer>(st);
    return PrometheusServer(s);
  }
  /// Takes ownership of a C server handle.
  explicit PrometheusServer(fm_prometheus_server* s) noexcept : h_(s) {}
  /// The TCP port it listens on (useful with port 0).
  std::uint16_t Port() const noexcept { return static_cast<std::uint16_t>(fm_prometheus_server_port(h_.get())); }
  /// Stops it now (idempotent; the destructor does it too).
  void Stop() { detail::Check(fm_prometheus_server_stop(h_.get())); }
  const fm_prometheus_server* get() const noexcept { return h_.get(); }

 private:
  static fm_status Start(const MeterProvider& provider, std::string_view address,
                         const PrometheusServerOptions& o, fm_prometheus_server** out) {
    fm_prometheus_options* raw = nullptr;
    fm_status st = fm_prometheus_options_new(&raw);
    if (st != FM_STATUS_OK) return st;
    detail::Owned<fm_prometheus_options, fm_prometheus_options_release> opts(raw);
    auto chain = [&st](fm_status next) {
      if (st == FM_STATUS_OK) st = next;
    };
    chain(fm_prometheus_options_set_path(raw, o.path.data(), o.path.size()));
    chain(fm_prometheus_options_set_scrape_timeout_ms(raw, static_cast<std::uint64_t>(o.scrape_timeout.count())));
    chain(fm_prometheus_options_set_header_timeout_ms(raw, static_cast<std::uint64_t>(o.header_timeout.count())));
    chain(fm_prometheus_options_set_max_connections(raw, o.max_connections));
    if (!o.bearer_token.empty())
      chain(fm_prometheus_options_set_bearer_token(raw, o.bearer_token.data(), o.bearer_token.size()));
    if (!o.basic_user.empty())
      chain(fm_prometheus_options_set_basic_auth(raw, o.basic_user.data(), o.basic_user.size(),
                                                 o.basic_password.data(), o.basic_password.size()));
    chain(fm_prometheus_options_set_gzip(raw, o.gzip));
    chain(fm_prometheus_options_set_openmetrics(raw, o.openmetrics));
    chain(fm_prometheus_options_set_self_metrics(raw, o.self_metrics));
    chain(fm_prometheus_options_set_scope_labels(raw, o.scope_labels));
    chain(fm_prometheus_options_set_target_info(raw, o.target_info));
    chain(fm_prometheus_options_set_translation_strategy(raw,
                                                          static_cast<fm_prometheus_translation>(o.translation_strategy)));
    chain(fm_prometheus_options_set_without_units(raw, o.without_units));
    chain(fm_prometheus_options_set_without_type_suffix(raw, o.without_type_suffix));
    if (!o.tls_cert_file.empty() || !o.tls_key_file.empty())
      chain(fm_prometheus_options_set_tls_files(raw, o.tls_cert_file.data(), o.tls_cert_file.size(),
                                                o.tls_key_file.data(), o.tls_key_file.size()));
    else if (!o.tls_cert_pem.empty() || !o.tls_key_pem.empty())
      chain(fm_prometheus_options_set_tls_pem(raw, o.tls_cert_pem.data(), o.tls_cert_pem.size(), o.tls_key_pem.data(),
                                              o.tls_key_pem.size()));
    if (!o.tls_client_ca_file.empty())
      chain(fm_prometheus_options_set_tls_client_ca_file(raw, o.tls_client_ca_file.data(), o.tls_client_ca_file.size()));
    else if (!o.tls_client_ca_pem.empty())
      chain(fm_prometheus_options_set_tls_client_ca_pem(raw, o.tls_client_ca_pem.data(), o.tls_client_ca_pem.size()));
    if (st != FM_STATUS_OK) return st;
    return fm_prometheus_server_start(provider.get(), address.data(), address.size(), raw, out);
  }
  detail::Owned<fm_prometheus_server, fm_prometheus_server_release> h_;
};

/// A Prometheus exposition format.
enum class ExpositionFormat : fm_prometheus_format {
  kText = FM_PROMETHEUS_FORMAT_TEXT,               ///< text 0.0.4
  kOpenMetrics = FM_PROMETHEUS_FORMAT_OPENMETRICS, ///< OpenMetrics 1.0
  kProtobuf = FM_PROMETHEUS_FORMAT_PROTOBUF,       ///< delimited MetricFamily, native histograms
};

/// Encodes a snapshot (from a cumulative ManualReader) in a Prometheus
/// exposition format. Throws Error on failure.
inline std::string EncodePrometheus(const Snapshot& snapshot, ExpositionFormat format) {
  const auto f = static_cast<fm_prometheus_format>(format);
  std::size_t n = 0;
  detail::Check(fm_prometheus_encode(snapshot.get(), f, nullptr, 0, &n));
  std::string out(n, '\0');
  detail::Check(fm_prometheus_encode(snapshot.get(), f, out.data(), out.size(), &n));
  out.resize(n);
  return out;
}

/// Text 0.0.4, or OpenMetrics 1.0 (e.g. for node_exporter's textfile
/// collector).
inline std::string EncodePrometheus(const Snapshot& snapshot, bool openmetrics = false) {
  return EncodePrometheus(snapshot, openmetrics ? ExpositionFormat::kOpenMetrics : ExpositionFormat::kText);
}

}  // namespace ferrometer

#endif  // FERROMETER_HPP
