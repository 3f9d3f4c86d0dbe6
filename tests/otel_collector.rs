//! The OTLP/HTTP exporter against a real OpenTelemetry Collector.
//!
//! The collector is built from Go modules with the collector builder
//! (`scripts/build-otelcol.sh`, manifest `tests/collector/builder-config.yaml`:
//! the `otlp` receiver, the contrib `file` exporter and the core `debug`
//! exporter) and cached per
//! manifest hash under `${FERROMETER_CACHE:-$HOME/.cache/ferrometer}`; set
//! `FERROMETER_OTELCOL=/path/to/otelcol` to use another binary. The test
//! starts it on a free 127.0.0.1 port with `tests/collector/otelcol-config.yaml`,
//! pushes metrics of every instrument kind (and an exponential histogram
//! from a host producer), and reads back what the collector wrote as
//! OTLP/JSON lines:
//!
//! 1. cumulative, protobuf, through a `PeriodicReader` (+ `force_flush`);
//! 2. delta, OTLP/JSON body, gzip, through `export()` on `ManualReader`
//!    snapshots (two rounds);
//! 3. the C++ demo (`FERROMETER_DEMO=/path/to/ferrometer_demo`) with
//!    `OTEL_METRICS_EXPORTER=otlp` for 3 seconds: its totals arrive.
//!
//! With the feature `otlp-grpc`, `a_real_collector_receives_grpc` does the
//! same over OTLP/gRPC (the collector's gRPC receiver), with gzip and
//! without, and runs a demo built with the option
//! (`FERROMETER_DEMO_GRPC`) with `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`. Its
//! collector also feeds the core `debug` exporter (verbosity: detailed),
//! whose printout in the collector's log is parsed: the final export's
//! metrics must show the same points and values as the file exporter's,
//! and the recorded (or the demo's printed) final values, number by number.
//!
//! Needs Go (to build the collector once). Without Go, or when the build
//! fails, the test FAILS with the builder's message.

use ferrometer::export::otlp::{Compression, OtlpHttpExporter, Protocol};
use ferrometer::export::PushExporter;
use ferrometer::producer::{ExponentialHistogramValue, PointKind, ProducedMetric, ProducerBatch};
use ferrometer::{
    InstrumentationScope, KeyValue, ManualReader, MeterProvider, PeriodicReader, Resource,
    Temporality, TemporalityPreference,
};
use serde_json::Value as Json;
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod demo_support;

use demo_support::{peer_binary, run_demo_against, start_peer, DemoRun, Peer, TempDir};

/// Whether the final export at shutdown must carry the observable
/// instruments' values (see the check in the test); false while the SDK
/// drops them.
const FINAL_EXPORT_HAS_OBSERVABLES: bool = true;
/// How long the collector may take to start listening.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long we wait for pushed metrics to show up in the collector's output.
const ARRIVAL_TIMEOUT: Duration = Duration::from_secs(30);

// ------------------------------------------------------------ the collector

/// The collector binary: `FERROMETER_OTELCOL`, else built (or found in the
/// cache) by scripts/build-otelcol.sh.
fn collector_binary() -> PathBuf {
    peer_binary(
        "FERROMETER_OTELCOL",
        "scripts/build-otelcol.sh",
        "the OpenTelemetry Collector",
        "The collector is built with Go from tests/collector/builder-config.yaml: \
         install Go (https://go.dev) with access to the Go module proxy, \
         or set FERROMETER_OTELCOL to a collector binary with the otlp receiver \
         and the file exporter.",
    )
}

/// A running collector; killed (and reaped) on drop, panics included.
struct Collector {
    peer: Peer,
    output: PathBuf,
    /// Its OTLP/gRPC receiver's port.
    #[cfg_attr(not(feature = "otlp-grpc"), allow(dead_code))]
    grpc_port: u16,
}

