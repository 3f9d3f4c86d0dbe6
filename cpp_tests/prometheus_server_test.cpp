// The C++ PrometheusServer class against real HTTP over loopback: what it
// serves, what it refuses, its options, and its lifecycle.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
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

// ---- Translation strategies, escaping negotiation and TLS (issue 16) ----

namespace {

// Runs a shell command and returns its standard output.
std::string Shell(const std::string& cmd) {
  std::string out;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  ::pclose(p);
  return out;
}

std::string ReadFile(const std::string& path) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  std::fclose(f);
  return out;
}

// A temporary directory with a test CA, a server certificate for
// 127.0.0.1 and a client certificate, made with the openssl CLI; removed
// on destruction. No key is ever committed.
struct TestPki {
  std::string dir;
  TestPki() {
    char tmpl[] = "/tmp/fm-cpp-tls-XXXXXX";
    const char* d = ::mkdtemp(tmpl);
    dir = d != nullptr ? d : "";
    const std::string ec = " -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    const std::string in = "cd " + dir + " && ";
    Shell(in + "openssl req -x509" + ec +
        " -keyout ca.key -out ca.pem -days 2 -subj /CN=fm-test-ca -addext basicConstraints=critical,CA:TRUE"
        " -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null");
    for (const char* leaf : {"server", "client"}) {
      const std::string l = leaf;
      const std::string ext = l == "server" ? "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n"
                                            : "extendedKeyUsage=clientAuth\n";
      FILE* f = std::fopen((dir + "/" + l + ".cnf").c_str(), "w");
      if (f != nullptr) {
        std::fputs(("basicConstraints=CA:FALSE\n" + ext).c_str(), f);
        std::fclose(f);
      }
      Shell(in + "openssl req" + ec + " -keyout " + l + ".key -out " + l + ".csr -subj /CN=" + l + " 2>/dev/null");
      Shell(in + "openssl x509 -req -in " + l + ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -out " + l +
          ".pem -days 2 -extfile " + l + ".cnf 2>/dev/null");
    }
  }
  ~TestPki() {
    if (!dir.empty()) Shell("rm -rf " + dir);
  }
  std::string Path(const std::string& f) const { return dir + "/" + f; }
};

}  // namespace

TEST(PrometheusServer, TranslationStrategyAndUtf8Negotiation) {
  fm::MeterProvider provider;
  fm::Meter meter = provider.GetMeter("game");
  auto requests = meter.CreateUInt64Counter("http.server.requests");
  requests.Add(3, {{"http.method", "GET"}});

  fm::PrometheusServerOptions utf8;
  utf8.self_metrics = false;
  utf8.translation_strategy = fm::PrometheusTranslation::kNoUTF8EscapingWithSuffixes;
  fm::PrometheusServer server(provider, "127.0.0.1:0", utf8);
  std::string r = Get(server.Port(), "/metrics", "Accept: text/plain;version=1.0.0;escaping=allow-utf-8\r\n");
  EXPECT_NE(r.find("Content-Type: text/plain; version=1.0.0; charset=utf-8; escaping=allow-utf-8\r\n"),
            std::string::npos)
      << r;
  EXPECT_NE(r.find("\n{\"http.server.requests_total\",\"http.method\"=\"GET\",otel_scope_name=\"game\"} 3\n"),
            std::string::npos)
      << r;
  // Prometheus 2 asks for nothing: escaped names.
  r = Get(server.Port(), "/metrics");
  EXPECT_NE(r.find("\nhttp_server_requests_total{http_method=\"GET\",otel_scope_name=\"game\"} 3\n"),
            std::string::npos)
      << r;

  fm::PrometheusServerOptions bare;
  bare.self_metrics = false;
  bare.without_type_suffix = true;
  bare.translation_strategy = fm::PrometheusTranslation::kUnderscoreEscapingWithoutSuffixes;
  fm::PrometheusServer plain(provider, "127.0.0.1:0", bare);
  r = Get(plain.Port(), "/metrics");
  EXPECT_NE(r.find("\nhttp_server_requests{http_method=\"GET\",otel_scope_name=\"game\"} 3\n"), std::string::npos)
      << r;

  // The C API refuses an unknown strategy and a client CA before a
  // certificate.
  fm_prometheus_options* o = nullptr;
  ASSERT_EQ(fm_prometheus_options_new(&o), FM_STATUS_OK);
  EXPECT_EQ(fm_prometheus_options_set_translation_strategy(o, 99), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_prometheus_options_set_tls_client_ca_pem(o, "x", 1), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_prometheus_options_set_tls_pem(o, nullptr, 0, "k", 1), FM_STATUS_INVALID_ARGUMENT);
  EXPECT_EQ(fm_prometheus_options_set_without_units(nullptr, true), FM_STATUS_INVALID_ARGUMENT);
  fm_prometheus_options_release(o);
}

TEST(PrometheusServer, ServesHttpsWithPemFromMemoryAndRequiresClientCertificates) {
  TestPki pki;
  const std::string cert = ReadFile(pki.Path("server.pem"));
  const std::string key = ReadFile(pki.Path("server.key"));
  ASSERT_FALSE(cert.empty() || key.empty()) << "openssl could not make the test certificates in " << pki.dir;

  fm::MeterProvider provider;
  auto joins = provider.GetMeter("game").CreateUInt64Counter("players.joined");
  joins.Add(5);

  fm::PrometheusServerOptions memory;
  memory.tls_cert_pem = cert;
  memory.tls_key_pem = key;
  fm::PrometheusServer https(provider, "127.0.0.1:0", memory);
  const std::string url = "https://127.0.0.1:" + std::to_string(https.Port()) + "/metrics";
  std::string out = Shell("curl -sS --max-time 10 --cacert " + pki.Path("ca.pem") + " " + url + " 2>&1");
  EXPECT_NE(out.find("\nplayers_joined_total{otel_scope_name=\"game\"} 5\n"), std::string::npos) << out;
  // Plain HTTP to the TLS port gets nothing.
  EXPECT_EQ(Get(https.Port(), "/metrics").find("players_joined_total"), std::string::npos);

  fm::PrometheusServerOptions mutual;
  mutual.tls_cert_file = pki.Path("server.pem");
  mutual.tls_key_file = pki.Path("server.key");
  mutual.tls_client_ca_file = pki.Path("ca.pem");
  fm::PrometheusServer mtls(provider, "127.0.0.1:0", mutual);
  const std::string murl = "https://127.0.0.1:" + std::to_string(mtls.Port()) + "/metrics";
  const std::string base = "curl -sS --max-time 10 --cacert " + pki.Path("ca.pem");
  out = Shell(base + " --cert " + pki.Path("client.pem") + " --key " + pki.Path("client.key") + " " + murl + " 2>&1");
  EXPECT_NE(out.find("players_joined_total"), std::string::npos) << out;
  out = Shell(base + " " + murl + " 2>&1");
  EXPECT_EQ(out.find("players_joined_total"), std::string::npos) << out;

  // Bad material is refused at start with a status, not an exception.
  fm::PrometheusServerOptions bad;
  bad.tls_cert_pem = "not a certificate";
  bad.tls_key_pem = key;
  auto refused = fm::PrometheusServer::TryStart(provider, "127.0.0.1:0", bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status(), FM_STATUS_INVALID_ARGUMENT) << refused.message();
  EXPECT_EQ(refused.message().find("PRIVATE KEY"), std::string::npos) << refused.message();
}
