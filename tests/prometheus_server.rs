//! The Prometheus pull endpoint over real sockets: routing, negotiation,
//! gzip, auth, coalescing, deadlines, hostile clients, self metrics, stop.

use ferrometer::export::prometheus::{PrometheusServer, PrometheusServerOptions};
use ferrometer::{KeyValue, MeterProvider, Resource};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

mod http_support;
use http_support::Resp;

/// [`http_support::request`], checking that `Content-Length` matches
/// the body (but for HEAD).
fn request(addr: SocketAddr, method: &str, path: &str, headers: &[(&str, &str)]) -> Resp {
    let r = http_support::request(addr, method, path, headers);
    if method != "HEAD" {
        let len: usize = r.header("content-length").unwrap().parse().unwrap();
        assert_eq!(len, r.body.len());
    }
    r
}

fn get(addr: SocketAddr) -> Resp {
    request(addr, "GET", "/metrics", &[])
}

fn provider() -> MeterProvider {
    MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "test")]))
        .build()
}

fn start(p: &MeterProvider, o: PrometheusServerOptions) -> PrometheusServer {
    PrometheusServer::start(p, "127.0.0.1:0", o).unwrap()
}

#[test]
fn serves_text_and_routes() {
    let p = provider();
    let c = p.meter("app").u64_counter("jobs").build().unwrap();
    c.add(3, &[KeyValue::new("kind", "a")]);
    let s = start(&p, Default::default());
    assert!(s.local_addr().ip().is_loopback());
    let r = get(s.local_addr());
    assert_eq!(r.status, 200);
    assert_eq!(
        r.header("content-type"),
        Some("text/plain; version=0.0.4; charset=utf-8")
    );
    let t = r.text();
    assert!(
        t.contains("jobs_total{kind=\"a\",otel_scope_name=\"app\"} 3\n"),
        "{t}"
    );
    assert!(t.contains("target_info{service_name=\"test\"} 1\n"), "{t}");
    assert_eq!(request(s.local_addr(), "GET", "/", &[]).status, 404);
    assert_eq!(request(s.local_addr(), "GET", "/metricsx", &[]).status, 404);
    assert_eq!(
        request(s.local_addr(), "GET", "/metrics?x=1", &[]).status,
        200
    );
    let post = request(
        s.local_addr(),
        "POST",
        "/metrics",
        &[("Content-Length", "0")],
    );
    assert_eq!(post.status, 405);
    let head = request(s.local_addr(), "HEAD", "/metrics", &[]);
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
}

#[test]
fn negotiates_openmetrics_and_gzip() {
    let p = provider();
    p.meter("app")
        .u64_counter("jobs")
        .build()
        .unwrap()
        .add(1, &[]);
    let s = start(&p, Default::default());
    let prom_accept = "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";
    let r = request(
        s.local_addr(),
        "GET",
        "/metrics",
        &[("Accept", prom_accept)],
    );
    assert_eq!(r.status, 200);
    assert!(r
        .header("content-type")
        .unwrap()
        .starts_with("application/openmetrics-text; version=1.0.0"));
    let t = r.text();
    assert!(t.ends_with("# EOF\n"), "{t}");
    assert!(t.contains("# TYPE jobs counter\n"), "{t}");
    assert!(t.contains("jobs_created{"), "{t}");

    let r = request(
        s.local_addr(),
        "GET",
        "/metrics",
        &[("Accept-Encoding", "gzip")],
    );
    assert_eq!(r.header("content-encoding"), Some("gzip"));
    let mut d = flate2::read::GzDecoder::new(&r.body[..]);
    let mut t = String::new();
    d.read_to_string(&mut t).unwrap();
    assert!(t.contains("jobs_total{otel_scope_name=\"app\"} 1\n"), "{t}");
}

#[test]
fn bearer_and_basic_auth() {
    let p = provider();
    let s = start(
        &p,
        PrometheusServerOptions::default().with_bearer_token("s3cret"),
    );
    let a = s.local_addr();
    let r = get(a);
    assert_eq!(r.status, 401);
    assert_eq!(
        r.header("www-authenticate"),
        Some("Bearer realm=\"metrics\"")
    );
    assert_eq!(
        request(a, "GET", "/metrics", &[("Authorization", "Bearer nope")]).status,
        401
    );
    assert_eq!(
        request(a, "GET", "/metrics", &[("Authorization", "Bearer s3cret")]).status,
        200
    );
    assert_eq!(
        request(a, "GET", "/metrics", &[("Authorization", "bearer s3cret")]).status,
        200
    );
    drop(s);

    let s = start(
        &p,
        PrometheusServerOptions::default().with_basic_auth("prom", "pw"),
    );
    let a = s.local_addr();
    assert_eq!(get(a).status, 401);
    // base64("prom:pw") = cHJvbTpwdw==
    assert_eq!(
        request(
            a,
            "GET",
            "/metrics",
            &[("Authorization", "Basic cHJvbTpwdw==")]
        )
        .status,
        200
    );
    assert_eq!(
        request(
            a,
            "GET",
            "/metrics",
            &[("Authorization", "Basic cHJvbTpwdX==")]
        )
        .status,
        401
    );
}

