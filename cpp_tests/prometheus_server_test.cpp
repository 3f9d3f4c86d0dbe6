// The C++ PrometheusServer class against real HTTP over loopback: what it
// serves, what it refuses, its options, and its lifecycle.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <string_view>

#include "ferrometer.hpp"

namespace fm = ferrometer;

namespace {

// One HTTP/1.1 request on a fresh connection; returns the whole response
// (head and body), or "" when the connection fails.
std::string Http(std::uint16_t port, std::string_view request) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  std::string out;
  if (::connect(fd, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0) {
    std::size_t sent = 0;
    while (sent < request.size()) {
      ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, 0);
      if (n <= 0) break;
      sent += static_cast<std::size_t>(n);
    }
    char buf[4096];
    for (;;) {
      ssize_t n = ::recv(fd, buf, sizeof buf, 0);
      if (n <= 0) break;
      out.append(buf, static_cast<std::size_t>(n));
    }
  }
  ::close(fd);
  return out;
}

std::string Get(std::uint16_t port, std::string_view path, std::string_view extra_headers = "") {
  std::string req = "GET " + std::string(path) + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
  req += extra_headers;
  req += "\r\n";
  return Http(port, req);
}

std::string StatusLine(const std::string& response) { return response.substr(0, response.find("\r\n")); }

}  // namespace

TEST(PrometheusServer, ServesRecordedMetricsAsText) {
  fm::MeterProvider provider;
  fm::Meter meter = provider.GetMeter("game");
  auto players = meter.CreateUInt64Counter("players.joined", "joins", "{player}");
  players.Add(3, {{"map", "dust"}});
  players.Add(4, {{"map", "dust"}});
  auto frame = meter.CreateDoubleHistogram("frame.time", "frame time", "ms");
  frame.Record(16.5);

  fm::PrometheusServer server(provider, "127.0.0.1:0");
  ASSERT_NE(server.Port(), 0);
  std::string r = Get(server.Port(), "/metrics");
  EXPECT_EQ(StatusLine(r), "HTTP/1.1 200 OK") << r;
  EXPECT_NE(r.find("text/plain; version=0.0.4"), std::string::npos) << r;
  EXPECT_NE(r.find("players_joined_total{map=\"dust\",otel_scope_name=\"game\""), std::string::npos) << r;
  EXPECT_NE(r.find("} 7"), std::string::npos) << r;
  EXPECT_NE(r.find("# TYPE frame_time_milliseconds histogram"), std::string::npos) << r;
  EXPECT_NE(r.find("frame_time_milliseconds_count{otel_scope_name=\"game\""), std::string::npos) << r;

  // Later recordings show in the next scrape (cumulative).
  players.Add(1, {{"map", "dust"}});
  r = Get(server.Port(), "/metrics");
  EXPECT_NE(r.find("} 8"), std::string::npos) << r;
}

TEST(PrometheusServer, NegotiatesOpenMetricsAndRefusesOtherPaths) {
  fm::MeterProvider provider;
  provider.GetMeter("m").CreateUInt64Counter("requests").Add(1);
  fm::PrometheusServer server(provider, "127.0.0.1:0");
  std::string om = Get(server.Port(), "/metrics",
                       "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\n");
  EXPECT_EQ(StatusLine(om), "HTTP/1.1 200 OK") << om;
  EXPECT_NE(om.find("application/openmetrics-text"), std::string::npos) << om;
  EXPECT_NE(om.find("# EOF"), std::string::npos) << om;
  EXPECT_EQ(StatusLine(Get(server.Port(), "/other")).substr(0, 12), "HTTP/1.1 404") << Get(server.Port(), "/other");
}

TEST(PrometheusServer, OptionsPathAndBearerToken) {
  fm::MeterProvider provider;
  provider.GetMeter("m").CreateUInt64Counter("requests").Add(1);
  fm::PrometheusServerOptions o;
  o.path = "/stats";
  o.bearer_token = "s3cret";
  o.self_metrics = false;
  fm::PrometheusServer server(provider, "127.0.0.1:0", o);
  EXPECT_EQ(StatusLine(Get(server.Port(), "/metrics")).substr(0, 12), "HTTP/1.1 404");
  EXPECT_EQ(StatusLine(Get(server.Port(), "/stats")).substr(0, 12), "HTTP/1.1 401");
  std::string ok = Get(server.Port(), "/stats", "Authorization: Bearer s3cret\r\n");
  EXPECT_EQ(StatusLine(ok), "HTTP/1.1 200 OK") << ok;
  EXPECT_NE(ok.find("requests_total"), std::string::npos) << ok;
  EXPECT_EQ(ok.find("promhttp_metric_handler"), std::string::npos) << ok;
}

TEST(PrometheusServer, BadAddressAndBusyPortAreErrors) {
  fm::MeterProvider provider;
  auto bad = fm::PrometheusServer::TryStart(provider, "not an address");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status(), FM_STATUS_INVALID_ARGUMENT) << bad.message();
  EXPECT_THROW(fm::PrometheusServer(provider, "256.0.0.1:80"), fm::Error);

  fm::PrometheusServer first(provider, "127.0.0.1:0");
  std::string taken = "127.0.0.1:" + std::to_string(first.Port());
  auto second = fm::PrometheusServer::TryStart(provider, taken);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status(), FM_STATUS_FAILED) << second.message();
}

TEST(PrometheusServer, StopIsIdempotentAndClosesThePort) {
  fm::MeterProvider provider;
  fm::PrometheusServer server(provider, "127.0.0.1:0");
  std::uint16_t port = server.Port();
  EXPECT_EQ(StatusLine(Get(port, "/metrics")), "HTTP/1.1 200 OK");
  server.Stop();
  server.Stop();
  EXPECT_EQ(Get(port, "/metrics"), "");
  // Moving keeps one owner; the moved-to server stops at scope end.
  fm::PrometheusServer moved(provider, "127.0.0.1:0");
  fm::PrometheusServer owner(std::move(moved));
  EXPECT_EQ(StatusLine(Get(owner.Port(), "/metrics")), "HTTP/1.1 200 OK");
}
