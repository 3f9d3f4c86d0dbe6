//! The Python OTLP/gRPC fault sink (grpc_fault_sink.py: grpcio with the
//! official opentelemetry-proto service), started on 127.0.0.1 and
//! driven over its stdin; stopped on drop.
//!
//! Include with `#[path = "otlp_support/grpc_sink.rs"] mod grpc_sink;`.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The Python sink, driven over its stdin.
pub struct GrpcSink {
    child: Child,
    io: Mutex<(ChildStdin, BufReader<ChildStdout>)>,
    pub port: u16,
}

impl GrpcSink {
    pub fn start() -> GrpcSink {
        Self::start_with(&[])
    }

    /// The sink with TLS: `cert`/`key` its certificate, requiring client
    /// certificates signed by `ca` (paths).
    pub fn start_tls(
        cert: &std::path::Path,
        key: &std::path::Path,
        ca: &std::path::Path,
    ) -> GrpcSink {
        Self::start_with(&[
            "--tls".as_ref(),
            cert.as_os_str(),
            key.as_os_str(),
            ca.as_os_str(),
        ])
    }

    fn start_with(args: &[&std::ffi::OsStr]) -> GrpcSink {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/otlp_support/grpc_fault_sink.py"
        );
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect(
                "python3 with grpcio and opentelemetry-proto (scripts/test-all.sh installs them)",
            );
        let stdin = child.stdin.take().unwrap();
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        out.read_line(&mut line).unwrap();
        let port = line
            .trim()
            .strip_prefix("port ")
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("the sink did not start: {line:?}"));
        GrpcSink {
            child,
            io: Mutex::new((stdin, out)),
            port,
        }
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn cmd(&self, c: &str) -> String {
        let mut io = self.io.lock().unwrap();
        writeln!(io.0, "{c}").unwrap();
        io.0.flush().unwrap();
        let mut line = String::new();
        io.1.read_line(&mut line).unwrap();
        line.trim_end().to_owned()
    }

    pub fn set(&self, mode: &str) {
        assert_eq!(self.cmd(&format!("mode {mode}")), "ok");
    }

    /// The requests the sink answered OK, as protobuf bytes.
    pub fn delivered(&self) -> Vec<Vec<u8>> {
        let mut io = self.io.lock().unwrap();
        writeln!(io.0, "dump").unwrap();
        io.0.flush().unwrap();
        let mut out = Vec::new();
        loop {
            let mut line = String::new();
            io.1.read_line(&mut line).unwrap();
            let line = line.trim_end();
            if line == "end" || line.is_empty() {
                return out;
            }
            out.push(
                (0..line.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(&line[i..i + 2], 16).unwrap())
                    .collect(),
            );
        }
    }

    /// (calls, faulted calls).
    pub fn calls(&self) -> (u64, u64) {
        let l = self.cmd("calls");
        let mut w = l.split(' ').map(|x| x.parse::<u64>().unwrap());
        (w.next().unwrap(), w.next().unwrap())
    }
}

impl Drop for GrpcSink {
    fn drop(&mut self) {
        if let Ok(mut io) = self.io.lock() {
            let _ = writeln!(io.0, "quit");
            let _ = io.0.flush();
        }
        std::thread::sleep(Duration::from_millis(50));
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