impl Collector {
    /// Starts the collector on a free loopback port (retrying with another
    /// port if it loses the race for the one picked), its pipeline feeding
    /// the file exporter and, with `debug`, the debug exporter too (its
    /// detailed output goes to the collector's log, see [`Collector::printed`]).
    fn start(bin: &Path, dir: &Path, debug: bool) -> Collector {
        let template = std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/collector/otelcol-config.yaml"),
        )
        .expect("tests/collector/otelcol-config.yaml");
        let output = |attempt: u32| dir.join(format!("metrics-{attempt}.jsonl"));
        // The gRPC receiver's port, per attempt (a lost race for it fails
        // the attempt, and the next one picks other ports).
        let grpc_ports = std::cell::RefCell::new(Vec::new());
        let args = |attempt: u32, port: u16| {
            let config = dir.join(format!("config-{attempt}.yaml"));
            let grpc_port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            grpc_ports.borrow_mut().push(grpc_port);
            let text = template
                .replace("@ENDPOINT@", &format!("127.0.0.1:{port}"))
                .replace("@GRPC_ENDPOINT@", &format!("127.0.0.1:{grpc_port}"))
                .replace("@OUTPUT@", &output(attempt).to_string_lossy())
                .replace("@EXPORTERS@", if debug { "file, debug" } else { "file" });
            std::fs::write(&config, text).unwrap();
            vec!["--config".into(), config.into_os_string()]
        };
        let ready = |port: u16| TcpStream::connect(("127.0.0.1", port)).is_ok();
        let peer = start_peer(
            "the collector",
            bin,
            dir,
            "collector",
            START_TIMEOUT,
            args,
            ready,
        );
        let grpc_port = grpc_ports.borrow()[peer.attempt as usize];
        Collector {
            output: output(peer.attempt),
            grpc_port,
            peer,
        }
    }

    /// The OTLP/gRPC receiver's URL.
    #[cfg_attr(not(feature = "otlp-grpc"), allow(dead_code))]
    fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.peer.port)
    }

    fn log_text(&self) -> String {
        self.peer.log_text()
    }

    /// Every metric the collector wrote for the resource whose
    /// `service.name` is `service`, in arrival order.
    fn metrics_of(&self, service: &str) -> Vec<Received> {
        let text = std::fs::read_to_string(&self.output).unwrap_or_default();
        let mut out = Vec::new();
        // The last line may be half written: only complete lines count.
        let complete = match text.rfind('\n') {
            Some(i) => &text[..i],
            None => "",
        };
        for (line_no, line) in complete.lines().enumerate() {
            if line.trim().is_empty() {
                continue;
            }
            let req: Json = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("collector output line {line_no} is not JSON ({e}): {line}")
            });
            for rm in req["resourceMetrics"].as_array().into_iter().flatten() {
                let resource = attrs(&rm["resource"]);
                if resource.get("service.name").map(String::as_str) != Some(service) {
                    continue;
                }
                for sm in rm["scopeMetrics"].as_array().into_iter().flatten() {
                    for m in sm["metrics"].as_array().into_iter().flatten() {
                        out.push(Received {
                            request: line_no,
                            resource: resource.clone(),
                            scope: sm["scope"].clone(),
                            metric: m.clone(),
                        });
                    }
                }
            }
        }
        out
    }

    /// Polls the output until `check` passes on the metrics of `service`
    /// (returning what it found), or fails with the last complaint.
    fn wait_for<T>(
        &self,
        service: &str,
        what: &str,
        mut check: impl FnMut(&[Received]) -> Result<T, String>,
    ) -> T {
        let deadline = Instant::now() + ARRIVAL_TIMEOUT;
        loop {
            let got = self.metrics_of(service);
            match check(&got) {
                Ok(v) => return v,
                Err(why) if Instant::now() > deadline => {
                    let mut names: Vec<&str> = got.iter().map(Received::name).collect();
                    names.sort_unstable();
                    names.dedup();
                    let requests = got.last().map_or(0, |r| r.request + 1);
                    panic!(
                        "{what}: not seen in the collector's output within {ARRIVAL_TIMEOUT:?}: {why}\n\
                         metrics received for service.name={service} (last in request #{requests}): {names:?}\n\
                         collector log:\n{}",
                        self.log_text()
                    );
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

// ------------------------------------------------------- the OTLP/JSON output

/// One metric as the collector wrote it.
#[derive(Clone, Debug)]
struct Received {
    /// Line (= export request, in arrival order) it came in.
    request: usize,
    resource: BTreeMap<String, String>,
    scope: Json,
    metric: Json,
}

impl Received {
    fn name(&self) -> &str {
        self.metric["name"].as_str().unwrap_or_default()
    }

    /// "sum", "gauge" or "histogram" (whichever is present) and its body.
    fn data(&self) -> (&'static str, &Json) {
        for kind in [
            "sum",
            "gauge",
            "histogram",
            "exponentialHistogram",
            "summary",
        ] {
            if let Some(d) = self.metric.get(kind) {
                return (kind, d);
            }
        }
        ("none", &Json::Null)
    }

    fn points(&self) -> Vec<&Json> {
        self.data().1["dataPoints"]
            .as_array()
            .map(|a| a.iter().collect())
            .unwrap_or_default()
    }

    /// The point whose attributes are exactly `want`.
    fn point(&self, want: &[(&str, &str)]) -> Result<&Json, String> {
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.points()
            .into_iter()
            .find(|p| attrs(p) == want)
            .ok_or_else(|| format!("{}: no point with attributes {want:?}", self.name()))
    }

    /// Sum of the values of all points (number points only).
    fn total(&self) -> f64 {
        self.points().into_iter().map(number).sum()
    }
}

/// The last occurrence of metric `name` (the latest export carrying it).
fn latest<'a>(got: &'a [Received], name: &str) -> Result<&'a Received, String> {
    got.iter()
        .rev()
        .find(|r| r.name() == name)
        .ok_or_else(|| format!("metric {name} not received yet"))
}

/// Attributes of a resource or point as strings (OTLP/JSON `AnyValue`).
fn attrs(v: &Json) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for kv in v["attributes"].as_array().into_iter().flatten() {
        let key = kv["key"].as_str().unwrap_or_default().to_owned();
        let val = &kv["value"];
        let s = if let Some(s) = val["stringValue"].as_str() {
            s.to_owned()
        } else if let Some(x) = val.get("intValue") {
            json_num(x).to_string()
        } else if let Some(x) = val.get("doubleValue") {
            json_num(x).to_string()
        } else if let Some(b) = val["boolValue"].as_bool() {
            b.to_string()
        } else {
            val.to_string()
        };
        out.insert(key, s);
    }
    out
}

/// A JSON number, or an integer encoded as a string (OTLP/JSON int64).
fn json_num(v: &Json) -> f64 {
    match v {
        Json::Number(n) => n.as_f64().unwrap(),
        Json::String(s) => s.parse().unwrap_or_else(|_| panic!("not a number: {s:?}")),
        other => panic!("not a number: {other}"),
    }
}

/// The value of a number point (`asInt` or `asDouble`).
fn number(p: &Json) -> f64 {
    match (p.get("asInt"), p.get("asDouble")) {
        (Some(i), _) => json_num(i),
        (None, Some(d)) => json_num(d),
        // OTLP/JSON omits zero values.
        (None, None) => 0.0,
    }
}

fn field(p: &Json, name: &str) -> f64 {
    p.get(name).map(json_num).unwrap_or(0.0)
}

fn int_array(v: &Json) -> Vec<u64> {
    v.as_array()
        .into_iter()
        .flatten()
        .map(|x| json_num(x) as u64)
        .collect()
}

fn expect(cond: bool, msg: impl FnOnce() -> String) -> Result<(), String> {
    if cond {
        Ok(())
    } else {
        Err(msg())
    }
}

fn expect_eq(got: f64, want: f64, what: &str) -> Result<(), String> {
    expect((got - want).abs() <= 1e-9 * want.abs().max(1.0), || {
        format!("{what} = {got}, want {want}")
    })
}

/// Checks a sum's temporality (1 delta, 2 cumulative) and monotonicity.
fn expect_sum(r: &Received, temporality: i64, monotonic: bool) -> Result<(), String> {
    let (kind, d) = r.data();
    expect(kind == "sum", || format!("{}: {kind}, want sum", r.name()))?;
    expect(
        d["aggregationTemporality"].as_i64() == Some(temporality),
        || {
            format!(
                "{}: aggregationTemporality {}",
                r.name(),
                d["aggregationTemporality"]
            )
        },
    )?;
    expect(
        d["isMonotonic"].as_bool().unwrap_or(false) == monotonic,
        || format!("{}: isMonotonic {}", r.name(), d["isMonotonic"]),
    )
}

// ------------------------------------------- the debug exporter's output

/// The fields of one data point as the debug exporter prints them
/// (`Value`, `Count`, `Sum`, `Min`, `Max`, `Buckets #j`), by name.
type PrintedFields = BTreeMap<String, f64>;
/// A metric's data points: attributes -> fields.
type PrintedPoints = BTreeMap<BTreeMap<String, String>, PrintedFields>;

/// One metric as the debug exporter (verbosity: detailed) printed it.
#[derive(Clone, Debug)]
struct Printed {
    /// Which printed export (`ResourceMetrics #0` entry) it came in.
    request: usize,
    resource: BTreeMap<String, String>,
    name: String,
    /// `Sum`, `Gauge`, `Histogram`, `ExponentialHistogram`.
    data_type: String,
    points: PrintedPoints,
}

impl Printed {
    /// Field `field` of the point whose attributes are exactly `want`.
    #[cfg_attr(not(feature = "otlp-grpc"), allow(dead_code))]
    fn field(&self, want: &[(&str, &str)], field: &str) -> Result<f64, String> {
        let want: BTreeMap<String, String> = want
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let p = self.points.get(&want).ok_or_else(|| {
            format!(
                "debug exporter: {}: no point with attributes {want:?} in {:?}",
                self.name, self.points
            )
        })?;
        p.get(field)
            .copied()
            .ok_or_else(|| format!("debug exporter: {}{want:?}: no {field} in {p:?}", self.name))
    }

    /// Sum of the `Value`s of all points.
    fn total(&self) -> f64 {
        self.points.values().filter_map(|p| p.get("Value")).sum()
    }
}

/// An attribute as printed: `key: Str(value)` (also `Int(..)`,
/// `Double(..)`, `Bool(..)`) after the ` -> ` prefix.
fn printed_attr(rest: &str) -> Option<(String, String)> {
    let (key, value) = rest.split_once(": ")?;
    let open = value.find('(')?;
    let inner = value[open + 1..].strip_suffix(')')?;
    Some((key.to_owned(), inner.to_owned()))
}

/// Parses the debug exporter's detailed output out of the collector's log
/// (other log lines are skipped), in print order.
fn parse_printed(log: &str) -> Vec<Printed> {
    #[derive(PartialEq)]
    enum In {
        Other,
        Resource,
        Descriptor,
        PointAttrs,
        Point,
    }
    let mut out: Vec<Printed> = Vec::new();
    let mut request = 0usize;
    let mut resource = BTreeMap::new();
    let mut metric: Option<Printed> = None;
    let mut point: Option<(BTreeMap<String, String>, PrintedFields)> = None;
    let mut state = In::Other;
    // Closes the open point, then (with `metric_too`) the open metric.
    fn close(
        out: &mut Vec<Printed>,
        metric: &mut Option<Printed>,
        point: &mut Option<(BTreeMap<String, String>, PrintedFields)>,
        metric_too: bool,
    ) {
        if let (Some(m), Some((attrs, fields))) = (metric.as_mut(), point.take()) {
            m.points.insert(attrs, fields);
        }
        if metric_too {
            out.extend(metric.take());
        }
    }
    for line in log.lines() {
        let line = line.trim_start_matches('\t').trim_end();
        let arrow = line.trim_start().strip_prefix("-> ");
        let number = |label: &str| -> Option<f64> { line.strip_prefix(label)?.trim().parse().ok() };
        if let Some(n) = line.strip_prefix("ResourceMetrics #") {
            close(&mut out, &mut metric, &mut point, true);
            if n == "0" {
                request += 1;
            }
            resource = BTreeMap::new();
            state = In::Other;
        } else if line == "Resource attributes:" {
            state = In::Resource;
        } else if line.starts_with("ScopeMetrics #") {
            close(&mut out, &mut metric, &mut point, true);
            state = In::Other;
        } else if line.starts_with("Metric #") {
            close(&mut out, &mut metric, &mut point, true);
            metric = Some(Printed {
                request,
                resource: resource.clone(),
                name: String::new(),
                data_type: String::new(),
                points: BTreeMap::new(),
            });
            state = In::Descriptor;
        } else if line.starts_with("NumberDataPoints #")
            || line.starts_with("HistogramDataPoints #")
            || line.starts_with("ExponentialHistogramDataPoints #")
        {
            close(&mut out, &mut metric, &mut point, false);
            point = Some((BTreeMap::new(), BTreeMap::new()));
            state = In::Point;
        } else if line == "Data point attributes:" && point.is_some() {
            state = In::PointAttrs;
        } else if line == "Exemplars:" {
            state = In::Other;
        } else if let Some(rest) = arrow {
            match state {
                In::Resource => resource.extend(printed_attr(rest)),
                In::PointAttrs => {
                    if let (Some((attrs, _)), Some(kv)) = (point.as_mut(), printed_attr(rest)) {
                        attrs.extend([kv]);
                    }
                }
                In::Descriptor => {
                    if let (Some(m), Some((k, v))) = (metric.as_mut(), rest.split_once(": ")) {
                        match k {
                            "Name" => m.name = v.to_owned(),
                            "DataType" => m.data_type = v.to_owned(),
                            _ => {}
                        }
                    }
                }
                In::Other | In::Point => {}
            }
        } else if let Some((_, fields)) = point.as_mut() {
            state = In::Point;
            for label in ["Value", "Count", "Sum", "Min", "Max"] {
                if let Some(v) = number(&format!("{label}: ")) {
                    fields.insert(label.to_owned(), v);
                }
            }
            // "Buckets #2, Count: 1"
            if let Some((j, n)) = line
                .strip_prefix("Buckets #")
                .and_then(|r| r.split_once(", Count: "))
            {
                if let Ok(n) = n.parse() {
                    fields.insert(format!("Buckets #{j}"), n);
                }
            }
        }
    }
    close(&mut out, &mut metric, &mut point, true);
    out
}

/// What the debug exporter would print for a metric the file exporter
/// wrote: the same fields, doubles rounded as its `%f` (6 decimals) rounds
/// them.
fn printed_form(r: &Received) -> PrintedPoints {
    let six = |v: f64| -> f64 { format!("{v:.6}").parse().unwrap() };
    let mut out = BTreeMap::new();
    for p in r.points() {
        let mut fields = BTreeMap::new();
        match r.data().0 {
            "sum" | "gauge" => {
                let v = number(p);
                fields.insert(
                    "Value".to_owned(),
                    if p.get("asDouble").is_some() {
                        six(v)
                    } else {
                        v
                    },
                );
            }
            _ => {
                fields.insert("Count".to_owned(), field(p, "count"));
                for (json, label) in [("sum", "Sum"), ("min", "Min"), ("max", "Max")] {
                    if p.get(json).is_some() {
                        fields.insert(label.to_owned(), six(field(p, json)));
                    }
                }
                for (j, n) in int_array(&p["bucketCounts"]).into_iter().enumerate() {
                    fields.insert(format!("Buckets #{j}"), n as f64);
                }
            }
        }
        out.insert(attrs(p), fields);
    }
    out
}

impl Collector {
    /// Every metric the debug exporter printed for `service.name` =
    /// `service`, in print order.
    fn printed(&self, service: &str) -> Vec<Printed> {
        parse_printed(&self.log_text())
            .into_iter()
            .filter(|m| m.resource.get("service.name").map(String::as_str) == Some(service))
            .collect()
    }

    /// Waits until the debug exporter's latest print of every metric in
    /// the file exporter's last export for `service` (read again on each
    /// try: the exports are over, both exporters converge on the final
    /// one) shows the same data points with the same values, and `check`
    /// passes on what it printed; panics with both views otherwise.
    fn wait_for_printed(
        &self,
        service: &str,
        mut check: impl FnMut(&[Printed]) -> Result<(), String>,
    ) {
        let deadline = Instant::now() + ARRIVAL_TIMEOUT;
        loop {
            let printed = self.printed(service);
            let got = self.metrics_of(service);
            let last_request = got.last().map(|r| r.request);
            let last: Vec<&Received> = got
                .iter()
                .filter(|r| Some(r.request) == last_request)
                .collect();
            let verdict = expect(!last.is_empty(), || "no export in the file yet".into())
                .and_then(|()| last.iter().try_for_each(|r| {
                    let p = printed
                        .iter()
                        .rev()
                        .find(|p| p.name == r.name())
                        .ok_or_else(|| format!("debug exporter: {} not printed yet", r.name()))?;
                    let want = printed_form(r);
                    expect(p.points == want, || {
                        format!(
                            "{}: the debug exporter printed {:?} (export #{}), the file exporter wrote {want:?}",
                            r.name(),
                            p.points,
                            p.request
                        )
                    })
                }))
                .and_then(|()| check(&printed));
            match verdict {
                Ok(()) => return,
                Err(why) if Instant::now() > deadline => panic!(
                    "{service}: the debug exporter's output does not show the final values \
                     within {ARRIVAL_TIMEOUT:?}: {why}\ncollector log:\n{}",
                    self.log_text()
                ),
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
    }
}

/// The debug exporter's latest print of metric `name`.
fn latest_printed<'a>(printed: &'a [Printed], name: &str) -> Result<&'a Printed, String> {
    printed
        .iter()
        .rev()
        .find(|p| p.name == name)
        .ok_or_else(|| format!("debug exporter: {name} not printed yet"))
}

// ------------------------------------------------------------ what we record

/// A provider with every instrument kind and its expected values.
struct Recorded {
    provider: MeterProvider,
    counter: ferrometer::Counter<u64>,
    fcounter: ferrometer::Counter<f64>,
    updown: ferrometer::UpDownCounter<i64>,
    histogram: ferrometer::Histogram<f64>,
    gauge: ferrometer::Gauge<i64>,
    _load: ferrometer::ObservableGauge<f64>,
}

const SCOPE: &str = "ferrometer.otelcol.test";

/// The exponential histogram point the producer supplies: 2 zeros, 5
/// positive and 3 negative measurements at scale -2 (base 16).
const EXP_VALUE: ExponentialHistogramValue<'static> = ExponentialHistogramValue {
    scale: -2,
    count: 10,
    sum: 4100.5,
    min_max: Some((-40.0, 3000.0)),
    zero_count: 2,
    zero_threshold: 0.0,
    positive_offset: -1,
    positive_counts: &[1, 0, 3, 1],
    negative_offset: 1,
    negative_counts: &[3],
};

