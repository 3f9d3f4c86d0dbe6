//! `https://` on the Prometheus endpoint: curl against a server
//! certificate from files and from memory, mutual TLS (a client
//! certificate from the right CA passes, none or one from another CA
//! fails), bad TLS material refused at start, idle and stalled TLS
//! clients that cannot starve scrapes, and real peers: Debian's
//! Prometheus 2.42 and Prometheus 3 scraping with `scheme: https` and
//! `tls_config`, Prometheus 3 negotiating text format 1.0.0 with UTF-8
//! names.
//!
//! Needs `openssl` and `curl` (Debian packages of the same names), the
//! Debian package `prometheus`, and Prometheus 3 (scripts/build-prometheus3.sh
//! builds and caches it, or set FERROMETER_PROMETHEUS3). The test
//! certificates and keys are made here, in a temporary directory, and
//! removed afterwards.

use ferrometer::export::prometheus::{
    EncodeOptions, PrometheusServer, PrometheusServerOptions, PrometheusTls, TranslationStrategy,
};
use ferrometer::{Error, KeyValue, MeterProvider, Resource};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

mod demo_support;
mod http_support;
mod prometheus_support;
use prometheus_support::{need, prometheus3_binary, scrape_until};
mod tls_support;
use tls_support::Pki;

// ---------------------------------------------------------------- helpers

fn provider() -> MeterProvider {
    let p = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "tls-demo")]))
        .build();
    let c = p
        .meter("t")
        .u64_counter("http.server.requests")
        .build()
        .unwrap();
    c.add(3, &[KeyValue::new("http.method", "GET")]);
    let h = p
        .meter("t")
        .f64_histogram("db.latency")
        .with_unit("s")
        .with_boundaries(vec![1.0])
        .build()
        .unwrap();
    h.record(0.25, &[]);
    p
}

fn curl(args: &[&str]) -> Output {
    Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run curl ({e}): install the Debian package `curl`"))
}

