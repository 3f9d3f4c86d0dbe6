//! Shared helpers of the tests that run a real Prometheus (Debian's 2.42
//! or Prometheus 3) on a free loopback port: start it and wait until it is
//! ready, talk to its HTTP API, read its own request counters, query it
//! with PromQL, and poll a set of queries until they hold.
//!
//! A test that includes this module also includes `mod demo_support;`
//! and `mod http_support;` (it uses their `start_peer`, `peer_binary`,
//! `http_get` and `encode_query`).

#![allow(dead_code)]

use crate::demo_support::{peer_binary, start_peer, Peer};
use crate::http_support::{encode_query, http_get};
use serde_json::Value as Json;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long Prometheus may take to answer `/-/ready`.
pub const START_TIMEOUT: Duration = Duration::from_secs(60);

/// `prometheus.yml` with no scrape jobs (for receivers: remote write,
/// OTLP).
pub const NO_SCRAPES: &str = "global:\n  scrape_interval: 1h\n";

/// The Prometheus 3 binary: `FERROMETER_PROMETHEUS3`, else built (or
/// found in the cache) by scripts/build-prometheus3.sh.
pub fn prometheus3_binary() -> PathBuf {
    peer_binary(
        "FERROMETER_PROMETHEUS3",
        "scripts/build-prometheus3.sh",
        "Prometheus 3",
        "It is built with Go \
         (go install github.com/prometheus/prometheus/cmd/prometheus@v0.316.0): install Go \
         with access to the Go module proxy, or set FERROMETER_PROMETHEUS3 to a Prometheus 3 binary.",
    )
}