fn provider(service: &str, reader: impl ferrometer::MetricReader) -> Recorded {
    let provider = MeterProvider::builder()
        .with_resource(Resource::new([
            KeyValue::new("service.name", service.to_owned()),
            KeyValue::new("test.run", i64::from(std::process::id())),
        ]))
        .with_reader(reader)
        .build();
    let meter = provider.meter(SCOPE);
    let counter = meter
        .u64_counter("fm.requests")
        .with_unit("{request}")
        .with_description("Requests served")
        .build()
        .unwrap();
    let fcounter = meter
        .f64_counter("fm.bytes")
        .with_unit("By")
        .build()
        .unwrap();
    let updown = meter.i64_up_down_counter("fm.queue.size").build().unwrap();
    let histogram = meter
        .f64_histogram("fm.latency")
        .with_unit("ms")
        .with_boundaries(vec![1.0, 5.0, 10.0])
        .build()
        .unwrap();
    let gauge = meter.i64_gauge("fm.temperature").build().unwrap();
    let load = meter
        .f64_observable_gauge("fm.load")
        .with_callback(|g| {
            g.observe(0.75, &[KeyValue::new("cpu", "0")]);
            g.observe(1.5, &[KeyValue::new("cpu", "1")]);
        })
        .build()
        .unwrap();
    // An exponential histogram (both signs, a zero bucket, a negative
    // scale and offset), supplied by a host producer at every collection.
    let sizes = ProducedMetric::new(
        "fm.packet.size",
        PointKind::ExponentialHistogram {
            temporality: Temporality::Cumulative,
        },
    )
    .with_unit("By");
    let _ = provider.register_producer(
        InstrumentationScope::new(SCOPE),
        move |b: &mut ProducerBatch| {
            b.add_exponential_histogram(
                &sizes,
                &[KeyValue::new("if", "eth0")],
                &EXP_VALUE,
                0,
                1_700_000_000_000_000_000,
            )
        },
    );
    Recorded {
        provider,
        counter,
        fcounter,
        updown,
        histogram,
        gauge,
        _load: load,
    }
}