fn url(s: &PrometheusServer) -> String {
    format!("https://{}/metrics", s.local_addr())
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

const LINE: &str = "http_server_requests_total{http_method=\"GET\",otel_scope_name=\"t\"} 3";

// ---------------------------------------------------------------- curl

#[test]
fn curl_scrapes_over_https_with_files_and_with_pem_in_memory() {
    let pki = Pki::with_clients("curl");
    let p = provider();
    let from_files = PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default().with_tls(PrometheusTls::from_files(
            pki.path("server.pem"),
            pki.path("server.key"),
        )),
    )
    .unwrap();
    let cert = std::fs::read(pki.path("server.pem")).unwrap();
    let key = std::fs::read(pki.path("server.key")).unwrap();
    let from_memory = PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default().with_tls(PrometheusTls::from_pem(&cert, &key)),
    )
    .unwrap();
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().unwrap();
    for s in [&from_files, &from_memory] {
        let o = curl(&["--cacert", ca, "-D", "-", &url(s)]);
        assert!(
            o.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let out = stdout(&o);
        assert!(out.starts_with("HTTP/1.1 200"), "{out}");
        assert!(
            out.to_ascii_lowercase()
                .contains("content-type: text/plain; version=0.0.4; charset=utf-8"),
            "{out}"
        );
        assert!(out.lines().any(|l| l == LINE), "{out}");
        // gzip and keep-alive work through TLS too: two requests on one
        // connection, compressed.
        let o = curl(&[
            "--cacert",
            ca,
            "--compressed",
            &url(s),
            "--next",
            "--cacert",
            ca,
            "--compressed",
            &url(s),
        ]);
        assert!(
            o.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(stdout(&o).matches(LINE).count(), 2, "{}", stdout(&o));
        // The server's certificate is not trusted without the test CA.
        let o = curl(&[&url(s)]);
        assert_eq!(
            o.status.code(),
            Some(60),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        // Plain HTTP to the TLS port gets no metrics, and the endpoint
        // keeps serving.
        let o = curl(&[&format!("http://{}/metrics", s.local_addr())]);
        assert!(!stdout(&o).contains(LINE));
        assert!(curl(&["--cacert", ca, &url(s)]).status.success());
    }
    from_files.stop();
    from_memory.stop();
}

#[test]
fn client_certificates_are_required_when_a_client_ca_is_set() {
    let pki = Pki::with_clients("mtls");
    let p = provider();
    let s = PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default().with_tls(
            PrometheusTls::from_files(pki.path("server.pem"), pki.path("server.key"))
                .with_client_ca_file(pki.path("ca.pem")),
        ),
    )
    .unwrap();
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let with = |cert: &str| {
        curl(&[
            "--cacert",
            ca,
            "--cert",
            pki.path(&format!("{cert}.pem")).to_str().unwrap(),
            "--key",
            pki.path(&format!("{cert}.key")).to_str().unwrap(),
            &url(&s),
        ])
    };
    let ok = with("client");
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(stdout(&ok).lines().any(|l| l == LINE));
    let rogue = with("rogue");
    assert!(!rogue.status.success() && !stdout(&rogue).contains(LINE));
    let none = curl(&["--cacert", ca, &url(&s)]);
    assert!(!none.status.success() && !stdout(&none).contains(LINE));
    // Still serving the right client after the refusals.
    assert!(with("client").status.success());
    s.stop();
}

#[test]
fn bad_tls_material_is_refused_at_start_with_nothing_attached() {
    let pki = Pki::with_clients("bad");
    let p = provider();
    let start = |tls: PrometheusTls| {
        PrometheusServer::start(
            &p,
            "127.0.0.1:0",
            PrometheusServerOptions::default().with_tls(tls),
        )
    };
    let cert = std::fs::read(pki.path("server.pem")).unwrap();
    let key = std::fs::read(pki.path("server.key")).unwrap();
    let other_key = std::fs::read(pki.path("client.key")).unwrap();
    let cases = [
        (
            "missing file",
            PrometheusTls::from_files(pki.path("nope.pem"), pki.path("server.key")),
        ),
        ("no certificate", PrometheusTls::from_pem(b"not pem", &key)),
        ("no key", PrometheusTls::from_pem(&cert, b"")),
        (
            "key of another certificate",
            PrometheusTls::from_pem(&cert, &other_key),
        ),
        (
            "empty client CA",
            PrometheusTls::from_pem(&cert, &key).with_client_ca_pem(b""),
        ),
    ];
    for (what, tls) in cases {
        match start(tls) {
            Err(Error::InvalidArgument(msg)) => {
                assert!(msg.starts_with("TLS "), "{what}: {msg}");
                assert!(
                    !msg.contains("PRIVATE KEY"),
                    "{what}: the key leaked: {msg}"
                );
            }
            other => panic!("{what}: {other:?}"),
        }
    }
    // The Debug form never shows in-memory key bytes.
    let dbg = format!("{:?}", PrometheusTls::from_pem(&cert, &key));
    assert!(
        dbg.contains("<redacted>") && !dbg.contains("PRIVATE"),
        "{dbg}"
    );
    // Nothing was left attached: a good endpoint still starts and serves.
    let s = start(PrometheusTls::from_pem(&cert, &key)).unwrap();
    let ca = pki.path("ca.pem");
    assert!(curl(&["--cacert", ca.to_str().unwrap(), &url(&s)])
        .status
        .success());
    s.stop();
}

/// Idle TCP connections and stalled handshakes hold no slot a scrape
/// needs, and a stalled handshake is cut off at the header timeout.
#[test]
fn idle_and_stalled_tls_clients_do_not_starve_scrapes() {
    let pki = Pki::with_clients("fair");
    let p = provider();
    let header_timeout = Duration::from_millis(800);
    let s = PrometheusServer::start(
        &p,
        "127.0.0.1:0",
        PrometheusServerOptions::default()
            .with_max_connections(4)
            .with_header_timeout(header_timeout)
            .with_tls(PrometheusTls::from_files(
                pki.path("server.pem"),
                pki.path("server.key"),
            )),
    )
    .unwrap();
    // The first bytes of a TLS ClientHello record, then nothing.
    let partial_hello: &[u8] = &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01];
    let mut attackers = Vec::new();
    for i in 0..24 {
        let mut c = TcpStream::connect(s.local_addr()).unwrap();
        if i % 2 == 0 {
            c.write_all(partial_hello).unwrap();
        }
        attackers.push(c);
    }
    std::thread::sleep(Duration::from_millis(100));
    let ca = pki.path("ca.pem");
    let ca = ca.to_str().unwrap();
    let mut slowest = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let o = curl(&["--cacert", ca, &url(&s)]);
        slowest = slowest.max(t.elapsed());
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        assert!(stdout(&o).lines().any(|l| l == LINE));
        // Refill the slots the scrape took.
        for _ in 0..4 {
            attackers.push(TcpStream::connect(s.local_addr()).unwrap());
        }
    }
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let field = |k: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(k))
            .and_then(|v| v.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    };
    let threads = field("Threads:");
    eprintln!(
        "slowest of 5 curl scrapes over TLS among {} idle or stalled clients: {slowest:?}; \
         {threads} threads, VmRSS {} KiB in the test process",
        attackers.len(),
        field("VmRSS:")
    );
    // At most two threads per connection slot (evicted ones finishing),
    // plus the accept and collector threads and the test's own.
    assert!(threads <= 2 * 4 + 8, "{threads} threads");
    assert!(
        slowest < Duration::from_secs(2),
        "slowest scrape {slowest:?}"
    );
    drop(attackers);
    // Alone, a stalled handshake is closed at the header timeout.
    let mut c = TcpStream::connect(s.local_addr()).unwrap();
    c.write_all(partial_hello).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let mut buf = [0u8; 64];
    let n = c.read(&mut buf).unwrap_or(0);
    let waited = t.elapsed();
    assert_eq!(n, 0, "the server answered a stalled handshake");
    assert!(
        waited >= header_timeout - Duration::from_millis(100) && waited < header_timeout * 3,
        "closed after {waited:?} (header timeout {header_timeout:?})"
    );
    s.stop();
}

