//! Console, Prometheus text file and host callback exporters, driven with
//! a manual reader's snapshots. The text file is also read by a real
//! node_exporter textfile collector (Debian `prometheus-node-exporter`).

use ferrometer::export::console::{render, ConsoleExporter};
use ferrometer::export::host::{BytesExporter, SnapshotExporter, WireFormat};
use ferrometer::export::textfile::TextFileExporter;
use ferrometer::export::PushExporter;
use ferrometer::{Error, KeyValue, ManualReader, MeterProvider, Resource, TemporalityPreference};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn setup() -> (MeterProvider, ManualReader) {
    let reader = ManualReader::default();
    let p = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "exp")]))
        .with_reader(reader.clone())
        .build();
    let m = p.meter("game");
    let c = m
        .u64_counter("players.joined")
        .with_description("Players who joined.")
        .with_unit("{player}")
        .build()
        .unwrap();
    c.add(3, &[KeyValue::new("region", "eu")]);
    let g = m.f64_gauge("temperature").build().unwrap();
    g.record_at(20.5, &[], SystemTime::now());
    let h = m
        .f64_histogram("latency")
        .with_unit("s")
        .with_boundaries(vec![0.1, 0.25])
        .build()
        .unwrap();
    for v in [0.1, 0.2, 0.2] {
        h.record(v, &[KeyValue::new("route", "/play")]);
    }
    (p, reader)
}

