//! Remote write over https, with the TLS options the OTLP/HTTP client
//! has: a CA file makes the exporter trust a test CA; without it (system
//! roots) the same server is refused at once, as a permanent failure that
//! is not retried.
//!
//! Needs `openssl` (Debian package `openssl`) to make the test CA and
//! `python3` for the HTTPS sink (tests/python/tls_sink.py). The PKI and
//! sink helpers are those of tests/otlp_tls.rs.

use ferrometer::export::otlp::RetryPolicy;
use ferrometer::export::pipeline::{DropReason, FailReason};
use ferrometer::export::remote_write::RemoteWriteExporter;
use ferrometer::export::PushExporter;
use ferrometer::{KeyValue, ManualReader, MeterProvider, Resource, TemporalityPreference};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

fn openssl(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .current_dir(dir)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run openssl ({e}): install the Debian package `openssl`")
        });
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A test CA and a server certificate for 127.0.0.1 signed by it.
fn make_pki() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "ferrometer-rw-tls-{}-{}",
        std::process::id(),
        Instant::now().elapsed().as_nanos()
    ));
    std::fs::create_dir_all(&dir).unwrap();
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let mut ca = vec!["req", "-x509"];
    ca.extend(ec);
    ca.extend([
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ferrometer test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign,cRLSign",
    ]);
    openssl(&dir, &ca);
    let mut csr = vec!["req"];
    csr.extend(ec);
    csr.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=127.0.0.1",
    ]);
    openssl(&dir, &csr);
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        &dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.pem",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
        ],
    );
    dir
}

struct TlsSink {
    child: Child,
    out: BufReader<ChildStdout>,
    port: u16,
}

impl TlsSink {
    fn start(pki: &Path) -> TlsSink {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/python/tls_sink.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(pki.join("server.pem"))
            .arg(pki.join("server.key"))
            .stdout(Stdio::piped())
            .spawn()
            .expect("python3 for the HTTPS sink");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line.trim().parse().expect("sink port");
        TlsSink { child, out, port }
    }
    fn next_request(&mut self) -> String {
        let mut line = String::new();
        self.out.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
}

impl Drop for TlsSink {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn snapshot() -> ferrometer::ResourceMetrics {
    let reader = ManualReader::new(TemporalityPreference::Cumulative);
    let provider = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader.clone())
        .build();
    let c = provider.meter("tls").u64_counter("c").build().unwrap();
    c.add(1, &[KeyValue::new("k", "v")]);
    let rm = reader.collect().unwrap();
    drop(provider);
    rm
}

#[test]
fn remote_write_over_https_with_a_ca_file_and_refused_without() {
    ferrometer::diagnostics::set_silent();
    let pki = make_pki();
    let mut sink = TlsSink::start(&pki);
    let url = format!("https://127.0.0.1:{}/api/v1/write", sink.port);
    let rm = snapshot();
    let deadline = || Instant::now() + Duration::from_secs(10);
    let retry = RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(20),
        max_backoff: Duration::from_millis(50),
        multiplier: 2.0,
    };

    let pipe = RemoteWriteExporter::builder(&url)
        .with_certificate(pki.join("ca.pem"))
        .with_retry(retry)
        .build()
        .unwrap()
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    pipe.export(&rm, deadline()).unwrap();
    assert!(pipe.flush(Duration::from_secs(10)).completed);
    let line = sink.next_request();
    assert!(
        line.starts_with("POST /api/v1/write application/x-protobuf "),
        "{line}"
    );
    let st = pipe.stats();
    assert_eq!(
        (st.points_delivered, st.requests_delivered),
        (1, 1),
        "{st:?}"
    );

    // System roots do not know the test CA: permanent, not retried.
    let pipe = RemoteWriteExporter::builder(&url)
        .with_retry(retry)
        .build()
        .unwrap()
        .into_pipeline()
        .with_self_metrics(false)
        .build()
        .unwrap();
    pipe.export(&rm, deadline()).unwrap();
    assert!(pipe.flush(Duration::from_secs(10)).completed);
    let st = pipe.stats();
    assert_eq!(st.dropped(DropReason::PermanentError), 1, "{st:?}");
    assert_eq!(st.failed(FailReason::Other), 1, "{st:?}");
    assert_eq!(st.retries, 0, "{st:?}");

    // A CA file without certificates is refused when building.
    std::fs::write(pki.join("empty.pem"), "not a certificate\n").unwrap();
    assert!(RemoteWriteExporter::builder(&url)
        .with_certificate(pki.join("empty.pem"))
        .build()
        .is_err());
    drop(sink);
    let _ = std::fs::remove_dir_all(pki);
}