#[test]
fn concurrent_scrapes_share_one_collection() {
    let p = provider();
    let calls = Arc::new(AtomicUsize::new(0));
    let c2 = calls.clone();
    let _g = p
        .meter("app")
        .i64_observable_gauge("slow")
        .with_callback(move |g| {
            c2.fetch_add(1, Ordering::SeqCst);
            std::thread::sleep(Duration::from_millis(400));
            g.observe(1, &[]);
        })
        .build()
        .unwrap();
    let s = start(&p, Default::default());
    let a = s.local_addr();
    let threads: Vec<_> = (0..8)
        .map(|_| std::thread::spawn(move || get(a).status))
        .collect();
    for t in threads {
        assert_eq!(t.join().unwrap(), 200);
    }
    let n = calls.load(Ordering::SeqCst);
    assert!(n <= 2, "8 concurrent scrapes ran {n} collections");
}

#[test]
fn scrape_deadline_gives_503_then_recovers() {
    let p = provider();
    let slow = Arc::new(AtomicUsize::new(1));
    let s2 = slow.clone();
    let _g = p
        .meter("app")
        .i64_observable_gauge("slow")
        .with_callback(move |g| {
            if s2.load(Ordering::SeqCst) == 1 {
                std::thread::sleep(Duration::from_millis(1500));
            }
            g.observe(1, &[]);
        })
        .build()
        .unwrap();
    let s = start(
        &p,
        PrometheusServerOptions::default().with_scrape_timeout(Duration::from_millis(300)),
    );
    let t = Instant::now();
    let r = get(s.local_addr());
    assert_eq!(r.status, 503);
    assert!(
        t.elapsed() < Duration::from_millis(1200),
        "{:?}",
        t.elapsed()
    );
    // Prometheus's own timeout header can only shorten the deadline.
    slow.store(0, Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(1500));
    let r = request(
        s.local_addr(),
        "GET",
        "/metrics",
        &[("X-Prometheus-Scrape-Timeout-Seconds", "10")],
    );
    assert_eq!(r.status, 200);
}

#[test]
fn hostile_clients_cannot_hold_the_server() {
    let p = provider();
    p.meter("app")
        .u64_counter("jobs")
        .build()
        .unwrap()
        .add(1, &[]);
    let s = start(
        &p,
        PrometheusServerOptions::default()
            .with_header_timeout(Duration::from_millis(1500))
            .with_max_header_bytes(8 * 1024),
    );
    let a = s.local_addr();
    // 1. Connects and sends nothing.
    let mut idle = TcpStream::connect(a).unwrap();
    // 2. Sends a never-finished request line, one byte at a time.
    let mut trickle = TcpStream::connect(a).unwrap();
    let trickler = std::thread::spawn(move || {
        for b in b"GET /metrics HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" {
            if trickle.write_all(&[*b]).is_err() {
                return true; // server closed it
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        false
    });
    // 3. Sends huge headers.
    let mut huge = TcpStream::connect(a).unwrap();
    huge.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut big = b"GET /metrics HTTP/1.1\r\n".to_vec();
    for i in 0..2000 {
        big.extend_from_slice(format!("X-H{i}: {}\r\n", "v".repeat(100)).as_bytes());
    }
    let _ = huge.write_all(&big); // the server may close mid-way
                                  // 4. Sends garbage.
    let mut garbage = TcpStream::connect(a).unwrap();
    garbage.write_all(b"\x00\x01\x02 nonsense\r\n\r\n").unwrap();

    // A normal scrape still succeeds quickly.
    let t = Instant::now();
    let r = get(a);
    assert_eq!(r.status, 200);
    assert!(
        t.elapsed() < Duration::from_millis(500),
        "{:?}",
        t.elapsed()
    );

    // The garbage client got 400.
    garbage
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut g = String::new();
    let _ = garbage.read_to_string(&mut g);
    assert!(g.starts_with("HTTP/1.1 400"), "{g:?}");
    // The huge-header client got 431 or a closed connection, never a scrape.
    let mut h = Vec::new();
    let _ = huge.read_to_end(&mut h);
    let h = String::from_utf8_lossy(&h);
    assert!(h.is_empty() || h.starts_with("HTTP/1.1 431"), "{h:?}");
    // The idle client is disconnected after the header deadline.
    idle.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 16];
    let n = idle.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0);
    assert!(
        t.elapsed() < Duration::from_millis(3000),
        "{:?}",
        t.elapsed()
    );
    // The trickling client is cut off by the total deadline (not reset by
    // each byte).
    assert!(
        trickler.join().unwrap(),
        "trickling client was never cut off"
    );
}

