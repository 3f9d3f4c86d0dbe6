//! Shared helper of the peer tests that run the demo binary
//! (`FERROMETER_DEMO`) against a real peer: a clean `OTEL_*` environment,
//! the spawn, and a bounded wait with both output streams collected.

#![allow(dead_code)]

use std::io::Read;
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How the demo ended and what it printed.
pub struct DemoRun {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

/// Runs `demo` for 3 s (`--listen 127.0.0.1:0`) with every inherited
/// `OTEL_*` variable removed, then `OTEL_METRICS_EXPORTER=otlp`,
/// `OTEL_METRIC_EXPORT_INTERVAL=500` and `env` set; panics if it does not
/// stop within 30 s.
pub fn run_demo_against(demo: &Path, env: &[(&str, String)]) -> DemoRun {
    assert!(
        demo.is_file(),
        "FERROMETER_DEMO={} is not a file",
        demo.display()
    );
    let mut cmd = Command::new(demo);
    cmd.args(["--seconds", "3", "--listen", "127.0.0.1:0"]);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(&k);
        }
    }
    cmd.env("OTEL_METRICS_EXPORTER", "otlp");
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.env("OTEL_METRIC_EXPORT_INTERVAL", "500")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {}: {e}", demo.display()));
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_thread = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the demo did not stop within 30 s");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    DemoRun {
        status,
        stdout: out_thread.join().unwrap(),
        stderr: err_thread.join().unwrap(),
    }
}
