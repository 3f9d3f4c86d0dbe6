//! OTLP over https: a CA file given in code or through
//! `OTEL_EXPORTER_OTLP_CERTIFICATE` makes the exporter trust a test CA;
//! without it (system roots) the same server is refused, at once.
//!
//! Needs `openssl` (Debian package `openssl`) to make the test CA and
//! `python3` for the HTTPS sink (tests/python/tls_sink.py).

use ferrometer::export::otlp::{OtlpHttpExporter, RetryPolicy};
use ferrometer::export::PushExporter;
use ferrometer::{Error, KeyValue, ManualReader, MeterProvider, TemporalityPreference};
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
        "ferrometer-otlp-tls-{}-{}",
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
    let provider = MeterProvider::builder().with_reader(reader.clone()).build();
    let c = provider.meter("tls").u64_counter("c").build().unwrap();
    c.add(1, &[KeyValue::new("k", "v")]);
    let rm = reader.collect().unwrap();
    drop(provider);
    rm
}

#[test]
fn https_with_a_ca_file_from_code_or_env_and_refused_without() {
    let pki = make_pki();
    let mut sink = TlsSink::start(&pki);
    let url = format!("https://127.0.0.1:{}/v1/metrics", sink.port);
    let rm = snapshot();
    let deadline = || Instant::now() + Duration::from_secs(10);

    // CA file from code.
    let exp = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(&url)
        .with_certificate(pki.join("ca.pem"))
        .build()
        .unwrap();
    exp.export(&rm, deadline()).unwrap();
    assert_eq!(
        sink.next_request(),
        format!("POST /v1/metrics application/x-protobuf {}", {
            let mut b = Vec::new();
            ferrometer::export::otlp::encode_protobuf(&rm, &mut b);
            b.len()
        })
    );

    // CA file from OTEL_EXPORTER_OTLP_CERTIFICATE, endpoint from the env.
    let (u, ca) = (
        format!("https://127.0.0.1:{}", sink.port),
        pki.join("ca.pem").display().to_string(),
    );
    let exp = OtlpHttpExporter::builder()
        .with_env_lookup(move |k| match k {
            "OTEL_EXPORTER_OTLP_ENDPOINT" => Some(u.clone()),
            "OTEL_EXPORTER_OTLP_CERTIFICATE" => Some(ca.clone()),
            _ => None,
        })
        .build()
        .unwrap();
    exp.export(&rm, deadline()).unwrap();
    assert!(sink.next_request().starts_with("POST /v1/metrics "));

    // System roots do not know the test CA: refused, and not retried.
    let exp = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(&url)
        .with_retry(RetryPolicy {
            max_attempts: 0,
            initial_backoff: Duration::from_millis(50),
            max_backoff: Duration::from_millis(100),
            multiplier: 2.0,
        })
        .build()
        .unwrap();
    let t = Instant::now();
    let err = exp.export(&rm, deadline()).unwrap_err();
    assert!(matches!(err, Error::Failed(_)), "{err:?}");
    eprintln!("without the CA: {err}");
    assert!(err.to_string().contains("certificate"), "{err}");
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "a certificate error is permanent: {:?}",
        t.elapsed()
    );

    // A CA file without certificates is refused when building.
    std::fs::write(pki.join("empty.pem"), "not a certificate\n").unwrap();
    assert!(OtlpHttpExporter::builder()
        .without_env()
        .with_certificate(pki.join("empty.pem"))
        .build()
        .is_err());
    drop(sink);
    let _ = std::fs::remove_dir_all(pki);
}
