//! Real peer: a Prometheus Pushgateway started here on a free loopback
//! port. Pushes a counter, an up-down counter, a gauge, a histogram and
//! `target_info`, then reads the gateway's own `/metrics` and checks every
//! family and value; checks PUT (replace the group) against POST (merge),
//! base64 grouping values, and DELETE at shutdown.
//!
//! Needs the Debian package `prometheus-pushgateway`; without it the tests
//! FAIL with a message naming it.

use ferrometer::export::pushgateway::{PushMethod, PushgatewayExporter};
use ferrometer::export::PushExporter;
use ferrometer::{KeyValue, ManualReader, MeterProvider, Resource, ResourceMetrics};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = "prometheus-pushgateway";

fn need_bin() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(BIN))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "`{BIN}` is not installed: the Pushgateway peer tests need the Debian package \
                 `prometheus-pushgateway` (apt-get install -y prometheus-pushgateway)"
            )
        })
}

/// A running Pushgateway, killed on drop (every path, panics included).
struct Gateway {
    child: Child,
    addr: SocketAddr,
    dir: PathBuf,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

impl Gateway {
    fn start(tag: &str) -> Gateway {
        let bin = need_bin();
        let dir = std::env::temp_dir().join(format!("fm-pgw-{}-{tag}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        // A free port: bind, read it, release it (the gateway binds it next).
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let child = Command::new(bin)
            .arg(format!("--web.listen-address={addr}"))
            .arg(format!(
                "--persistence.file={}",
                dir.join("pgw.data").display()
            ))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start prometheus-pushgateway");
        let mut g = Gateway { child, addr, dir };
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(st) = g.child.try_wait().unwrap() {
                panic!("prometheus-pushgateway exited at start: {st}");
            }
            if TcpStream::connect(addr).is_ok() && http(addr, "GET", "/-/ready").0 == 200 {
                return g;
            }
            assert!(Instant::now() < deadline, "pushgateway not ready on {addr}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn metrics(&self) -> String {
        let (st, body) = http(self.addr, "GET", "/metrics");
        assert_eq!(st, 200, "{body}");
        body
    }
}

fn http(addr: SocketAddr, method: &str, target: &str) -> (u16, String) {
    let Ok(mut s) = TcpStream::connect(addr) else {
        return (0, String::new());
    };
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("{method} {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
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
        let mut out = String::new();
        let mut rest = body;
        while let Some((len, r)) = rest.split_once("\r\n") {
            let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
            if n == 0 {
                break;
            }
            out.push_str(&r[..n]);
            rest = &r[n + 2..];
        }
        out
    } else {
        body.to_owned()
    };
    (status, body)
}

/// The sample line whose name is `name` and whose labels contain every
/// `labels` pair; returns its value.
fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| {
            let n = l.split(['{', ' ']).next().unwrap_or("");
            n == name
        })
        .find(|l| {
            labels
                .iter()
                .all(|(k, v)| l.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(10)
}

struct Demo {
    _provider: MeterProvider,
    reader: ManualReader,
}

fn demo() -> Demo {
    let reader = ManualReader::default();
    let provider = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "pgw-demo")]))
        .with_reader(reader.clone())
        .build();
    let m = provider.meter("demo");
    let c = m
        .u64_counter("demo.requests")
        .with_description("Requests served.")
        .build()
        .unwrap();
    c.add(7, &[KeyValue::new("route", "/play")]);
    c.add(2, &[KeyValue::new("route", "/quit")]);
    let u = m.i64_up_down_counter("demo.sessions").build().unwrap();
    u.add(-3, &[]);
    let g = m
        .f64_gauge("demo.temperature")
        .with_unit("Cel")
        .build()
        .unwrap();
    // An explicit timestamp: the push must not carry it.
    g.record_at(21.5, &[], std::time::SystemTime::now());
    let h = m
        .f64_histogram("demo.latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 1.0])
        .build()
        .unwrap();
    for v in [0.05, 0.5, 0.7, 3.0] {
        h.record(v, &[KeyValue::new("route", "/play")]);
    }
    Demo {
        _provider: provider,
        reader,
    }
}

fn snapshot(d: &Demo) -> ResourceMetrics {
    d.reader.collect().unwrap()
}

#[test]
fn push_serves_every_family_with_values() {
    let gw = Gateway::start("families");
    let d = demo();
    let e = PushgatewayExporter::builder(gw.url(), "ferrometer_test")
        .with_grouping_label("instance", "host-1")
        .build()
        .unwrap();
    let rm = snapshot(&d);
    let body = String::from_utf8(e.encode(&rm)).unwrap();
    // No sample carries a timestamp (three fields would mean one).
    for l in body.lines().filter(|l| !l.starts_with('#')) {
        let after_labels = l.rsplit_once('}').map_or(l, |x| x.1);
        assert_eq!(
            after_labels.split_whitespace().count(),
            if l.contains('}') { 1 } else { 2 },
            "timestamp in push: {l}"
        );
    }
    e.export(&rm, deadline()).unwrap();
    let text = gw.metrics();
    let g = [("job", "ferrometer_test"), ("instance", "host-1")];
    let with = |extra: &[(&'static str, &'static str)]| {
        let mut v = g.to_vec();
        v.extend_from_slice(extra);
        v
    };
    assert_eq!(
        sample(
            &text,
            "demo_requests_total",
            &with(&[("route", "/play"), ("otel_scope_name", "demo")])
        ),
        Some(7.0),
        "{text}"
    );
    assert_eq!(
        sample(&text, "demo_requests_total", &with(&[("route", "/quit")])),
        Some(2.0)
    );
    assert_eq!(sample(&text, "demo_sessions", &g), Some(-3.0));
    assert_eq!(sample(&text, "demo_temperature_celsius", &g), Some(21.5));
    assert_eq!(
        sample(
            &text,
            "demo_latency_seconds_bucket",
            &with(&[("le", "0.1")])
        ),
        Some(1.0)
    );
    assert_eq!(
        sample(&text, "demo_latency_seconds_bucket", &with(&[("le", "1")])),
        Some(3.0)
    );
    assert_eq!(
        sample(
            &text,
            "demo_latency_seconds_bucket",
            &with(&[("le", "+Inf")])
        ),
        Some(4.0)
    );
    assert_eq!(sample(&text, "demo_latency_seconds_count", &g), Some(4.0));
    assert_eq!(sample(&text, "demo_latency_seconds_sum", &g), Some(4.25));
    assert_eq!(
        sample(&text, "target_info", &with(&[("service_name", "pgw-demo")])),
        Some(1.0)
    );
    assert!(text.contains("# HELP demo_requests_total Requests served."));
    // The gateway records a successful push for the group, and no failure.
    assert!(sample(&text, "push_time_seconds", &g).unwrap() > 0.0);
    assert_eq!(sample(&text, "push_failure_time_seconds", &g), Some(0.0));
}

#[test]
fn put_replaces_post_merges_delete_removes() {
    let gw = Gateway::start("methods");
    let provider_a = MeterProvider::builder()
        .with_resource(Resource::empty())
        .build();
    let ra = ManualReader::default();
    provider_a.add_reader(ra.clone()).unwrap();
    provider_a
        .meter("a")
        .u64_counter("family.a")
        .build()
        .unwrap()
        .add(1, &[]);
    let rb = ManualReader::default();
    let provider_b = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(rb.clone())
        .build();
    provider_b
        .meter("b")
        .u64_counter("family.b")
        .build()
        .unwrap()
        .add(2, &[]);
    let grp = [("job", "methods")];
    let put = PushgatewayExporter::builder(gw.url(), "methods")
        .build()
        .unwrap();
    let post = PushgatewayExporter::builder(gw.url(), "methods")
        .with_method(PushMethod::Post)
        .with_delete_on_shutdown(true)
        .build()
        .unwrap();

    put.export(&ra.collect().unwrap(), deadline()).unwrap();
    post.export(&rb.collect().unwrap(), deadline()).unwrap();
    let t = gw.metrics();
    assert_eq!(sample(&t, "family_a_total", &grp), Some(1.0), "{t}");
    assert_eq!(
        sample(&t, "family_b_total", &grp),
        Some(2.0),
        "POST merges: {t}"
    );

    // PUT replaces the whole group: family b is gone.
    put.export(&ra.collect().unwrap(), deadline()).unwrap();
    let t = gw.metrics();
    assert_eq!(sample(&t, "family_a_total", &grp), Some(1.0));
    assert_eq!(
        sample(&t, "family_b_total", &grp),
        None,
        "PUT replaces: {t}"
    );

    // DELETE at shutdown removes the group.
    post.shutdown(Duration::from_secs(5)).unwrap();
    let t = gw.metrics();
    assert_eq!(sample(&t, "family_a_total", &grp), None, "{t}");
    assert!(!t.contains("job=\"methods\""), "{t}");
}

#[test]
fn base64_grouping_values_and_errors() {
    let gw = Gateway::start("b64");
    let d = demo();
    let e = PushgatewayExporter::builder(gw.url(), "nightly/batch")
        .with_grouping_label("path", "/var/lib/x")
        .with_grouping_label("empty", "")
        .with_grouping_label("spaced", "a b")
        .build()
        .unwrap();
    assert!(e.group_url().contains("/job@base64/"), "{}", e.group_url());
    e.export(&snapshot(&d), deadline()).unwrap();
    let t = gw.metrics();
    assert_eq!(
        sample(
            &t,
            "demo_sessions",
            &[
                ("job", "nightly/batch"),
                ("path", "/var/lib/x"),
                ("spaced", "a b")
            ]
        ),
        Some(-3.0),
        "{t}"
    );
    // A push the gateway refuses (a series label `route` that contradicts
    // the grouping label `route`) is an error, not a silent success.
    let conflicting = PushgatewayExporter::builder(gw.url(), "conflict")
        .with_grouping_label("route", "other")
        .build()
        .unwrap();
    let err = conflicting
        .export(&snapshot(&d), deadline())
        .expect_err("the gateway must refuse a contradicting label");
    assert!(err.to_string().contains("HTTP 400"), "{err}");
    // An unreachable gateway is an error too.
    let down = PushgatewayExporter::builder("http://127.0.0.1:1", "x")
        .with_timeout(Duration::from_millis(500))
        .build()
        .unwrap();
    let err = down.export(&snapshot(&d), deadline()).unwrap_err();
    assert!(
        matches!(
            err,
            ferrometer::Error::Failed(_) | ferrometer::Error::Timeout
        ),
        "{err}"
    );
}