#[test]
fn connection_limit_answers_503() {
    let p = provider();
    let s = start(
        &p,
        PrometheusServerOptions::default()
            .with_max_connections(2)
            .with_header_timeout(Duration::from_secs(3)),
    );
    let a = s.local_addr();
    // Two connections in the middle of a request (a silent one would give
    // up its slot: see tests/endpoint_fairness.rs).
    let mut c1 = TcpStream::connect(a).unwrap();
    let mut c2 = TcpStream::connect(a).unwrap();
    c1.write_all(b"GET /met").unwrap();
    c2.write_all(b"GET /met").unwrap();
    std::thread::sleep(Duration::from_millis(100));
    // The third connection is answered 503 and closed at once (a client
    // may also see the close as a reset, depending on timing).
    let t = Instant::now();
    let mut s = TcpStream::connect(a).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let _ = s.write_all(b"GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
    let mut raw = Vec::new();
    let r = s.read_to_end(&mut raw);
    let raw = String::from_utf8_lossy(&raw);
    assert!(r.is_err() || raw.starts_with("HTTP/1.1 503"), "{raw:?}");
    assert!(t.elapsed() < Duration::from_secs(1), "{:?}", t.elapsed());
}

#[test]
fn self_metrics_and_explicit_timestamps() {
    let p = provider();
    let g = p
        .meter("app")
        .f64_gauge("temp")
        .with_unit("Cel")
        .build()
        .unwrap();
    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_700_000_000_123);
    g.record_at(21.5, &[], at);
    let s = start(&p, Default::default());
    let _ = get(s.local_addr());
    let t = get(s.local_addr()).text();
    assert!(
        t.contains("temp_celsius{otel_scope_name=\"app\"} 21.5 1700000000123\n"),
        "{t}"
    );
    assert!(
        t.contains("promhttp_metric_handler_requests_total{code=\"200\",otel_scope_name=\"ferrometer.prometheus\""),
        "{t}"
    );
    assert!(
        t.contains("promhttp_metric_handler_requests_in_flight{"),
        "{t}"
    );
    assert!(
        t.contains("promhttp_metric_handler_request_duration_seconds_bucket{"),
        "{t}"
    );
    let no = start(
        &p,
        PrometheusServerOptions::default().with_self_metrics(false),
    );
    let _ = no
        .render(ferrometer::export::prometheus::Format::Text)
        .unwrap();
}

#[test]
fn stop_joins_and_frees_the_port_even_with_open_connections() {
    let p = provider();
    let s = start(
        &p,
        PrometheusServerOptions::default().with_header_timeout(Duration::from_secs(30)),
    );
    let a = s.local_addr();
    let _idle = TcpStream::connect(a).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    let t = Instant::now();
    s.stop();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(!s.is_running());
    assert!(TcpStream::connect(a).is_err());
    s.stop(); // idempotent
              // The port can be bound again.
    let s2 = PrometheusServer::start(&p, &a.to_string(), Default::default()).unwrap();
    assert_eq!(get(s2.local_addr()).status, 200);
    drop(s2); // Drop stops
    assert!(TcpStream::connect(a).is_err());
}

#[test]
fn scrapes_after_provider_shutdown_get_503() {
    let p = provider();
    let s = start(&p, Default::default());
    p.shutdown().unwrap();
    assert_eq!(get(s.local_addr()).status, 503);
}

#[test]
fn bad_addresses_are_errors() {
    let p = provider();
    assert!(PrometheusServer::start(&p, "not an address", Default::default()).is_err());
    let s = start(&p, Default::default());
    let taken = s.local_addr().to_string();
    assert!(PrometheusServer::start(&p, &taken, Default::default()).is_err());
    assert!(PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default().with_path("metrics")
    )
    .is_err());
}
