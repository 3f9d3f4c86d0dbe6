//! Real peers: `promtool check metrics` on the endpoint's output, and a
//! real Prometheus server (started here on loopback with a temporary
//! config) scraping the endpoint in both formats; the values are read back
//! through Prometheus's HTTP API.
//!
//! Needs the Debian package `prometheus` (it ships `prometheus` and
//! `promtool`). Without them the tests FAIL with a clear message.

use ferrometer::export::prometheus::{PrometheusServer, PrometheusServerOptions};
use ferrometer::{KeyValue, MeterProvider, Resource};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

mod promtool_support;

use promtool_support::promtool_check_with;

mod http_support;
use http_support::{dechunk, encode_query};

fn need(bin: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|d| d.join(bin))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{bin}` is not installed: these peer tests need the Debian package `prometheus` \
                 (apt-get install -y prometheus), which provides `prometheus` and `promtool`"
            )
        })
}

fn http_get(addr: SocketAddr, target: &str, headers: &[(&str, &str)]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut req = format!("GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    s.write_all(req.as_bytes()).unwrap();
    let mut raw = Vec::new();
    let _ = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw).into_owned();
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        dechunk(body)
    } else {
        body.to_owned()
    };
    (status, body)
}

/// The demo workload: a counter, a gauge and a histogram.
fn demo_provider() -> MeterProvider {
    let p = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "peer-demo")]))
        .build();
    let m = p.meter("demo");
    let c = m
        .u64_counter("demo.requests")
        .with_description("Requests served.")
        .build()
        .unwrap();
    c.add(40, &[KeyValue::new("route", "/play")]);
    c.add(2, &[KeyValue::new("route", "/play")]);
    c.add(5, &[KeyValue::new("route", "/quit \"now\"")]);
    let g = m
        .f64_gauge("demo.temperature")
        .with_description("Room temperature.")
        .with_unit("Cel")
        .build()
        .unwrap();
    g.record(21.5, &[]);
    let h = m
        .f64_histogram("demo.latency")
        .with_description("Request latency.")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.5, 1.0])
        .build()
        .unwrap();
    for v in [0.05, 0.3, 0.7, 2.0] {
        h.record(v, &[KeyValue::new("route", "/play")]);
    }
    p
}

#[test]
fn promtool_check_metrics_accepts_the_endpoint_output() {
    let promtool = need("promtool");
    let p = demo_provider();
    let s = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    let _ = http_get(s.local_addr(), "/metrics", &[]); // so self metrics exist
    let (status, text) = http_get(s.local_addr(), "/metrics", &[]);
    assert_eq!(status, 200);
    assert!(text.contains("demo_requests_total"), "{text}");
    let (ok, msg) = promtool_check_with(promtool, &text);
    assert!(
        ok,
        "promtool check metrics failed:\n{msg}\n--- input ---\n{text}"
    );
    assert!(
        msg.trim().is_empty(),
        "promtool reported problems:\n{msg}\n--- input ---\n{text}"
    );
    s.stop();
}

/// Kills and reaps the child on drop, whatever happens in the test.
struct Reaped(Child);

impl Drop for Reaped {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The value of the first series of an instant query, if any.
fn query(prom: SocketAddr, q: &str) -> Option<String> {
    // Prometheus may still be starting.
    TcpStream::connect(prom).ok()?;
    let (status, body) = http_get(
        prom,
        &format!("/api/v1/query?query={}", encode_query(q)),
        &[],
    );
    if status != 200 {
        return None;
    }
    let i = body.find("\"value\":[")?;
    let rest = &body[i + 9..];
    let rest = &rest[rest.find(',')? + 1..];
    let rest = rest.strip_prefix('"')?;
    Some(rest[..rest.find('"')?].to_owned())
}

#[test]
fn a_real_prometheus_scrapes_counter_gauge_and_histogram() {
    let prometheus = need("prometheus");
    let p = demo_provider();
    // One endpoint negotiates OpenMetrics (what Prometheus asks for), one
    // serves only the text format 0.0.4.
    let om = PrometheusServer::start(&p, "127.0.0.1:0", Default::default()).unwrap();
    let text = PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default().with_openmetrics(false),
    )
    .unwrap();

    let dir = std::env::temp_dir().join(format!("fm-prom-peer-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("prometheus.yml");
    std::fs::write(
        &cfg,
        format!(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n\
             scrape_configs:\n\
             \x20 - job_name: om\n    static_configs:\n      - targets: ['{}']\n\
             \x20 - job_name: text\n    static_configs:\n      - targets: ['{}']\n",
            om.local_addr(),
            text.local_addr()
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.join("prometheus.log")).unwrap();
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", cfg.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .expect("start prometheus");
    let child = Reaped(child);
    let prom: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();

    let want: &[(&str, &str)] = &[
        (r#"up{job="om"}"#, "1"),
        (r#"up{job="text"}"#, "1"),
        (
            r#"demo_requests_total{job="om",route="/play",otel_scope_name="demo"}"#,
            "42",
        ),
        (r#"demo_requests_total{job="text",route="/play"}"#, "42"),
        (
            r#"demo_requests_total{job="om",route="/quit \"now\""}"#,
            "5",
        ),
        (r#"demo_temperature_celsius{job="om"}"#, "21.5"),
        (r#"demo_temperature_celsius{job="text"}"#, "21.5"),
        (r#"demo_latency_seconds_count{job="om",route="/play"}"#, "4"),
        (
            r#"demo_latency_seconds_sum{job="text",route="/play"}"#,
            "3.05",
        ),
        (
            r#"demo_latency_seconds_bucket{job="text",route="/play",le="0.5"}"#,
            "2",
        ),
        (
            r#"demo_latency_seconds_bucket{job="om",route="/play",le="+Inf"}"#,
            "4",
        ),
        (r#"target_info{job="om",service_name="peer-demo"}"#, "1"),
        (
            r#"sum(promhttp_metric_handler_requests_total{job="om",code="200"}) > 0"#,
            "",
        ),
    ];
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut missing: Vec<String> = Vec::new();
    while Instant::now() < deadline {
        missing.clear();
        for (q, v) in want {
            match query(prom, q) {
                Some(got) if v.is_empty() || got == *v => {}
                got => missing.push(format!("{q} = {got:?}, want {v:?}")),
            }
        }
        if missing.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(child);
    om.stop();
    text.stop();
    let log = std::fs::read_to_string(dir.join("prometheus.log")).unwrap_or_default();
    let _ = std::fs::remove_dir_all(&dir);
    assert!(
        missing.is_empty(),
        "Prometheus did not report:\n{}\n--- prometheus log ---\n{}",
        missing.join("\n"),
        log.lines().rev().take(30).collect::<Vec<_>>().join("\n")
    );
}
