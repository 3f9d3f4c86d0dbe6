//! Shared helpers of the tests that run the demo binary (`FERROMETER_DEMO`)
//! against a real peer built from source: the peer binary (from an
//! environment variable or a build script), a temporary directory, a free
//! loopback port, and the demo run itself (a clean `OTEL_*` environment,
//! the spawn, and a bounded wait with both output streams collected).

#![allow(dead_code)]

use std::ffi::OsString;
use std::io::Read;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The peer binary: the file named by `env_var` if set, else the path
/// printed last by `script` (relative to the crate root), which builds it
/// or finds it in a cache. A failed build panics with `failure` after
/// `building {what} failed ({status}; its output is above). `.
pub fn peer_binary(env_var: &str, script: &str, what: &str, failure: &str) -> PathBuf {
    if let Some(p) = std::env::var_os(env_var) {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "{env_var}={} is not a file", p.display());
        return p;
    }
    let script_path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
    let started = Instant::now();
    let out = Command::new("bash")
        .arg(&script_path)
        .stdin(Stdio::null())
        .stderr(Stdio::inherit())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", script_path.display()));
    assert!(
        out.status.success(),
        "building {what} failed ({}; its output is above). {failure}",
        out.status
    );
    let path = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let path = PathBuf::from(path.lines().last().unwrap_or_default());
    assert!(
        path.is_file(),
        "{script} printed no binary path: {:?}",
        String::from_utf8_lossy(&out.stdout)
    );
    eprintln!(
        "{what}: {} (ready in {:.1}s)",
        path.display(),
        started.elapsed().as_secs_f64()
    );
    path
}

/// A temporary directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    /// A new directory `{prefix}-{pid}-{nanos}` under the system's temp dir.
    pub fn new(prefix: &str) -> Self {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let p = std::env::temp_dir().join(format!("{prefix}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A peer process started by [`start_peer`]; killed (and reaped) on drop,
/// panics included.
pub struct Peer {
    pub child: Child,
    /// The loopback port it serves on.
    pub port: u16,
    /// Which attempt started it (0, 1 or 2).
    pub attempt: u32,
    /// Its stdout and stderr.
    pub log: PathBuf,
}

impl Drop for Peer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Peer {
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Starts the peer `bin` (called `what` in messages) on a free loopback
/// port with the arguments `args(attempt, port)`, its output in
/// `dir/{log_name}-{attempt}.log`, and waits until `ready(port)` (polling
/// every 50 ms, `timeout` at most, else panics with its log). When the
/// process exits first (it lost the race for the port it was given) it
/// is started again on another port, three attempts in all.
pub fn start_peer(
    what: &str,
    bin: &Path,
    dir: &Path,
    log_name: &str,
    timeout: Duration,
    mut args: impl FnMut(u32, u16) -> Vec<OsString>,
    ready: impl Fn(u16) -> bool,
) -> Peer {
    let mut last_log = String::new();
    for attempt in 0..3 {
        let port = free_port();
        let log = dir.join(format!("{log_name}-{attempt}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args(attempt, port))
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", bin.display()));
        let mut peer = Peer {
            child,
            port,
            attempt,
            log,
        };
        let deadline = Instant::now() + timeout;
        loop {
            if ready(port) {
                return peer;
            }
            if let Ok(Some(status)) = peer.child.try_wait() {
                last_log = peer.log_text();
                eprintln!("{what} exited ({status}) on port {port}; retrying");
                break;
            }
            assert!(
                Instant::now() < deadline,
                "{what} was not ready on 127.0.0.1:{port} within {timeout:?}; its log:\n{}",
                peer.log_text()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    panic!("{what} failed to start three times; last log:\n{last_log}");
}

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
    let mut env: Vec<(&str, String)> = env.to_vec();
    env.insert(0, ("OTEL_METRICS_EXPORTER", "otlp".into()));
    env.push(("OTEL_METRIC_EXPORT_INTERVAL", "500".into()));
    run_demo_with(demo, &[], &env)
}

/// Runs `demo` for 3 s (`--listen 127.0.0.1:0`) with `args` added, every
/// inherited `OTEL_*` variable removed and `env` set; panics if it does
/// not stop within 30 s.
pub fn run_demo_with(demo: &Path, args: &[&str], env: &[(&str, String)]) -> DemoRun {
    assert!(
        demo.is_file(),
        "FERROMETER_DEMO={} is not a file",
        demo.display()
    );
    let mut cmd = Command::new(demo);
    cmd.args(["--seconds", "3", "--listen", "127.0.0.1:0"]);
    cmd.args(args);
    for (k, _) in std::env::vars_os() {
        if k.to_string_lossy().starts_with("OTEL_") {
            cmd.env_remove(&k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(Stdio::null())
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
