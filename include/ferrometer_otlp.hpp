// ferrometer_otlp.hpp: C++17 wrappers for the OTLP exporters (OTLP/HTTP,
// OTLP/gRPC in builds with -DFERROMETER_OTLP_GRPC=ON, and OTLP JSON lines
// to a file or stdout) and the OTLP encoders, over the C ABI in
// ferrometer.h.
//
//   ferrometer::OtlpHttpOptions o;                 // defaults + OTEL_EXPORTER_OTLP_*
//   o.endpoint = "http://collector:4318/v1/metrics";
//   o.compression = ferrometer::OtlpCompression::kGzip;
//   auto exporter = ferrometer::MakeOtlpHttpExporter(o);
//   exporter.Export(reader.Collect());            // or give it to a periodic reader
//
//   o.protocol = ferrometer::OtlpProtocol::kGrpc;   // -DFERROMETER_OTLP_GRPC=ON
//   o.endpoint = "http://collector:4317";
//   auto grpc = ferrometer::MakeOtlpPipelineExporter(o);
//
// Conventions are those of ferrometer.hpp: factories throw
// ferrometer::Error; the Try* variants return ferrometer::Result instead.
#ifndef FERROMETER_OTLP_HPP
#define FERROMETER_OTLP_HPP

#include "ferrometer.hpp"
#include "ferrometer_exporters.hpp"