// ---------------------------------------------------------------- peers

/// `tls_config` with the test CA and the client certificate.
fn tls_config(pki: &Pki) -> String {
    format!(
        "    tls_config:\n      ca_file: {}\n      cert_file: {}\n      key_file: {}\n",
        pki.path("ca.pem").display(),
        pki.path("client.pem").display(),
        pki.path("client.key").display()
    )
}

fn mtls_endpoint(p: &MeterProvider, pki: &Pki, strategy: TranslationStrategy) -> PrometheusServer {
    PrometheusServer::start(
        p,
        "127.0.0.1:0",
        PrometheusServerOptions::default()
            .with_encode_options(EncodeOptions::default().with_translation_strategy(strategy))
            .with_tls(
                PrometheusTls::from_files(pki.path("server.pem"), pki.path("server.key"))
                    .with_client_ca_file(pki.path("ca.pem")),
            ),
    )
    .unwrap()
}

#[test]
fn prometheus_2_scrapes_over_mutual_tls() {
    let bin = need("prometheus");
    let pki = Pki::with_clients("prom2");
    let p = provider();
    let s = mtls_endpoint(
        &p,
        &pki,
        TranslationStrategy::UnderscoreEscapingWithSuffixes,
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         \x20 - job_name: tls\n    scheme: https\n{}    static_configs:\n      - targets: ['{}']\n",
        tls_config(&pki),
        s.local_addr()
    );
    scrape_until(
        &bin,
        &pki.0,
        &config,
        &[
            (r#"up{job="tls"}"#, "1"),
            (
                r#"http_server_requests_total{job="tls",http_method="GET"}"#,
                "3",
            ),
            (r#"db_latency_seconds_count{job="tls"}"#, "1"),
            (r#"target_info{job="tls",service_name="tls-demo"}"#, "1"),
        ],
    );
    s.stop();
}

#[test]
fn prometheus_3_scrapes_utf8_names_over_mutual_tls_with_text_1_0_0() {
    let bin = prometheus3_binary();
    let pki = Pki::with_clients("prom3");
    let p = provider();
    let s = mtls_endpoint(&p, &pki, TranslationStrategy::NoUTF8EscapingWithSuffixes);
    // Job `text1` offers only text 1.0.0 (with escaping=allow-utf-8, what
    // Prometheus 3 asks by default); job `om` the default protocols
    // (OpenMetrics 1.0.0 first).
    let target = format!(
        "    static_configs:\n      - targets: ['{}']\n",
        s.local_addr()
    );
    let config = format!(
        "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n\
         \x20 - job_name: text1\n    scheme: https\n    scrape_protocols: [PrometheusText1.0.0]\n{tls}{target}\
         \x20 - job_name: om\n    scheme: https\n{tls}{target}",
        tls = tls_config(&pki),
    );
    scrape_until(
        &bin,
        &pki.0,
        &config,
        &[
            (r#"up{job="text1"}"#, "1"),
            (r#"up{job="om"}"#, "1"),
            (
                r#"{"http.server.requests_total",job="text1","http.method"="GET"}"#,
                "3",
            ),
            (
                r#"{"http.server.requests_total",job="om","http.method"="GET"}"#,
                "3",
            ),
            // Prometheus 3 normalizes `le` to a float: 1 is "1.0".
            (r#"{"db.latency_seconds_bucket",job="text1",le="1.0"}"#, "1"),
            (r#"{"db.latency_seconds_sum",job="om"}"#, "0.25"),
            (r#"target_info{job="text1","service.name"="tls-demo"}"#, "1"),
            (
                r#"count({job="text1",__name__=~"promhttp_metric_handler_requests_total"})"#,
                "3",
            ),
        ],
    );
    s.stop();
}
