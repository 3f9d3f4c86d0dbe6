// OTLP/gRPC through the C and C++ API: in a library built with
// -DFERROMETER_OTLP_GRPC=ON the pipeline exporter opens an HTTP/2
// connection (the client preface) to the endpoint and sends the gRPC
// call's HEADERS; in a default build every way of asking for gRPC
// returns FM_STATUS_UNSUPPORTED naming the build option.
#include "ferrometer_otlp.hpp"
#include "loopback.hpp"

#include <gtest/gtest.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <string>

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
  ::unsetenv("OTEL_EXPORTER_OTLP_PROTOCOL");
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status(), FM_STATUS_UNSUPPORTED);
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
  // Without a pipeline, gRPC is refused with a pointer to it.
  auto plain = fm::TryMakeOtlpHttpExporter(GrpcOptions("http://127.0.0.1:1"));
  ASSERT_FALSE(plain.ok());
  EXPECT_EQ(plain.status(), FM_STATUS_INVALID_ARGUMENT);
}
#endif  // FERROMETER_TEST_OTLP_GRPC