/// The binary `bin` on PATH; panics naming the Debian package otherwise.
pub fn need(bin: &str) -> PathBuf {
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

/// A running Prometheus; killed (and reaped) on drop, panics included.
pub struct Prometheus {
    peer: Peer,
    pub port: u16,
}

impl Prometheus {
    /// Starts `bin` with `config` (written to `dir/prometheus.yml`), its
    /// data and log in `dir`, the extra command-line `flags`, on a free
    /// loopback port; retries with another port if it loses the race for
    /// the one picked, and returns once `/-/ready` answers 200.
    pub fn start(bin: &Path, dir: &Path, config: &str, flags: &[&str]) -> Prometheus {
        let config_path = dir.join("prometheus.yml");
        std::fs::write(&config_path, config).unwrap();
        let args = |attempt: u32, port: u16| {
            let mut a: Vec<OsString> = vec![
                format!("--config.file={}", config_path.display()).into(),
                format!(
                    "--storage.tsdb.path={}",
                    dir.join(format!("data-{attempt}")).display()
                )
                .into(),
                format!("--web.listen-address=127.0.0.1:{port}").into(),
            ];
            a.extend(flags.iter().map(OsString::from));
            a
        };
        let ready = |port: u16| {
            http_get(SocketAddr::from(([127, 0, 0, 1], port)), "/-/ready")
                .is_some_and(|(code, _)| code == 200)
        };
        let peer = start_peer(
            "Prometheus",
            bin,
            dir,
            "prometheus",
            START_TIMEOUT,
            args,
            ready,
        );
        Prometheus {
            port: peer.port,
            peer,
        }
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn log_text(&self) -> String {
        self.peer.log_text()
    }

    /// The last `n` lines of the log, newest first.
    pub fn log_tail(&self, n: usize) -> String {
        let log = self.log_text();
        log.lines().rev().take(n).collect::<Vec<_>>().join("\n")
    }

    /// A GET on the HTTP API: (status, body), None when unreachable.
    pub fn get(&self, path_and_query: &str) -> Option<(u16, String)> {
        http_get(self.addr(), path_and_query)
    }

    /// The requests the handler `handler` answered, by status code
    /// (`prometheus_http_requests_total` of Prometheus' own metrics).
    pub fn answers(&self, handler: &str) -> Vec<(u16, f64)> {
        let (_, text) = self.get("/metrics").expect("Prometheus /metrics");
        text.lines()
            .filter(|l| {
                l.starts_with("prometheus_http_requests_total{")
                    && l.contains(&format!("handler=\"{handler}\""))
            })
            .map(|l| {
                let code = l
                    .split("code=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .and_then(|c| c.parse().ok())
                    .unwrap_or(0);
                (code, l.rsplit(' ').next().unwrap().parse().unwrap())
            })
            .collect()
    }

    /// The single value an instant PromQL query returns (None for no
    /// series); panics on an error answer or several series.
    pub fn query(&self, promql: &str) -> Option<f64> {
        let (code, body) = self.get(&format!("/api/v1/query?query={}", encode_query(promql)))?;
        assert_eq!(code, 200, "query {promql}: {body}");
        let v: Json = serde_json::from_str(&body).unwrap();
        let result = v["data"]["result"].as_array()?;
        assert!(
            result.len() <= 1,
            "query {promql} returned several series: {body}"
        );
        result.first()?["value"][1].as_str()?.parse().ok()
    }

    /// Polls an instant query until it returns `want` (fresh samples can
    /// take a moment to be queryable), 20 s at most.
    pub fn expect_value(&self, promql: &str, want: f64) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.query(promql);
            if got == Some(want) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "PromQL {promql} = {got:?}, want {want}\nPrometheus log:\n{}",
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Checks that PromQL returns the totals the demo (`FERROMETER_DEMO`)
    /// printed in `out` for its job `ferrometer-demo`: ticks, entity
    /// updates, events, players online and frames (the histogram count).
    /// Returns the ticks.
    pub fn expect_demo_totals(&self, out: &str) -> f64 {
        let ticks = demo_total(out, "ticks ");
        assert!(ticks > 0.0, "the demo ran no tick:\n{out}");
        let job = "job=\"ferrometer-demo\"";
        self.expect_value(&format!("sum(game_ticks_total{{{job}}})"), ticks);
        for (metric, label) in [
            ("game_entity_updates_total", "entity updates "),
            ("game_events_total", "events "),
            ("game_players_online", "players online "),
            ("game_frame_duration_milliseconds_count", "frames "),
        ] {
            self.expect_value(&format!("sum({metric}{{{job}}})"), demo_total(out, label));
        }
        ticks
    }

    /// The value of an instant query's first series as Prometheus writes
    /// it, if the query succeeds and has one.
    pub fn first_value(&self, q: &str) -> Option<String> {
        let (status, body) = self.get(&format!("/api/v1/query?query={}", encode_query(q)))?;
        if status != 200 {
            return None;
        }
        let i = body.find("\"value\":[")?;
        let rest = &body[i + 9..];
        let rest = &rest[rest.find(',')? + 1..];
        let rest = rest.strip_prefix('"')?;
        Some(rest[..rest.find('"')?].to_owned())
    }
}

/// The SDK's total the demo printed on its line starting with `label`
/// (`  ticks           150 / 150`: the first number).
pub fn demo_total(out: &str, label: &str) -> f64 {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(label))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no '{label}' total in the demo's output:\n{out}"))
}

/// Runs `bin` with `config` (data and log in `dir`) until every query of
/// `want` returns its value (an empty value: any value), polling every
/// 500 ms for 60 s at most; panics with the last 30 log lines otherwise.
pub fn scrape_until(bin: &Path, dir: &Path, config: &str, want: &[(&str, &str)]) {
    let prom = Prometheus::start(bin, dir, config, &[]);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut missing = Vec::new();
    while Instant::now() < deadline {
        missing.clear();
        for (q, v) in want {
            match prom.first_value(q) {
                Some(got) if v.is_empty() || got == *v => {}
                got => missing.push(format!("{q} = {got:?}, want {v:?}")),
            }
        }
        if missing.is_empty() {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(
        missing.is_empty(),
        "Prometheus ({}) did not report:\n{}\n--- log ---\n{}",
        bin.display(),
        missing.join("\n"),
        prom.log_tail(30)
    );
}
