// OTLP/gRPC through the C and C++ API: in a library built with
// -DFERROMETER_OTLP_GRPC=ON the pipeline exporter opens an HTTP/2
// connection (the client preface) to the endpoint and sends the gRPC
// call's HEADERS, and the standalone exporter (fm_otlp_exporter_new)
// delivers exact bytes to the Python grpcio sink (the official
// opentelemetry-proto service); in a default build every way of asking
// for gRPC returns FM_STATUS_UNSUPPORTED naming the build option.
#include "ferrometer_otlp.hpp"
#include "loopback.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

namespace fm = ferrometer;

namespace {

fm::OtlpHttpOptions GrpcOptions(const std::string& endpoint) {
  fm::OtlpHttpOptions o;
  o.read_env = false;
  o.endpoint = endpoint;
  o.protocol = fm::OtlpProtocol::kGrpc;
  o.headers = {{"x-tenant", "t1"}};
  o.timeout = std::chrono::milliseconds(300);
  return o;
}

#ifdef FERROMETER_TEST_OTLP_GRPC
// Reads from `fd` until `want` bytes arrived, the peer closed, or 5 s.
std::string ReadSome(int fd, std::size_t want) {
  std::string got;
  char buf[4096];
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (got.size() < want && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  return got;
}

// The Python grpcio sink (tests/otlp_support/grpc_fault_sink.py), driven
// over its stdin one command a line; stopped (and reaped) on destruction.
class GrpcSink {
 public:
  GrpcSink() {
    int in[2], out[2];
    if (::pipe(in) != 0 || ::pipe(out) != 0) return;
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::close(in[1]);
      ::close(out[0]);
      ::execlp("python3", "python3", FERROMETER_GRPC_SINK, static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    to_ = ::fdopen(in[1], "w");
    from_ = ::fdopen(out[0], "r");
    const std::string first = Line();
    if (first.rfind("port ", 0) == 0) port_ = static_cast<std::uint16_t>(std::stoi(first.substr(5)));
  }
  ~GrpcSink() {
    if (to_ != nullptr) {
      std::fputs("quit\n", to_);
      std::fflush(to_);
      std::fclose(to_);
    }
    if (pid_ > 0) {
      ::usleep(50 * 1000);
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (from_ != nullptr) std::fclose(from_);
  }
  GrpcSink(const GrpcSink&) = delete;
  GrpcSink& operator=(const GrpcSink&) = delete;

  std::uint16_t port() const { return port_; }
  std::string Url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  // Sends one command, returns its first answer line.
  std::string Cmd(const std::string& c) {
    std::fputs((c + "\n").c_str(), to_);
    std::fflush(to_);
    return Line();
  }

  // The requests the sink answered OK, re-serialized, as hex lines.
  std::vector<std::string> Dump() {
    std::vector<std::string> out;
    for (std::string l = Cmd("dump"); !l.empty() && l != "end"; l = Line()) out.push_back(l);
    return out;
  }

 private:
  std::string Line() {
    std::string l;
    if (from_ == nullptr) return l;
    for (int c = std::fgetc(from_); c != EOF && c != '\n'; c = std::fgetc(from_)) l.push_back(static_cast<char>(c));
    return l;
  }

  pid_t pid_ = -1;
  FILE* to_ = nullptr;
  FILE* from_ = nullptr;
  std::uint16_t port_ = 0;
};

std::string Hex(const std::string& bytes) {
  static const char* digits = "0123456789abcdef";
  std::string h;
  for (unsigned char c : bytes) {
    h.push_back(digits[c >> 4]);
    h.push_back(digits[c & 15]);
  }
  return h;
}
#endif

}  // namespace

#ifndef FERROMETER_TEST_OTLP_GRPC
// Built against a default library (CMake passes FERROMETER_TEST_OTLP_GRPC
// with the option): gRPC must be refused everywhere.
TEST(OtlpGrpc, UnsupportedWithoutTheBuildOption) {
  EXPECT_FALSE(fm::OtlpGrpcAvailable());
  fm_otlp_options* o = nullptr;
  ASSERT_EQ(fm_otlp_options_new(false, &o), FM_STATUS_OK);
  EXPECT_EQ(fm_otlp_options_set_protocol(o, FM_OTLP_PROTOCOL_GRPC), FM_STATUS_UNSUPPORTED);
  EXPECT_NE(std::string(fm_last_error_message()).find("FERROMETER_OTLP_GRPC"), std::string::npos);
  EXPECT_STREQ(fm_status_message(FM_STATUS_UNSUPPORTED), "not supported by this build of the library");
  fm_otlp_options_release(o);
  auto r = fm::TryMakeOtlpPipelineExporter(GrpcOptions("http://127.0.0.1:1"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status(), FM_STATUS_UNSUPPORTED);
  EXPECT_NE(r.message().find("FERROMETER_OTLP_GRPC"), std::string::npos) << r.message();
  // The environment's protocol: the same status.
  ::setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1);
  fm::OtlpHttpOptions env;
  auto e = fm::TryMakeOtlpPipelineExporter(env);
  // The standalone exporter (fm_otlp_exporter_new) too; the insecure
  // setting exists in every build (it only matters to gRPC).
  env.insecure = true;
  auto standalone = fm::TryMakeOtlpHttpExporter(env);
  ::unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status(), FM_STATUS_UNSUPPORTED);
  ASSERT_FALSE(standalone.ok());
  EXPECT_EQ(standalone.status(), FM_STATUS_UNSUPPORTED);
  EXPECT_NE(standalone.message().find("FERROMETER_OTLP_GRPC"), std::string::npos) << standalone.message();
}

#else
TEST(OtlpGrpc, PipelineExporterSpeaksHttp2ToTheEndpoint) {
  EXPECT_TRUE(fm::OtlpGrpcAvailable());
  std::uint16_t port = 0;
  int listener = fmtest::BindLoopback(4, &port);
  ASSERT_GE(listener, 0);
  fm::ManualReader reader;
  auto provider = fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build();
  provider.GetMeter("m").CreateUInt64Counter("c").Add(7, {{"k", "v"}});
  fm::PipelineOptions p;
  auto exporter = fm::MakeOtlpPipelineExporter(GrpcOptions("http://127.0.0.1:" + std::to_string(port)), p);
  exporter.Export(reader.Collect());
  int conn = ::accept(listener, nullptr, nullptr);
  ASSERT_GE(conn, 0);
  // The HTTP/2 client preface, then frames (SETTINGS, HEADERS, DATA).
  const std::string preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  std::string got = ReadSome(conn, preface.size() + 64);
  ASSERT_GE(got.size(), preface.size());
  EXPECT_EQ(got.substr(0, preface.size()), preface);
  ::close(conn);
  ::close(listener);
  // Nobody answers: shutdown fails, and the point is counted as dropped
  // at shutdown (the exporter's own FlushResult carries no count).
  auto r = exporter.Shutdown(std::chrono::milliseconds(500));
  EXPECT_EQ(r.status(), FM_STATUS_FAILED) << r.message();
  EXPECT_NE(r.message().find("1 point(s) not delivered"), std::string::npos) << r.message();
  auto s = exporter.Stats();
  ASSERT_TRUE(s.has_value());
  EXPECT_EQ(s->points_delivered, 0u);
  EXPECT_EQ(s->points_dropped_shutdown, 1u);
}

// fm_otlp_exporter_new (no pipeline) with the gRPC protocol: each export
// is one call on the caller's thread. The sink stores exactly the request
// the library encodes for the snapshot (fm_otlp_encode's bytes, as
// grpcio decoded and re-serialized them), with gzip and without, the
// headers arrive as metadata, and an endpoint without a scheme follows
// `insecure`.
TEST(OtlpGrpc, StandaloneExporterDeliversToGrpcio) {
  GrpcSink sink;
  ASSERT_NE(sink.port(), 0) << "python3 with grpcio and opentelemetry-proto (scripts/test-all.sh installs them)";
  fm::ManualReader reader(fm::Temporality::kCumulative);
  auto provider = fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build();
  auto counter = provider.GetMeter("m").CreateUInt64Counter("c");
  counter.Add(7, {{"k", "v"}});
  counter.Add(5, {{"k", "w"}});
  std::size_t stored = 0;
  for (auto compression : {fm::OtlpCompression::kNone, fm::OtlpCompression::kGzip}) {
    auto o = GrpcOptions(sink.Url());
    o.compression = compression;
    o.timeout = std::chrono::milliseconds(5000);
    auto exporter = fm::MakeOtlpHttpExporter(o);
    auto snapshot = reader.Collect();
    ASSERT_EQ(exporter.TryExport(snapshot), FM_STATUS_OK) << fm_last_error_message();
    const auto dump = sink.Dump();
    ASSERT_EQ(dump.size(), ++stored);
    EXPECT_EQ(dump.back(), Hex(fm::EncodeOtlp(snapshot)));
    EXPECT_EQ(sink.Cmd("meta"), "x-tenant=t1");
    EXPECT_TRUE(exporter.Shutdown().ok());
  }
  // host:port: plain HTTP/2 with insecure, else TLS, which the plaintext
  // sink cannot answer (a permanent failure, no retry).
  const std::string bare = "127.0.0.1:" + std::to_string(sink.port());
  auto o = GrpcOptions(bare);
  o.insecure = true;
  auto plain = fm::MakeOtlpHttpExporter(o);
  ASSERT_EQ(plain.TryExport(reader.Collect()), FM_STATUS_OK) << fm_last_error_message();
  EXPECT_EQ(sink.Dump().size(), ++stored);
  o.insecure = false;
  auto tls = fm::MakeOtlpHttpExporter(o);
  EXPECT_EQ(tls.TryExport(reader.Collect()), FM_STATUS_FAILED);
  EXPECT_EQ(sink.Dump().size(), stored);
  EXPECT_EQ(sink.Cmd("calls"), "3 0");
}

// The C entry points directly: fm_otlp_exporter_new with the protocol
// set by fm_otlp_options_set_protocol and a refused call (INVALID_ARGUMENT)
// reported as FM_STATUS_FAILED with the gRPC code in the message.
TEST(OtlpGrpc, StandaloneExporterReportsGrpcCodes) {
  GrpcSink sink;
  ASSERT_NE(sink.port(), 0);
  fm_otlp_options* o = nullptr;
  ASSERT_EQ(fm_otlp_options_new(false, &o), FM_STATUS_OK);
  const std::string url = sink.Url();
  ASSERT_EQ(fm_otlp_options_set_endpoint(o, url.data(), url.size()), FM_STATUS_OK);
  ASSERT_EQ(fm_otlp_options_set_protocol(o, FM_OTLP_PROTOCOL_GRPC), FM_STATUS_OK);
  fm_exporter* raw = nullptr;
  ASSERT_EQ(fm_otlp_exporter_new(o, &raw), FM_STATUS_OK) << fm_last_error_message();
  fm_otlp_options_release(o);
  fm::Exporter exporter(raw);
  fm::ManualReader reader(fm::Temporality::kDelta);
  auto provider = fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build();
  provider.GetMeter("m").CreateUInt64Counter("c").Add(1, {{"k", "v"}});
  ASSERT_EQ(sink.Cmd("mode invalid"), "ok");
  EXPECT_EQ(exporter.TryExport(reader.Collect()), FM_STATUS_FAILED);
  EXPECT_NE(std::string(fm_last_error_message()).find("INVALID_ARGUMENT"), std::string::npos)
      << fm_last_error_message();
  EXPECT_EQ(sink.Cmd("calls"), "1 1");
  EXPECT_TRUE(sink.Dump().empty());
}
#endif  // FERROMETER_TEST_OTLP_GRPC
