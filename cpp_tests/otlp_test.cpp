// OTLP exporters and encoders through the C++ wrappers (ferrometer_otlp.hpp).
#include "ferrometer_otlp.hpp"
#include "loopback.hpp"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

namespace fm = ferrometer;

namespace {

struct Fixture {
  fm::ManualReader reader;
  fm::MeterProvider provider;
  Fixture() : provider(fm::MeterProvider::Builder().AddReader(reader).UseEmptyResource().Build()) {
    auto meter = provider.GetMeter("game");
    auto c = meter.CreateUInt64Counter("players.joined");
    c.Add(3, {{"region", "eu"}});
  }
};

/// Accepts one HTTP request on 127.0.0.1, answers `status`, and keeps
/// the request line, headers and body.
struct OneShotSink {
  int fd = -1;
  std::uint16_t port = 0;
  std::string head, body;
  std::thread t;

  explicit OneShotSink(int status) {
    fd = fmtest::BindLoopback(1, &port);
    t = std::thread([this, status] {
      int c = ::accept(fd, nullptr, nullptr);
      if (c < 0) return;
      std::string data;
      char buf[4096];
      std::size_t need = std::string::npos;
      while (need == std::string::npos || data.size() < need) {
        ssize_t n = ::recv(c, buf, sizeof buf, 0);
        if (n <= 0) break;
        data.append(buf, static_cast<std::size_t>(n));
        auto end = data.find("\r\n\r\n");
        if (need == std::string::npos && end != std::string::npos) {
          head = data.substr(0, end);
          auto cl = head.find("content-length: ");
          if (cl == std::string::npos) cl = head.find("Content-Length: ");
          need = end + 4 + (cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16)));
        }
      }
      if (need != std::string::npos) body = data.substr(data.find("\r\n\r\n") + 4);
      std::string reply = "HTTP/1.1 " + std::to_string(status) + " X\r\nContent-Length: 0\r\n\r\n";
      ::send(c, reply.data(), reply.size(), 0);
      ::close(c);
    });
  }
  ~OneShotSink() {
    ::shutdown(fd, SHUT_RDWR);
    ::close(fd);
    if (t.joinable()) t.join();
  }
};

}  // namespace

TEST(Otlp, EncodesProtobufAndJson) {
  Fixture f;
  auto snap = f.reader.Collect();
  std::string pb = fm::EncodeOtlp(snap);
  EXPECT_GT(pb.size(), 20u);
  EXPECT_NE(pb.find("players.joined"), std::string::npos);
  std::string json = fm::EncodeOtlp(snap, fm::OtlpEncoding::kJson);
  EXPECT_EQ(json.rfind("{\"resourceMetrics\":[", 0), 0u) << json;
  EXPECT_NE(json.find("\"asInt\":\"3\""), std::string::npos) << json;
}

TEST(Otlp, HttpExporterPostsProtobuf) {
  Fixture f;
  OneShotSink sink(200);
  fm::OtlpHttpOptions o;
  o.read_env = false;
  o.base_endpoint = "http://127.0.0.1:" + std::to_string(sink.port);
  o.headers = {{"x-tenant", "eu"}};
  auto e = fm::MakeOtlpHttpExporter(o);
  e.Export(f.reader.Collect());
  if (sink.t.joinable()) sink.t.join();
  EXPECT_EQ(sink.head.rfind("POST /v1/metrics HTTP/1.1", 0), 0u) << sink.head;
  EXPECT_NE(sink.head.find("application/x-protobuf"), std::string::npos) << sink.head;
  EXPECT_NE(sink.head.find("eu"), std::string::npos) << sink.head;
  EXPECT_NE(sink.body.find("players.joined"), std::string::npos);
}