impl Recorded {
    fn round1(&self) {
        let a = [KeyValue::new("route", "/a")];
        let b = [KeyValue::new("route", "/b")];
        self.counter.add(3, &a);
        self.counter.add(4, &b);
        self.counter.add(2, &a);
        self.fcounter.add(1.5, &[]);
        self.fcounter.add(2.25, &[]);
        self.updown.add(10, &[KeyValue::new("queue", "x")]);
        self.updown.add(-3, &[KeyValue::new("queue", "x")]);
        let m = [KeyValue::new("method", "GET")];
        for v in [0.5, 2.0, 7.0, 20.0] {
            self.histogram.record(v, &m);
        }
        self.gauge.record(21, &[KeyValue::new("room", "lab")]);
        self.gauge.record(-4, &[KeyValue::new("room", "lab")]);
    }

    fn round2(&self) {
        self.counter.add(10, &[KeyValue::new("route", "/a")]);
        self.updown.add(-9, &[KeyValue::new("queue", "x")]);
        self.histogram
            .record(3.0, &[KeyValue::new("method", "GET")]);
        self.gauge.record(30, &[KeyValue::new("room", "lab")]);
    }
}

/// Checks round 1 (cumulative or delta: the same values) in `got`.
fn check_round1(got: &[Received], temporality: i64) -> Result<(), String> {
    let r = latest(got, "fm.requests")?;
    expect_sum(r, temporality, true)?;
    expect(r.metric["unit"] == "{request}", || {
        format!("fm.requests unit {}", r.metric["unit"])
    })?;
    expect(r.metric["description"] == "Requests served", || {
        format!("fm.requests description {}", r.metric["description"])
    })?;
    expect(r.scope["name"] == SCOPE, || format!("scope {}", r.scope))?;
    expect_eq(number(r.point(&[("route", "/a")])?), 5.0, "fm.requests{/a}")?;
    expect_eq(number(r.point(&[("route", "/b")])?), 4.0, "fm.requests{/b}")?;
    let p = r.point(&[("route", "/a")])?;
    expect(p.get("asInt").is_some(), || {
        format!("u64 counter not asInt: {p}")
    })?;
    expect(field(p, "startTimeUnixNano") > 0.0, || {
        format!("no start time: {p}")
    })?;
    expect(
        field(p, "timeUnixNano") >= field(p, "startTimeUnixNano"),
        || format!("time before start: {p}"),
    )?;

    let r = latest(got, "fm.bytes")?;
    expect_sum(r, temporality, true)?;
    let p = r.point(&[])?;
    expect(p.get("asDouble").is_some(), || {
        format!("f64 counter not asDouble: {p}")
    })?;
    expect_eq(number(p), 3.75, "fm.bytes")?;

    let r = latest(got, "fm.queue.size")?;
    expect_sum(r, 2, false)?; // up-down counters stay cumulative in both preferences
    expect_eq(number(r.point(&[("queue", "x")])?), 7.0, "fm.queue.size")?;

    let r = latest(got, "fm.latency")?;
    let (kind, d) = r.data();
    expect(kind == "histogram", || format!("fm.latency is {kind}"))?;
    expect(
        d["aggregationTemporality"].as_i64() == Some(temporality),
        || format!("fm.latency temporality {}", d["aggregationTemporality"]),
    )?;
    let p = r.point(&[("method", "GET")])?;
    expect_eq(field(p, "count"), 4.0, "fm.latency count")?;
    expect_eq(field(p, "sum"), 29.5, "fm.latency sum")?;
    expect_eq(field(p, "min"), 0.5, "fm.latency min")?;
    expect_eq(field(p, "max"), 20.0, "fm.latency max")?;
    expect(int_array(&p["bucketCounts"]) == [1, 1, 1, 1], || {
        format!("fm.latency bucketCounts {}", p["bucketCounts"])
    })?;
    let bounds: Vec<f64> = p["explicitBounds"]
        .as_array()
        .into_iter()
        .flatten()
        .map(json_num)
        .collect();
    expect(bounds == [1.0, 5.0, 10.0], || {
        format!("fm.latency explicitBounds {}", p["explicitBounds"])
    })?;
    expect(r.metric["unit"] == "ms", || {
        format!("fm.latency unit {}", r.metric["unit"])
    })?;

    let r = latest(got, "fm.temperature")?;
    expect(r.data().0 == "gauge", || {
        format!("fm.temperature is {}", r.data().0)
    })?;
    expect_eq(number(r.point(&[("room", "lab")])?), -4.0, "fm.temperature")?;

    check_exponential(got)?;
    check_load(got)
}