namespace ferrometer {

/// Body compression of OTLP/HTTP requests.
enum class OtlpCompression : fm_otlp_compression {
  kNone = FM_OTLP_COMPRESSION_NONE,
  kGzip = FM_OTLP_COMPRESSION_GZIP,
};

/// OTLP encoding: protobuf (`http/protobuf`) or OTLP/JSON (`http/json`).
enum class OtlpEncoding : fm_otlp_encoding {
  kProtobuf = FM_OTLP_ENCODING_PROTOBUF,
  kJson = FM_OTLP_ENCODING_JSON,
};

/// OTLP protocol. kGrpc (OTLP/gRPC, MetricsService/Export) needs a library
/// built with -DFERROMETER_OTLP_GRPC=ON (OtlpGrpcAvailable()); other builds
/// refuse it with FM_STATUS_UNSUPPORTED, naming the option. gRPC runs only
/// behind the export pipeline (MakeOtlpPipelineExporter).
enum class OtlpProtocol : fm_otlp_protocol {
  kHttpProtobuf = FM_OTLP_PROTOCOL_HTTP_PROTOBUF,
  kHttpJson = FM_OTLP_PROTOCOL_HTTP_JSON,
  kGrpc = FM_OTLP_PROTOCOL_GRPC,
};

/// Whether this library has OTLP/gRPC (-DFERROMETER_OTLP_GRPC=ON).
inline bool OtlpGrpcAvailable() noexcept { return fm_otlp_grpc_available(); }

/// Retries of HTTP 429/502/503/504, timeouts and connection failures:
/// exponential backoff with full jitter, or the server's Retry-After,
/// never past the export deadline.
struct OtlpRetryPolicy {
  /// Attempts per export, the first included (1: no retry; 0: until the deadline).
  std::uint32_t max_attempts = 5;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{5000};
  double multiplier = 1.5;
};

/// Configuration of an OTLP/HTTP exporter. Unset fields keep the value of
/// the environment (when read_env) or the default.
struct OtlpHttpOptions {
  /// Start from the OTEL_EXPORTER_OTLP_* environment variables (read when
  /// the exporter is made); fields set here override them.
  bool read_env = true;
  /// Full URL, used as is (default http://localhost:4318/v1/metrics).
  std::optional<std::string> endpoint;
  /// Base URL to which /v1/metrics is appended (ignored when endpoint is set).
  std::optional<std::string> base_endpoint;
  /// Extra headers; each replaces one of the same name from the environment.
  std::vector<std::pair<std::string, std::string>> headers;
  /// Timeout of one request (default 10 s).
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<OtlpCompression> compression;
  std::optional<OtlpEncoding> encoding;
  /// Protocol (default http/protobuf, or OTEL_EXPORTER_OTLP_PROTOCOL); set
  /// after `encoding`, so it wins. With kGrpc the endpoint's scheme and
  /// authority are used (http:// or https://, or host:port with `insecure`;
  /// the path is ignored; unset: http://localhost:4317), headers are gRPC
  /// metadata; both MakeOtlpHttpExporter and MakeOtlpPipelineExporter
  /// then speak OTLP/gRPC.
  std::optional<OtlpProtocol> protocol;
  /// OTLP/gRPC with an endpoint without a scheme (collector:4317): true
  /// for plain HTTP/2, false (default, or OTEL_EXPORTER_OTLP_INSECURE) for
  /// TLS. Ignored when the endpoint has an http:// or https:// scheme.
  std::optional<bool> insecure;
  std::optional<Temporality> temporality;
  /// PEM file of CA certificates to trust for https instead of the system roots.
  std::optional<std::string> certificate;
  /// PEM client certificate chain and key for mutual TLS.
  std::optional<std::string> client_certificate;
  std::optional<std::string> client_key;
  std::optional<OtlpRetryPolicy> retry;
};

/// Configuration of an OTLP JSON-lines file exporter.
struct OtlpFileOptions {
  /// File to append to; empty writes to standard output.
  std::string path;
  /// Rotate before a line would make the file larger than this (0: never).
  std::uint64_t max_bytes = 0;
  /// Rotated files kept (path.1, path.2, ...).
  std::uint32_t max_backups = 1;
  Temporality temporality = Temporality::kCumulative;
};

namespace detail {

/// Fills C OTLP options from `o`; returns the first failure.
inline fm_status MakeOtlpOptions(const OtlpHttpOptions& o, fm_otlp_options** out) {
  fm_otlp_options* raw = nullptr;
  fm_status st = fm_otlp_options_new(o.read_env, &raw);
  if (st != FM_STATUS_OK) return st;
  Owned<fm_otlp_options, fm_otlp_options_release> opts(raw);
  auto chain = [&st](fm_status next) {
    if (st == FM_STATUS_OK) st = next;
  };
  if (o.endpoint)
    chain(fm_otlp_options_set_endpoint(raw, o.endpoint->data(), o.endpoint->size()));
  else if (o.base_endpoint)
    chain(fm_otlp_options_set_base_endpoint(raw, o.base_endpoint->data(), o.base_endpoint->size()));
  for (const auto& h : o.headers)
    chain(fm_otlp_options_add_header(raw, h.first.data(), h.first.size(), h.second.data(), h.second.size()));
  if (o.timeout) chain(fm_otlp_options_set_timeout_ms(raw, static_cast<std::uint64_t>(o.timeout->count())));
  if (o.compression) chain(fm_otlp_options_set_compression(raw, static_cast<fm_otlp_compression>(*o.compression)));
  if (o.encoding) chain(fm_otlp_options_set_encoding(raw, static_cast<fm_otlp_encoding>(*o.encoding)));
  if (o.protocol) chain(fm_otlp_options_set_protocol(raw, static_cast<fm_otlp_protocol>(*o.protocol)));
  if (o.insecure) chain(fm_otlp_options_set_insecure(raw, *o.insecure));
  if (o.temporality)
    chain(fm_otlp_options_set_temporality(raw, static_cast<fm_temporality_preference>(*o.temporality)));
  if (o.certificate) chain(fm_otlp_options_set_certificate(raw, o.certificate->data(), o.certificate->size()));
  if (o.client_certificate || o.client_key) {
    const std::string cert = o.client_certificate.value_or(std::string());
    const std::string key = o.client_key.value_or(std::string());
    chain(fm_otlp_options_set_client_certificate(raw, cert.data(), cert.size(), key.data(), key.size()));
  }
  if (o.retry)
    chain(fm_otlp_options_set_retry(raw, o.retry->max_attempts,
                                    static_cast<std::uint64_t>(o.retry->initial_backoff.count()),
                                    static_cast<std::uint64_t>(o.retry->max_backoff.count()), o.retry->multiplier));
  if (st == FM_STATUS_OK) *out = opts.release();
  return st;
}

inline fm_status MakeOtlpHttp(const OtlpHttpOptions& o, fm_exporter** out) {
  fm_otlp_options* raw = nullptr;
  fm_status st = MakeOtlpOptions(o, &raw);
  if (st != FM_STATUS_OK) return st;
  Owned<fm_otlp_options, fm_otlp_options_release> opts(raw);
  return fm_otlp_exporter_new(raw, out);
}

inline fm_status MakeOtlpPipeline(const OtlpHttpOptions& o, const PipelineOptions& p, fm_exporter** out) {
  fm_otlp_options* raw = nullptr;
  fm_status st = MakeOtlpOptions(o, &raw);
  if (st != FM_STATUS_OK) return st;
  Owned<fm_otlp_options, fm_otlp_options_release> opts(raw);
  fm_pipeline_options* praw = nullptr;
  st = MakePipelineOptions(p, &praw);
  if (st != FM_STATUS_OK) return st;
  Owned<fm_pipeline_options, fm_pipeline_options_release> popts(praw);
  return fm_otlp_pipeline_exporter_new(raw, praw, out);
}

inline fm_status MakeOtlpFile(const OtlpFileOptions& o, fm_exporter** out) {
  return fm_otlp_file_exporter_new(o.path.data(), o.path.size(), o.max_bytes, o.max_backups,
                                   static_cast<fm_temporality_preference>(o.temporality), out);
}

}  // namespace detail

/// An OTLP exporter without the pipeline (each export sends on the
/// reader's thread, with retries): OTLP/HTTP (POST protobuf or JSON to the
/// endpoint), or OTLP/gRPC when options.protocol is kGrpc. Throws Error:
/// FM_STATUS_INVALID_ARGUMENT for a bad endpoint, header or certificate
/// file; FM_STATUS_UNSUPPORTED for kGrpc in a library built without
/// FERROMETER_OTLP_GRPC.
inline Exporter MakeOtlpHttpExporter(const OtlpHttpOptions& options = {}) {
  fm_exporter* e = nullptr;
  detail::Check(detail::MakeOtlpHttp(options, &e));
  return Exporter(e);
}

/// MakeOtlpHttpExporter without exceptions.
inline Result<Exporter> TryMakeOtlpHttpExporter(const OtlpHttpOptions& options = {}) {
  fm_exporter* e = nullptr;
  fm_status st = detail::MakeOtlpHttp(options, &e);
  if (st != FM_STATUS_OK) return detail::Fail<Exporter>(st);
  return Exporter(e);
}

/// An OTLP/HTTP exporter behind the export pipeline: exports queue
/// encoded batches and return at once; a worker thread sends them with
/// retries, Retry-After, a circuit breaker and exact accounting
/// (Exporter::Stats()); ForceFlush/Shutdown report undelivered points.
/// Give it to a periodic reader (AddPeriodicReader), which also registers
/// its ferrometer.exporter.* self-metrics. Throws Error as
/// MakeOtlpHttpExporter.
inline Exporter MakeOtlpPipelineExporter(const OtlpHttpOptions& options = {},
                                         const PipelineOptions& pipeline = {}) {
  fm_exporter* e = nullptr;
  detail::Check(detail::MakeOtlpPipeline(options, pipeline, &e));
  return Exporter(e);
}

/// MakeOtlpPipelineExporter without exceptions.
inline Result<Exporter> TryMakeOtlpPipelineExporter(const OtlpHttpOptions& options = {},
                                                    const PipelineOptions& pipeline = {}) {
  fm_exporter* e = nullptr;
  fm_status st = detail::MakeOtlpPipeline(options, pipeline, &e);
  if (st != FM_STATUS_OK) return detail::Fail<Exporter>(st);
  return Exporter(e);
}

/// An OTLP JSON-lines exporter (one ExportMetricsServiceRequest per line)
/// to a file or stdout. Throws Error when the file cannot be opened.
inline Exporter MakeOtlpFileExporter(const OtlpFileOptions& options = {}) {
  fm_exporter* e = nullptr;
  detail::Check(detail::MakeOtlpFile(options, &e));
  return Exporter(e);
}

/// MakeOtlpFileExporter without exceptions.
inline Result<Exporter> TryMakeOtlpFileExporter(const OtlpFileOptions& options = {}) {
  fm_exporter* e = nullptr;
  fm_status st = detail::MakeOtlpFile(options, &e);
  if (st != FM_STATUS_OK) return detail::Fail<Exporter>(st);
  return Exporter(e);
}

/// Encodes a snapshot as an OTLP ExportMetricsServiceRequest (protobuf
/// bytes or OTLP/JSON text), for a transport the host owns. Throws Error.
inline std::string EncodeOtlp(const Snapshot& snapshot, OtlpEncoding encoding = OtlpEncoding::kProtobuf) {
  const auto e = static_cast<fm_otlp_encoding>(encoding);
  std::size_t n = 0;
  detail::Check(fm_otlp_encode(snapshot.get(), e, nullptr, 0, &n));
  std::string out(n, '\0');
  detail::Check(fm_otlp_encode(snapshot.get(), e, out.data(), out.size(), &n));
  out.resize(n);
  return out;
}

}  // namespace ferrometer

#endif  // FERROMETER_OTLP_HPP
