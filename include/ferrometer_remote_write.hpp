// ferrometer_remote_write.hpp: C++17 wrapper for the Prometheus
// Remote-Write exporter (Prometheus, Thanos Receive, Mimir, Cortex,
// VictoriaMetrics), over the C ABI in ferrometer.h.
//
//   ferrometer::RemoteWriteOptions o;
//   o.url = "http://prometheus:9090/api/v1/write";
//   o.bearer_token = "s3cr3t";
//   auto exporter = ferrometer::MakeRemoteWriteExporter(o);
//   provider.AddPeriodicReader(exporter, ...);   // cumulative, behind the pipeline
//
// Conventions are those of ferrometer.hpp: factories throw
// ferrometer::Error; the Try* variants return ferrometer::Result instead.
#ifndef FERROMETER_REMOTE_WRITE_HPP
#define FERROMETER_REMOTE_WRITE_HPP

#include "ferrometer.hpp"
#include "ferrometer_exporters.hpp"

namespace ferrometer {

/// Remote-Write protocol version.
enum class RemoteWriteVersion : fm_remote_write_version {
  /// prometheus.WriteRequest: every receiver.
  kV1 = FM_REMOTE_WRITE_VERSION_1,
  /// io.prometheus.write.v2.Request: Prometheus 3 with
  /// --web.remote-write-receiver.accepted-protobuf-messages=io.prometheus.write.v2.Request.
  kV2 = FM_REMOTE_WRITE_VERSION_2,
};

/// Retries of 5xx, 429, timeouts and connection failures (other 4xx are
/// never retried): exponential backoff with full jitter, or the server's
/// Retry-After.
struct RemoteWriteRetryPolicy {
  /// Attempts per request, the first included (1: no retry; 0: until the
  /// pipeline's time limit).
  std::uint32_t max_attempts = 5;
  std::chrono::milliseconds initial_backoff{1000};
  std::chrono::milliseconds max_backoff{5000};
  double multiplier = 1.5;
};

/// Configuration of a Remote-Write exporter. Unset fields keep the
/// defaults of fm_remote_write_options_new.
struct RemoteWriteOptions {
  /// The receiver, e.g. http://prometheus:9090/api/v1/write (required).
  std::string url;
  std::optional<RemoteWriteVersion> version;
  /// HTTP basic auth (user, password); exclusive with bearer_token.
  std::optional<std::pair<std::string, std::string>> basic_auth;
  std::optional<std::string> bearer_token;
  /// Extra headers (X-Scope-OrgID for Mimir/Cortex tenants, THANOS-TENANT ...).
  std::vector<std::pair<std::string, std::string>> headers;
  /// Timeout of one request (default 30 s).
  std::optional<std::chrono::milliseconds> timeout;
  std::optional<RemoteWriteRetryPolicy> retry;
  /// Request size: points (a histogram point is one) and uncompressed
  /// bytes (defaults 2000 and 4 MiB); wins over PipelineOptions' batch.
  std::optional<std::uint64_t> max_points_per_request;
  std::optional<std::uint64_t> max_bytes_per_request;
  /// Send the resource as target_info (default true).
  std::optional<bool> target_info;
  /// PEM file of CA certificates to trust for https instead of the system roots.
  std::optional<std::string> certificate;
  /// PEM client certificate chain and key for mutual TLS.
  std::optional<std::string> client_certificate;
  std::optional<std::string> client_key;
};

namespace detail {

inline fm_status MakeRemoteWrite(const RemoteWriteOptions& o, const PipelineOptions& p, fm_exporter** out) {
  fm_remote_write_options* raw = nullptr;
  fm_status st = fm_remote_write_options_new(o.url.data(), o.url.size(), &raw);
  if (st != FM_STATUS_OK) return st;
  Owned<fm_remote_write_options, fm_remote_write_options_release> opts(raw);
  auto chain = [&st](fm_status next) {
    if (st == FM_STATUS_OK) st = next;
  };
  if (o.version) chain(fm_remote_write_options_set_version(raw, static_cast<fm_remote_write_version>(*o.version)));
  if (o.basic_auth)
    chain(fm_remote_write_options_set_basic_auth(raw, o.basic_auth->first.data(), o.basic_auth->first.size(),
                                                 o.basic_auth->second.data(), o.basic_auth->second.size()));
  if (o.bearer_token)
    chain(fm_remote_write_options_set_bearer_token(raw, o.bearer_token->data(), o.bearer_token->size()));
  for (const auto& h : o.headers)
    chain(fm_remote_write_options_add_header(raw, h.first.data(), h.first.size(), h.second.data(), h.second.size()));
  if (o.timeout)
    chain(fm_remote_write_options_set_timeout_ms(raw, static_cast<std::uint64_t>(o.timeout->count())));
  if (o.retry)
    chain(fm_remote_write_options_set_retry(raw, o.retry->max_attempts,
                                            static_cast<std::uint64_t>(o.retry->initial_backoff.count()),
                                            static_cast<std::uint64_t>(o.retry->max_backoff.count()),
                                            o.retry->multiplier));
  if (o.max_points_per_request || o.max_bytes_per_request)
    chain(fm_remote_write_options_set_batch(raw, o.max_points_per_request.value_or(2000),
                                            o.max_bytes_per_request.value_or(4u << 20)));
  if (o.target_info) chain(fm_remote_write_options_set_target_info(raw, *o.target_info));
  if (o.certificate)
    chain(fm_remote_write_options_set_certificate(raw, o.certificate->data(), o.certificate->size()));
  if (o.client_certificate || o.client_key) {
    const std::string cert = o.client_certificate.value_or(std::string());
    const std::string key = o.client_key.value_or(std::string());
    chain(fm_remote_write_options_set_client_certificate(raw, cert.data(), cert.size(), key.data(), key.size()));
  }
  if (st != FM_STATUS_OK) return st;
  fm_pipeline_options* praw = nullptr;
  st = MakePipelineOptions(p, &praw);
  if (st != FM_STATUS_OK) return st;
  Owned<fm_pipeline_options, fm_pipeline_options_release> popts(praw);
  return fm_remote_write_exporter_new(raw, praw, out);
}

}  // namespace detail

/// A Remote-Write exporter behind the export pipeline: exports queue
/// snappy-compressed requests and return at once; a worker thread sends
/// them with retries, Retry-After, a circuit breaker and exact accounting
/// (Exporter::Stats()). Give it to a periodic reader (it asks for
/// cumulative temporality). Throws Error: FM_STATUS_INVALID_ARGUMENT for a
/// bad URL, header, credentials or certificate file.
inline Exporter MakeRemoteWriteExporter(const RemoteWriteOptions& options, const PipelineOptions& pipeline = {}) {
  fm_exporter* e = nullptr;
  detail::Check(detail::MakeRemoteWrite(options, pipeline, &e));
  return Exporter(e);
}

/// MakeRemoteWriteExporter without exceptions.
inline Result<Exporter> TryMakeRemoteWriteExporter(const RemoteWriteOptions& options,
                                                   const PipelineOptions& pipeline = {}) {
  fm_exporter* e = nullptr;
  fm_status st = detail::MakeRemoteWrite(options, pipeline, &e);
  if (st != FM_STATUS_OK) return detail::Fail<Exporter>(st);
  return Exporter(e);
}

}  // namespace ferrometer

#endif  // FERROMETER_REMOTE_WRITE_HPP