/// The producer's exponential histogram, field by field.
fn check_exponential(got: &[Received]) -> Result<(), String> {
    let r = latest(got, "fm.packet.size")?;
    let (kind, d) = r.data();
    expect(kind == "exponentialHistogram", || {
        format!("fm.packet.size is {kind}")
    })?;
    expect(d["aggregationTemporality"].as_i64() == Some(2), || {
        format!("fm.packet.size temporality {}", d["aggregationTemporality"])
    })?;
    expect(r.metric["unit"] == "By", || {
        format!("fm.packet.size unit {}", r.metric["unit"])
    })?;
    let p = r.point(&[("if", "eth0")])?;
    let v = EXP_VALUE;
    expect_eq(field(p, "scale"), f64::from(v.scale), "scale")?;
    expect_eq(field(p, "count"), v.count as f64, "count")?;
    expect_eq(field(p, "sum"), v.sum, "sum")?;
    expect_eq(field(p, "zeroCount"), v.zero_count as f64, "zeroCount")?;
    expect_eq(field(p, "min"), -40.0, "min")?;
    expect_eq(field(p, "max"), 3000.0, "max")?;
    expect_eq(field(p, "startTimeUnixNano"), 1.7e18, "startTimeUnixNano")?;
    for (range, offset, counts) in [
        ("positive", v.positive_offset, v.positive_counts),
        ("negative", v.negative_offset, v.negative_counts),
    ] {
        expect_eq(field(&p[range], "offset"), f64::from(offset), range)?;
        expect(int_array(&p[range]["bucketCounts"]) == counts, || {
            format!("{range} bucketCounts {}", p[range]["bucketCounts"])
        })?;
    }
    Ok(())
}