fn tmpdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("fm-exp-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[derive(Clone, Default)]
struct Buf(Arc<Mutex<Vec<u8>>>);
impl Write for Buf {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn console_prints_one_block_per_metric() {
    let (_p, reader) = setup();
    let buf = Buf::default();
    let e = ConsoleExporter::to_writer(buf.clone()).with_temporality(TemporalityPreference::Delta);
    assert_eq!(e.temporality(), TemporalityPreference::Delta);
    e.export(&reader.collect().unwrap(), deadline()).unwrap();
    let out = String::from_utf8(buf.0.lock().unwrap().clone()).unwrap();
    assert!(out.starts_with("ferrometer export at "), "{out}");
    assert!(out.contains("service.name=\"exp\""), "{out}");
    assert!(
        out.contains("\nplayers.joined  counter, cumulative, unit \"{player}\"  [scope game]\n  Players who joined.\n  {region=\"eu\"}  3\n"),
        "{out}"
    );
    assert!(
        out.contains("\ntemperature  gauge  [scope game]\n  {}  20.5  @ "),
        "{out}"
    );
    assert!(out.contains("{route=\"/play\"}  count=3 sum=0.5 min=0.1 max=0.2\n    (-inf, 0.1]: 1  (0.1, 0.25]: 2  (0.25, +inf): 0\n"), "{out}");
    assert_eq!(
        render(&reader.collect().unwrap())
            .matches("[scope game]")
            .count(),
        3
    );
}

#[test]
fn textfile_is_replaced_atomically_without_timestamps() {
    let dir = tmpdir("atomic");
    let (p, reader) = setup();
    let path = dir.join("app.prom");
    let e = TextFileExporter::new(&path).with_remove_on_shutdown(true);
    e.export(&reader.collect().unwrap(), deadline()).unwrap();
    let first = std::fs::read_to_string(&path).unwrap();
    assert!(
        first.contains("players_joined_total{region=\"eu\",otel_scope_name=\"game\"} 3\n"),
        "{first}"
    );
    assert!(
        first.contains("temperature{otel_scope_name=\"game\"} 20.5\n"),
        "no timestamp: {first}"
    );

    // Readers polling while exports run only ever see complete files.
    let c = p
        .meter("game")
        .u64_counter("players.joined")
        .with_description("Players who joined.")
        .with_unit("{player}")
        .build()
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (s2, p2) = (stop.clone(), path.clone());
    let poll = std::thread::spawn(move || {
        let mut reads = 0;
        while !s2.load(std::sync::atomic::Ordering::Relaxed) {
            let t = std::fs::read_to_string(&p2).unwrap();
            assert!(
                t.ends_with('\n') && t.contains("latency_seconds_count"),
                "torn file: {t:?}"
            );
            reads += 1;
        }
        reads
    });
    for _ in 0..200 {
        c.add(1, &[KeyValue::new("region", "eu")]);
        e.export(&reader.collect().unwrap(), deadline()).unwrap();
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(poll.join().unwrap() > 0);
    let last = std::fs::read_to_string(&path).unwrap();
    assert!(last.contains("players_joined_total{region=\"eu\",otel_scope_name=\"game\"} 203\n"));
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, vec![std::ffi::OsString::from("app.prom")]);
    e.shutdown(Duration::from_secs(1)).unwrap();
    assert!(!path.exists());

    // An unwritable path is an error.
    let bad = TextFileExporter::new(dir.join("missing-dir").join("x.prom"));
    assert!(matches!(
        bad.export(&reader.collect().unwrap(), deadline()),
        Err(Error::Failed(_))
    ));
    let _ = std::fs::remove_dir_all(&dir);
}

fn http_get(addr: SocketAddr, target: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {target} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = String::new();
    let _ = s.read_to_string(&mut raw);
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    if !head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        return body.to_owned();
    }
    let (mut out, mut rest) = (String::new(), body);
    while let Some((len, r)) = rest.split_once("\r\n") {
        let n = usize::from_str_radix(len.trim(), 16).unwrap_or(0);
        if n == 0 || r.len() < n {
            break;
        }
        out.push_str(&r[..n]);
        rest = r[n..].trim_start_matches("\r\n");
    }
    out
}

/// node_exporter's textfile collector reads the file and serves its
/// samples; `node_textfile_scrape_error` stays 0.
#[test]
fn node_exporter_textfile_collector_accepts_the_file() {
    let bin = "/usr/bin/prometheus-node-exporter";
    assert!(
        std::path::Path::new(bin).is_file(),
        "`prometheus-node-exporter` is not installed: this test needs the Debian package \
         `prometheus-node-exporter` (apt-get install -y prometheus-node-exporter)"
    );
    let dir = tmpdir("node");
    let (_p, reader) = setup();
    TextFileExporter::new(dir.join("ferrometer.prom"))
        .export(&reader.collect().unwrap(), deadline())
        .unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    struct Kill(std::process::Child);
    impl Drop for Kill {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let _child = Kill(
        Command::new(bin)
            .arg("--collector.disable-defaults")
            .arg("--collector.textfile")
            .arg(format!("--collector.textfile.directory={}", dir.display()))
            .arg(format!("--web.listen-address={addr}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start node_exporter"),
    );
    let start = Instant::now();
    let body = loop {
        if TcpStream::connect(addr).is_ok() {
            let r = http_get(addr, "/metrics");
            if r.contains("node_textfile_scrape_error") {
                break r;
            }
        }
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "node_exporter not serving on {addr}"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(body.contains("\nnode_textfile_scrape_error 0\n"), "{body}");
    assert!(
        body.contains("players_joined_total{otel_scope_name=\"game\",region=\"eu\"} 3\n"),
        "{body}"
    );
    assert!(
        body.contains(
            "latency_seconds_bucket{otel_scope_name=\"game\",route=\"/play\",le=\"0.25\"} 3\n"
        ),
        "{body}"
    );
    assert!(
        body.contains("temperature{otel_scope_name=\"game\"} 20.5\n"),
        "{body}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bytes_exporter_hands_encoded_payloads_to_the_host() {
    let (_p, reader) = setup();
    let got = Arc::new(Mutex::new(Vec::<(Vec<u8>, String)>::new()));
    let g = got.clone();
    let e = BytesExporter::new(WireFormat::OpenMetrics, move |b: &[u8], ct: &str| {
        g.lock().unwrap().push((b.to_vec(), ct.to_string()));
        Ok(())
    })
    .unwrap();
    e.export(&reader.collect().unwrap(), deadline()).unwrap();
    let got = got.lock().unwrap();
    let text = String::from_utf8(got[0].0.clone()).unwrap();
    assert!(got[0].1.starts_with("application/openmetrics-text"));
    assert!(
        text.ends_with("# EOF\n") && text.contains("players_joined_total{"),
        "{text}"
    );

    // A failing callback fails the export; an expired deadline too.
    let failing = BytesExporter::new(WireFormat::PrometheusText, |_: &[u8], _: &str| {
        Err(Error::Failed("link down".into()))
    })
    .unwrap();
    let rm = reader.collect().unwrap();
    assert!(failing.export(&rm, deadline()).is_err());
    assert_eq!(failing.export(&rm, Instant::now()), Err(Error::Timeout));
    for f in [WireFormat::OtlpProtobuf, WireFormat::OtlpJson] {
        if !f.is_available() {
            assert!(matches!(
                BytesExporter::new(f, |_: &[u8], _: &str| Ok(())),
                Err(Error::InvalidArgument(_))
            ));
        }
    }
}

#[test]
fn snapshot_exporter_hands_the_snapshot_to_the_host() {
    let (_p, reader) = setup();
    let shut = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let s2 = shut.clone();
    let seen = Arc::new(Mutex::new(0usize));
    let s = seen.clone();
    let e = SnapshotExporter::new(move |rm: &ferrometer::ResourceMetrics| {
        *s.lock().unwrap() = rm.point_count();
        Ok(())
    })
    .with_temporality(TemporalityPreference::LowMemory)
    .with_shutdown_hook(move || s2.store(true, std::sync::atomic::Ordering::Relaxed));
    assert_eq!(e.temporality(), TemporalityPreference::LowMemory);
    e.export(&reader.collect().unwrap(), deadline()).unwrap();
    assert_eq!(*seen.lock().unwrap(), 3);
    e.shutdown(Duration::from_secs(1)).unwrap();
    assert!(shut.load(std::sync::atomic::Ordering::Relaxed));
}