TEST(Otlp, PermanentFailureIsReported) {
  Fixture f;
  OneShotSink sink(400);
  fm::OtlpHttpOptions o;
  o.read_env = false;
  o.endpoint = "http://127.0.0.1:" + std::to_string(sink.port) + "/v1/metrics";
  auto e = fm::MakeOtlpHttpExporter(o);
  EXPECT_EQ(e.TryExport(f.reader.Collect()), FM_STATUS_FAILED);
  EXPECT_NE(std::string(fm_last_error_message()).find("400"), std::string::npos);
}

TEST(Otlp, BadOptionsThrow) {
  fm::OtlpHttpOptions o;
  o.read_env = false;
  o.endpoint = "localhost:4318";
  try {
    (void)fm::MakeOtlpHttpExporter(o);
    FAIL() << "no exception";
  } catch (const fm::Error& e) {
    EXPECT_EQ(e.status(), FM_STATUS_INVALID_ARGUMENT);
  }
  o.endpoint.reset();
  o.certificate = "/nonexistent/ca.pem";
  auto r = fm::TryMakeOtlpHttpExporter(o);
  EXPECT_FALSE(r.ok());
  fm::OtlpFileOptions fo;
  fo.path = "/nonexistent-dir/m.jsonl";
  EXPECT_FALSE(fm::TryMakeOtlpFileExporter(fo).ok());
}

TEST(Otlp, FileExporterWritesJsonLines) {
  Fixture f;
  char tmpl[] = "/tmp/ferrometer-otlp-XXXXXX";
  int fd = ::mkstemp(tmpl);
  ASSERT_GE(fd, 0);
  ::close(fd);
  {
    fm::OtlpFileOptions o;
    o.path = tmpl;
    auto e = fm::MakeOtlpFileExporter(o);
    EXPECT_EQ(e.Temporality(), fm::Temporality::kCumulative);
    e.Export(f.reader.Collect());
    e.Export(f.reader.Collect());
    fm::FlushResult shut = e.Shutdown();
    EXPECT_TRUE(shut.ok()) << shut.message();
  }
  std::ifstream in(tmpl);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.rfind("{\"resourceMetrics\":[", 0), 0u) << line;
  }
  EXPECT_EQ(lines, 2);
  std::remove(tmpl);
}

// A collector that accepts connections and never answers (a listening
// socket nobody accepts from: the kernel completes the handshake and takes
// the request). With the plain exporter and the default 30 s export
// deadline, ForceFlush(1 s) and Shutdown(1 s) each return within 1.1 s,
// FM_STATUS_TIMEOUT, and say how many points were not delivered.
TEST(Otlp, SilentCollectorCannotHoldFlushOrShutdown) {
  std::uint16_t port = 0;
  int fd = fmtest::BindLoopback(64, &port);
  ASSERT_GE(fd, 0);
  auto provider = fm::MeterProvider::Builder().UseEmptyResource().Build();
  fm::OtlpHttpOptions o;
  o.read_env = false;
  o.base_endpoint = "http://127.0.0.1:" + std::to_string(port);
  auto e = fm::MakeOtlpHttpExporter(o);
  fm::AddPeriodicReader(provider, e, std::chrono::milliseconds(50));
  provider.GetMeter("game").CreateUInt64Counter("ticks").Add(1, {{"k", "v"}});
  // Let a periodic export reach the silent collector.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  for (int shutdown = 0; shutdown < 2; ++shutdown) {
    auto t0 = std::chrono::steady_clock::now();
    fm_status st = shutdown ? fm_provider_shutdown(provider.get(), 1000) : fm_provider_force_flush(provider.get(), 1000);
    auto took = std::chrono::steady_clock::now() - t0;
    std::string msg = fm_last_error_message();
    EXPECT_LE(took, std::chrono::milliseconds(1100)) << (shutdown ? "shutdown" : "force_flush");
    EXPECT_EQ(st, FM_STATUS_TIMEOUT) << msg;
    EXPECT_NE(msg.find("not delivered"), std::string::npos) << msg;
  }
  ::close(fd);
}