fn check_load(got: &[Received]) -> Result<(), String> {
    let r = latest(got, "fm.load")?;
    expect(r.data().0 == "gauge", || {
        format!("fm.load is {}", r.data().0)
    })?;
    expect_eq(number(r.point(&[("cpu", "0")])?), 0.75, "fm.load{cpu=0}")?;
    expect_eq(number(r.point(&[("cpu", "1")])?), 1.5, "fm.load{cpu=1}")
}

// ----------------------------------------------------------------- the test

#[test]
fn a_real_collector_receives_what_we_push() {
    let bin = collector_binary();
    let dir = TempDir::new("ferrometer-otelcol");
    let collector = Collector::start(&bin, &dir.0, false);
    let started = Instant::now();

    // 1. Cumulative, protobuf, through a periodic reader.
    let exporter = OtlpHttpExporter::builder()
        .without_env()
        .with_base_endpoint(collector.base_url())
        .with_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_millis(200))
        .with_timeout(Duration::from_secs(10))
        .build();
    let service = "ferrometer-otelcol-cumulative";
    let rec = provider(service, reader);
    rec.round1();
    rec.provider
        .force_flush(Duration::from_secs(10))
        .expect("force_flush to the collector");
    collector.wait_for(service, "cumulative export (periodic reader)", |got| {
        check_round1(got, 2)?;
        let r = latest(got, "fm.requests")?;
        expect(r.resource.contains_key("test.run"), || {
            format!("resource {:?}", r.resource)
        })
    });
    rec.round2();
    rec.provider
        .force_flush(Duration::from_secs(10))
        .expect("second force_flush");
    let round2 = collector.wait_for(service, "cumulative round 2", |got| {
        let r = latest(got, "fm.requests")?;
        let request = r.request;
        expect_eq(
            number(r.point(&[("route", "/a")])?),
            15.0,
            "fm.requests{/a}",
        )?;
        expect_eq(number(r.point(&[("route", "/b")])?), 4.0, "fm.requests{/b}")?;
        let r = latest(got, "fm.queue.size")?;
        expect_eq(number(r.point(&[("queue", "x")])?), -2.0, "fm.queue.size")?;
        let r = latest(got, "fm.latency")?;
        let p = r.point(&[("method", "GET")])?;
        expect_eq(field(p, "count"), 5.0, "fm.latency count")?;
        expect_eq(field(p, "sum"), 32.5, "fm.latency sum")?;
        expect(int_array(&p["bucketCounts"]) == [1, 2, 1, 1], || {
            format!("fm.latency bucketCounts {}", p["bucketCounts"])
        })?;
        let r = latest(got, "fm.temperature")?;
        expect_eq(number(r.point(&[("room", "lab")])?), 30.0, "fm.temperature")?;
        check_load(got)?;
        Ok(request)
    });
    rec.provider
        .shutdown_with_timeout(Duration::from_secs(10))
        .expect("shutdown");
    // Shutdown's final export arrives with the last values.
    let fin = collector.wait_for(service, "the final export at shutdown", |got| {
        let r = latest(got, "fm.requests")?;
        expect(r.request > round2, || {
            format!("no export after request #{round2} yet")
        })?;
        expect_eq(
            number(r.point(&[("route", "/a")])?),
            15.0,
            "fm.requests{/a}",
        )?;
        let last: Vec<Received> = got
            .iter()
            .filter(|m| m.request == r.request)
            .cloned()
            .collect();
        let r = latest(&last, "fm.temperature")?;
        expect_eq(number(r.point(&[("room", "lab")])?), 30.0, "fm.temperature")?;
        let p = latest(&last, "fm.latency")?.point(&[("method", "GET")])?;
        expect_eq(field(p, "count"), 5.0, "fm.latency count")?;
        Ok(last)
    });
    // The final collection should run the observable callbacks too (the
    // specification's final collect; the Go and Rust SDKs do). Today the
    // provider marks its streams shut down before the readers' last
    // collection, so the callbacks' observations are dropped ("measurement
    // after shutdown dropped") and fm.load is missing from the final export.
    match check_load(&fin) {
        Ok(()) => {}
        Err(why) if !FINAL_EXPORT_HAS_OBSERVABLES => {
            eprintln!("note (known SDK bug): final export at shutdown: {why}")
        }
        Err(why) => panic!("final export at shutdown: {why}"),
    }
    eprintln!(
        "cumulative (protobuf, periodic reader): OK after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // 2. Delta, OTLP/JSON body, gzip, export() called directly.
    let exporter = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(format!("{}/v1/metrics", collector.base_url()))
        .with_protocol(Protocol::HttpJson)
        .with_compression(Compression::Gzip)
        .with_temporality(TemporalityPreference::Delta)
        .build()
        .unwrap();
    let reader = ManualReader::new(exporter.temporality());
    let service = "ferrometer-otelcol-delta";
    let rec = provider(service, reader.clone());
    let deadline = || Instant::now() + Duration::from_secs(10);
    rec.round1();
    exporter
        .export(&reader.collect().unwrap(), deadline())
        .expect("delta export 1");
    let first = collector.wait_for(service, "delta export 1 (json, gzip)", |got| {
        check_round1(got, 1)?;
        Ok(latest(got, "fm.requests")?.request)
    });
    rec.round2();
    exporter
        .export(&reader.collect().unwrap(), deadline())
        .expect("delta export 2");
    collector.wait_for(service, "delta export 2", |got| {
        let r = latest(got, "fm.requests")?;
        expect(r.request > first, || {
            "second export not received yet".into()
        })?;
        expect_sum(r, 1, true)?;
        expect_eq(
            number(r.point(&[("route", "/a")])?),
            10.0,
            "delta fm.requests{/a}",
        )?;
        // /b did not move: a delta export leaves it out (or sends 0).
        if let Ok(p) = r.point(&[("route", "/b")]) {
            expect_eq(number(p), 0.0, "delta fm.requests{/b}")?;
        }
        let p = latest(got, "fm.latency")?.point(&[("method", "GET")])?;
        expect_eq(field(p, "count"), 1.0, "delta fm.latency count")?;
        expect_eq(field(p, "sum"), 3.0, "delta fm.latency sum")?;
        let r = latest(got, "fm.queue.size")?;
        expect_eq(number(r.point(&[("queue", "x")])?), -2.0, "fm.queue.size")?;
        let r = latest(got, "fm.temperature")?;
        expect_eq(number(r.point(&[("room", "lab")])?), 30.0, "fm.temperature")
    });
    rec.provider.shutdown().expect("shutdown");
    exporter.shutdown(Duration::from_secs(1)).unwrap();
    eprintln!(
        "delta (json, gzip, manual export): OK after {:.1}s",
        started.elapsed().as_secs_f64()
    );

    // 3. The demo, configured from the environment.
    match std::env::var_os("FERROMETER_DEMO") {
        None => println!(
            "note: FERROMETER_DEMO is unset: skipped the demo part \
             (set it to a built ferrometer_demo to check its OTLP pushes)"
        ),
        Some(demo) => {
            run_demo(
                Path::new(&demo),
                &collector,
                &[("OTEL_EXPORTER_OTLP_ENDPOINT", collector.base_url())],
                None,
                false,
            );
        }
    }
    eprintln!("total: {:.1}s", started.elapsed().as_secs_f64());
}

/// Runs the demo for 3 s with `OTEL_METRICS_EXPORTER=otlp` and `env`,
/// and checks that its final totals (as it prints them) reached the
/// collector, in a request later than `after` (an earlier run's last,
/// which this returns).
///
/// With `debug` (a collector started with the debug exporter), the debug
/// exporter's output must show the same final values: every metric of the
/// demo's last export as the file exporter wrote it, and the totals the
/// demo printed.
fn run_demo(
    demo: &Path,
    collector: &Collector,
    env: &[(&str, String)],
    after: Option<usize>,
    debug: bool,
) -> usize {
    let DemoRun {
        status,
        stdout: out,
        stderr: err,
    } = run_demo_against(demo, env);
    assert!(
        status.success(),
        "the demo failed ({status})\nstdout:\n{out}\nstderr:\n{err}"
    );
    assert!(
        out.contains("OTEL_METRICS_EXPORTER=otlp attached"),
        "the demo did not attach the OTLP exporter\nstdout:\n{out}\nstderr:\n{err}"
    );
    // "  ticks           150 / 150": the SDK's total first.
    let total = |label: &str| -> f64 {
        out.lines()
            .find_map(|l| l.trim_start().strip_prefix(label))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no '{label}' total in the demo's output:\n{out}"))
    };
    let ticks = total("ticks ");
    let updates = total("entity updates ");
    let events = total("events ");
    let online = total("players online ");
    let frames = total("frames ");
    assert!(ticks > 0.0, "the demo ran no tick:\n{out}");

    let last = collector.wait_for("ferrometer-demo", "the demo's OTLP pushes", |got| {
        let r = latest(got, "game.ticks")?;
        if let Some(after) = after {
            expect(r.request > after, || {
                format!("nothing from this run after request #{after} yet")
            })?;
        }
        let last = r.request;
        for (name, want) in [
            ("game.ticks", ticks),
            ("game.entity.updates", updates),
            ("game.events", events),
        ] {
            let r = latest(got, name)?;
            expect_sum(r, 2, true)?;
            expect_eq(r.total(), want, name)?;
        }
        let r = latest(got, "game.players.online")?;
        expect_sum(r, 2, false)?;
        expect_eq(r.total(), online, "game.players.online")?;
        let r = latest(got, "game.frame.duration")?;
        expect(r.data().0 == "histogram", || {
            format!("game.frame.duration is {}", r.data().0)
        })?;
        let count: f64 = r.points().iter().map(|p| field(p, "count")).sum();
        expect_eq(count, frames, "game.frame.duration count")?;
        for name in ["game.matchmaking.queue.depth", "process.memory.rss"] {
            let r = latest(got, name)?;
            expect(r.data().0 == "gauge" && !r.points().is_empty(), || {
                format!("{name}: {}", r.metric)
            })?;
        }
        expect(
            r.resource
                .get("deployment.environment.name")
                .map(String::as_str)
                == Some("demo"),
            || format!("demo resource {:?}", r.resource),
        )?;
        Ok(last)
    });
    if debug {
        collector.wait_for_printed("ferrometer-demo", |printed| {
            for (name, want) in [
                ("game.ticks", ticks),
                ("game.entity.updates", updates),
                ("game.events", events),
                ("game.players.online", online),
            ] {
                let r = latest_printed(printed, name)?;
                expect(r.data_type == "Sum", || format!("{name}: {}", r.data_type))?;
                expect_eq(r.total(), want, &format!("debug {name}"))?;
            }
            let r = latest_printed(printed, "game.frame.duration")?;
            let count: f64 = r.points.values().filter_map(|p| p.get("Count")).sum();
            expect_eq(count, frames, "debug game.frame.duration count")
        });
        eprintln!("demo: the debug exporter shows the same final values");
    }
    eprintln!("demo: its totals (ticks {ticks}, events {events}, frames {frames}) arrived");
    last
}

// ------------------------------------------------------------ OTLP/gRPC

/// OTLP/gRPC (feature `otlp-grpc`) to the collector's gRPC receiver, on
/// the export pipeline: cumulative without compression through a
/// periodic reader, then delta with gzip; exact values of both rounds and
/// of the final export at shutdown. Then, when `FERROMETER_DEMO_GRPC`
/// names a demo built with `-DFERROMETER_OTLP_GRPC=ON`, the demo with
/// `OTEL_EXPORTER_OTLP_PROTOCOL=grpc`: its totals arrive.
#[cfg(feature = "otlp-grpc")]
#[test]
fn a_real_collector_receives_grpc() {
    use ferrometer::export::otlp::OtlpGrpcExporter;
    let bin = collector_binary();
    let dir = TempDir::new("ferrometer-otelcol-grpc");
    let collector = Collector::start(&bin, &dir.0, true);
    let started = Instant::now();
    for (service, compression, temporality) in [
        (
            "ferrometer-grpc-cumulative",
            Compression::None,
            TemporalityPreference::Cumulative,
        ),
        (
            "ferrometer-grpc-delta-gzip",
            Compression::Gzip,
            TemporalityPreference::Delta,
        ),
    ] {
        let pipeline = OtlpGrpcExporter::builder()
            .without_env()
            .with_endpoint(collector.grpc_url())
            .with_compression(compression)
            .with_temporality(temporality)
            .with_timeout(Duration::from_secs(5))
            .build_grpc()
            .unwrap()
            .into_pipeline()
            .with_self_metrics(false)
            .build()
            .unwrap();
        let reader = PeriodicReader::builder(pipeline.clone())
            .with_interval(Duration::from_secs(3600))
            .with_timeout(Duration::from_secs(10))
            .build();
        let t = if temporality == TemporalityPreference::Delta {
            1
        } else {
            2
        };
        let rec = provider(service, reader);
        rec.round1();
        rec.provider
            .force_flush(Duration::from_secs(10))
            .expect("force_flush over gRPC");
        let first = collector.wait_for(service, "gRPC round 1", |got| {
            check_round1(got, t)?;
            Ok(latest(got, "fm.requests")?.request)
        });
        rec.round2();
        rec.provider
            .shutdown_with_timeout(Duration::from_secs(10))
            .expect("shutdown over gRPC");
        // Round 2 arrives in the final export at shutdown.
        let (a, hist_count, hist_sum, buckets) = if t == 1 {
            (10.0, 1.0, 3.0, [0.0, 1.0, 0.0, 0.0])
        } else {
            (15.0, 5.0, 32.5, [1.0, 2.0, 1.0, 1.0])
        };
        collector.wait_for(service, "gRPC final export", |got| {
            let r = latest(got, "fm.requests")?;
            expect(r.request > first, || "final export not received yet".into())?;
            expect_sum(r, t, true)?;
            expect_eq(number(r.point(&[("route", "/a")])?), a, "fm.requests{/a}")?;
            let p = latest(got, "fm.latency")?.point(&[("method", "GET")])?;
            expect_eq(field(p, "count"), hist_count, "fm.latency count")?;
            expect_eq(field(p, "sum"), hist_sum, "fm.latency sum")?;
            let r = latest(got, "fm.queue.size")?;
            expect_eq(number(r.point(&[("queue", "x")])?), -2.0, "fm.queue.size")?;
            let r = latest(got, "fm.temperature")?;
            expect_eq(number(r.point(&[("room", "lab")])?), 30.0, "fm.temperature")?;
            Ok(())
        });
        // The debug exporter shows the same final export: every metric
        // with the file exporter's points and values, and the values
        // recorded, checked here by number.
        collector.wait_for_printed(service, |printed| {
            let r = latest_printed(printed, "fm.requests")?;
            expect(r.data_type == "Sum", || {
                format!("fm.requests: {}", r.data_type)
            })?;
            expect_eq(
                r.field(&[("route", "/a")], "Value")?,
                a,
                "debug fm.requests{/a}",
            )?;
            let r = latest_printed(printed, "fm.latency")?;
            expect(r.data_type == "Histogram", || {
                format!("fm.latency: {}", r.data_type)
            })?;
            let get = [("method", "GET")];
            expect_eq(
                r.field(&get, "Count")?,
                hist_count,
                "debug fm.latency count",
            )?;
            expect_eq(r.field(&get, "Sum")?, hist_sum, "debug fm.latency sum")?;
            for (j, want) in buckets.into_iter().enumerate() {
                expect_eq(
                    r.field(&get, &format!("Buckets #{j}"))?,
                    want,
                    &format!("debug fm.latency bucket {j}"),
                )?;
            }
            let r = latest_printed(printed, "fm.queue.size")?;
            expect_eq(
                r.field(&[("queue", "x")], "Value")?,
                -2.0,
                "debug fm.queue.size",
            )?;
            let r = latest_printed(printed, "fm.temperature")?;
            expect(r.data_type == "Gauge", || {
                format!("fm.temperature: {}", r.data_type)
            })?;
            expect_eq(
                r.field(&[("room", "lab")], "Value")?,
                30.0,
                "debug fm.temperature",
            )?;
            let r = latest_printed(printed, "fm.load")?;
            expect_eq(
                r.field(&[("cpu", "0")], "Value")?,
                0.75,
                "debug fm.load{cpu=0}",
            )?;
            expect_eq(
                r.field(&[("cpu", "1")], "Value")?,
                1.5,
                "debug fm.load{cpu=1}",
            )?;
            let r = latest_printed(printed, "fm.packet.size")?;
            expect(r.data_type == "ExponentialHistogram", || {
                format!("fm.packet.size: {}", r.data_type)
            })?;
            let eth0 = [("if", "eth0")];
            expect_eq(
                r.field(&eth0, "Count")?,
                EXP_VALUE.count as f64,
                "debug exp count",
            )?;
            expect_eq(r.field(&eth0, "Sum")?, EXP_VALUE.sum, "debug exp sum")?;
            expect_eq(r.field(&eth0, "Min")?, -40.0, "debug exp min")?;
            expect_eq(r.field(&eth0, "Max")?, 3000.0, "debug exp max")
        });
        let st = pipeline.stats();
        assert_eq!(st.points_offered(), st.points_delivered, "{st:?}");
        assert_eq!(st.requests_failed.iter().sum::<u64>(), 0, "{st:?}");
        eprintln!(
            "gRPC {temporality:?} ({compression:?}): OK after {:.1}s",
            started.elapsed().as_secs_f64()
        );
    }
    match std::env::var_os("FERROMETER_DEMO_GRPC") {
        None => println!(
            "note: FERROMETER_DEMO_GRPC is unset: skipped the demo part \
             (set it to a ferrometer_demo built with -DFERROMETER_OTLP_GRPC=ON)"
        ),
        Some(demo) => {
            // `cargo test` puts target/debug on LD_LIBRARY_PATH, whose
            // library may lack the feature: the demo must load the one it
            // was linked with (its RUNPATH).
            let mut after = None;
            for compression in ["none", "gzip"] {
                after = Some(run_demo(
                    Path::new(&demo),
                    &collector,
                    &[
                        ("LD_LIBRARY_PATH", String::new()),
                        ("OTEL_EXPORTER_OTLP_ENDPOINT", collector.grpc_url()),
                        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc".into()),
                        ("OTEL_EXPORTER_OTLP_COMPRESSION", compression.into()),
                    ],
                    after,
                    true,
                ));
            }
        }
    }
}
