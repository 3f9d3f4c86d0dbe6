//! The export pipeline end to end, and the recording path while it
//! suffers an outage.
//!
//! - `export_pipeline_throughput`: one iteration = 1,000,000 counter
//!   points (1000 counters x 1000 series, 3 attributes each) going from
//!   collection (`ManualReader::collect`, cumulative) through the OTLP
//!   protobuf encoder, the bounded queue and the worker's HTTP/1.1
//!   requests (8192-point batches) to a loopback sink that reads and
//!   discards each body and answers 200; the iteration ends when the sink
//!   answered the last request (`ExportPipeline::flush`). The snapshot is
//!   handed over as a periodic reader does (`export_owned`): it is split
//!   in two and encoded on the collecting thread and one scoped helper,
//!   while the worker has earlier batches on the wire (and, with gzip,
//!   compresses them). `protobuf`: no compression;
//!   `protobuf_gzip`: gzip level 1 on the worker; `remote_write`: the
//!   Prometheus Remote-Write 1.0 encoder (series with sorted labels,
//!   snappy-compressed on the encoding threads) and transport instead of
//!   OTLP, same batches. With `--features otlp-grpc`: `grpc` and
//!   `grpc_gzip` (gzip level 1), the same million points and batches as
//!   OTLP/gRPC unary calls over one HTTP/2 connection to a loopback h2
//!   server that reads and discards each message and answers OK
//!   (16 MiB stream and connection windows, as a BDP-probing gRPC server
//!   such as the Collector's grows to).
//! - `recording_during_outage`: per-op cost of `Counter::add` on 2
//!   threads (100 series, 2 attributes), while a periodic reader pushes
//!   every 10 ms through a pipeline to a healthy sink (`normal`), and
//!   while the sink refuses connections and the pipeline retries with a
//!   1-4 ms backoff and the circuit breaker disabled (`outage`). Because
//!   criterion measures one after the other, the group first prints an
//!   interleaved A/B comparison (alternating fresh healthy and refused
//!   pipelines, 8 rounds, medians), which drift in the machine's load
//!   cannot bias.
//!
//! Run: `cargo bench --bench pipeline`. Results: BENCHMARKS.md.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ferrometer::export::otlp::{OtlpHttpExporter, RetryPolicy};
use ferrometer::export::pipeline::{BatchLimits, ExportPipeline};
use ferrometer::export::remote_write::RemoteWriteExporter;
use ferrometer::export::PushExporter;
use ferrometer::{KeyValue, ManualReader, MeterProvider, PeriodicReader, Resource};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

const POINTS: u64 = 1_000_000;

/// Accepts and discards: reads each request's body in 256 KiB reads and
/// answers 200 with an empty body. Returns its URL and the body-byte
/// counter.
fn discard_sink() -> (String, Arc<AtomicU64>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/metrics", l.local_addr().unwrap());
    let bytes = Arc::new(AtomicU64::new(0));
    let b = bytes.clone();
    std::thread::spawn(move || {
        for c in l.incoming() {
            let Ok(c) = c else { continue };
            let b = b.clone();
            std::thread::spawn(move || discard(c, &b));
        }
    });
    (url, bytes)
}

fn discard(c: TcpStream, bytes: &AtomicU64) {
    c.set_nodelay(true).ok();
    let mut w = c.try_clone().unwrap();
    let mut r = BufReader::with_capacity(256 << 10, c);
    let mut line = String::new();
    let mut sink = vec![0u8; 256 << 10];
    loop {
        let mut len = 0usize;
        line.clear();
        if r.read_line(&mut line).unwrap_or(0) == 0 {
            return;
        }
        loop {
            line.clear();
            if r.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let l = line.trim_end();
            if l.is_empty() {
                break;
            }
            if let Some((k, v)) = l.split_once(':') {
                if k.eq_ignore_ascii_case("content-length") {
                    len = v.trim().parse().unwrap_or(0);
                }
            }
        }
        let mut left = len;
        while left > 0 {
            let n = left.min(sink.len());
            if r.read_exact(&mut sink[..n]).is_err() {
                return;
            }
            left -= n;
        }
        bytes.fetch_add(len as u64, Ordering::Relaxed);
        if w.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}

fn million_points() -> (MeterProvider, ManualReader) {
    ferrometer::diagnostics::set_silent();
    let reader = ManualReader::default();
    let provider = MeterProvider::builder()
        .with_resource(Resource::new([KeyValue::new("service.name", "bench")]))
        .with_reader(reader.clone())
        .build();
    let m = provider.meter("bench");
    for i in 0..1000 {
        let c = m.u64_counter(format!("requests_{i}")).build().unwrap();
        for j in 0..1000i64 {
            c.add(
                1,
                &[
                    KeyValue::new("id", j),
                    KeyValue::new("method", "GET"),
                    KeyValue::new("route", "/api/v1/items"),
                ],
            );
        }
    }
    (provider, reader)
}

/// Encoding threads (default 2; `FERROMETER_BENCH_ENCODE_THREADS`
/// overrides it for comparisons).
fn encode_threads() -> usize {
    std::env::var("FERROMETER_BENCH_ENCODE_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2)
}

fn throughput(c: &mut Criterion) {
    let (_provider, reader) = million_points();
    assert_eq!(reader.collect().unwrap().point_count() as u64, POINTS);
    let mut g = c.benchmark_group("export_pipeline_throughput");
    g.sample_size(10)
        .measurement_time(Duration::from_secs(10))
        .throughput(Throughput::Elements(POINTS));
    for (name, gzip) in [("protobuf", None), ("protobuf_gzip", Some(1))] {
        let (url, bytes) = discard_sink();
        let pipe = OtlpHttpExporter::builder()
            .without_env()
            .with_endpoint(url)
            .build()
            .unwrap()
            .into_pipeline()
            .with_gzip(gzip)
            .with_batch_limits(BatchLimits {
                max_points: 8192,
                max_bytes: 4 << 20,
            })
            // Backpressure instead of drops: the collecting thread waits
            // for room (bounded by the export deadline).
            .with_queue_limits(65_536, 32 << 20)
            .with_max_block(Duration::from_secs(30))
            .with_self_metrics(false)
            .with_encode_threads(encode_threads())
            .build()
            .unwrap();
        g.bench_function(name, |b| {
            b.iter(|| {
                let rm = reader.collect().unwrap();
                // The reader's hand-over: the snapshot is split and
                // encoded on 2 threads.
                pipe.export_owned(rm, Instant::now() + Duration::from_secs(30))
                    .unwrap();
                let r = pipe.flush(Duration::from_secs(30));
                assert!(r.completed && r.undelivered() == 0);
            })
        });
        let st = pipe.stats();
        assert_eq!(st.lost(), 0, "{st:?}");
        eprintln!(
            "{name}: {} requests, {} points, {:.1} bytes/point on the wire",
            st.requests_delivered,
            st.points_delivered,
            bytes.load(Ordering::Relaxed) as f64 / st.points_delivered.max(1) as f64
        );
        pipe.shutdown(Duration::from_secs(5)).unwrap();
    }
    remote_write(&mut g, &reader);
    #[cfg(feature = "otlp-grpc")]
    grpc::throughput(&mut g, &reader);
    g.finish();
}

/// `export_pipeline_throughput/remote_write`: the same million points
/// and batching through the Remote-Write 1.0 encoder (snappy on the
/// encoding threads) and transport.
fn remote_write(
    g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    reader: &ManualReader,
) {
    let (url, bytes) = discard_sink();
    let pipe = RemoteWriteExporter::builder(url)
        .with_batch_limits(BatchLimits {
            max_points: 8192,
            max_bytes: 4 << 20,
        })
        .build()
        .unwrap()
        .into_pipeline()
        .with_queue_limits(65_536, 32 << 20)
        .with_max_block(Duration::from_secs(30))
        .with_self_metrics(false)
        .with_encode_threads(encode_threads())
        .build()
        .unwrap();
    g.bench_function("remote_write", |b| {
        b.iter(|| {
            let rm = reader.collect().unwrap();
            pipe.export_owned(rm, Instant::now() + Duration::from_secs(30))
                .unwrap();
            let r = pipe.flush(Duration::from_secs(30));
            assert!(r.completed && r.undelivered() == 0);
        })
    });
    let st = pipe.stats();
    assert_eq!(st.lost(), 0, "{st:?}");
    eprintln!(
        "remote_write: {} requests, {} points, {:.1} bytes/point on the wire (snappy)",
        st.requests_delivered,
        st.points_delivered,
        bytes.load(Ordering::Relaxed) as f64 / st.points_delivered.max(1) as f64
    );
    pipe.shutdown(Duration::from_secs(5)).unwrap();
}

#[cfg(feature = "otlp-grpc")]
mod grpc {
    //! `export_pipeline_throughput/grpc` and `/grpc_gzip`.
    use super::*;
    use bytes::Bytes;
    use ferrometer::export::otlp::{Compression, OtlpGrpcExporter};

    /// A loopback OTLP/gRPC server that reads and discards each request
    /// message and answers OK with an empty response. Returns its URL and
    /// the request-byte counter.
    fn discard_sink() -> (String, Arc<AtomicU64>) {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", l.local_addr().unwrap());
        l.set_nonblocking(true).unwrap();
        let bytes = Arc::new(AtomicU64::new(0));
        let b = bytes.clone();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let l = tokio::net::TcpListener::from_std(l).unwrap();
                while let Ok((s, _)) = l.accept().await {
                    let _ = s.set_nodelay(true);
                    tokio::spawn(serve(s, b.clone()));
                }
            });
        });
        (url, bytes)
    }

    async fn serve(s: tokio::net::TcpStream, bytes: Arc<AtomicU64>) {
        let Ok(mut conn) = h2::server::Builder::new()
            .initial_window_size(16 << 20)
            .initial_connection_window_size(16 << 20)
            .max_frame_size((1 << 24) - 1)
            .handshake::<_, Bytes>(s)
            .await
        else {
            return;
        };
        while let Some(Ok((req, mut respond))) = conn.accept().await {
            let bytes = bytes.clone();
            tokio::spawn(async move {
                let mut body = req.into_body();
                let mut n = 0;
                while let Some(Ok(chunk)) = body.data().await {
                    n += chunk.len();
                    let _ = body.flow_control().release_capacity(chunk.len());
                }
                bytes.fetch_add(n as u64, Ordering::Relaxed);
                let resp = http::Response::builder()
                    .status(200)
                    .header("content-type", "application/grpc")
                    .body(())
                    .unwrap();
                let Ok(mut send) = respond.send_response(resp, false) else {
                    return;
                };
                let _ = send.send_data(Bytes::from_static(&[0, 0, 0, 0, 0]), false);
                let mut trailers = http::HeaderMap::new();
                trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
                let _ = send.send_trailers(trailers);
            });
        }
    }

    pub(super) fn throughput(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        reader: &ManualReader,
    ) {
        for (name, compression, gzip) in [
            ("grpc", Compression::None, None),
            ("grpc_gzip", Compression::Gzip, Some(1)),
        ] {
            let (url, bytes) = discard_sink();
            let pipe = OtlpGrpcExporter::builder()
                .without_env()
                .with_endpoint(url)
                .with_compression(compression)
                .build_grpc()
                .unwrap()
                .into_pipeline()
                .with_gzip(gzip)
                .with_batch_limits(BatchLimits {
                    max_points: 8192,
                    max_bytes: 4 << 20,
                })
                .with_queue_limits(65_536, 32 << 20)
                .with_max_block(Duration::from_secs(30))
                .with_self_metrics(false)
                .with_encode_threads(encode_threads())
                .build()
                .unwrap();
            g.bench_function(name, |b| {
                b.iter(|| {
                    let rm = reader.collect().unwrap();
                    pipe.export_owned(rm, Instant::now() + Duration::from_secs(30))
                        .unwrap();
                    let r = pipe.flush(Duration::from_secs(30));
                    assert!(r.completed && r.undelivered() == 0);
                })
            });
            let st = pipe.stats();
            assert_eq!(st.lost(), 0, "{st:?}");
            eprintln!(
                "{name}: {} requests, {} points, {:.1} bytes/point on the wire",
                st.requests_delivered,
                st.points_delivered,
                bytes.load(Ordering::Relaxed) as f64 / st.points_delivered.max(1) as f64
            );
            pipe.shutdown(Duration::from_secs(5)).unwrap();
        }
    }
}

/// A provider whose periodic reader pushes through a pipeline to `url`
/// every 10 ms.
fn pushing_provider(url: String) -> (MeterProvider, ExportPipeline) {
    let pipe = OtlpHttpExporter::builder()
        .without_env()
        .with_endpoint(url)
        .with_timeout(Duration::from_millis(100))
        .build()
        .unwrap()
        .into_pipeline()
        .with_retry(RetryPolicy {
            max_attempts: 0,
            initial_backoff: Duration::from_millis(1),
            max_backoff: Duration::from_millis(4),
            multiplier: 2.0,
        })
        .with_circuit_breaker(0, Duration::ZERO)
        .with_self_metrics(false)
        .build()
        .unwrap();
    let reader = PeriodicReader::builder(pipe.clone())
        .with_interval(Duration::from_millis(10))
        .build();
    let provider = MeterProvider::builder()
        .with_resource(Resource::empty())
        .with_reader(reader)
        .build();
    (provider, pipe)
}

/// Per-op time (ns, mean of both threads) of `ops` adds per thread on 2
/// threads.
fn record_2_threads(ctr: &ferrometer::Counter<u64>, attrs: &[[KeyValue; 2]], ops: usize) -> f64 {
    let start = Arc::new(Barrier::new(3));
    let hs: Vec<_> = (0..2)
        .map(|t| {
            let (ctr, attrs, start) = (ctr.clone(), attrs.to_vec(), start.clone());
            std::thread::spawn(move || {
                start.wait();
                let t0 = Instant::now();
                for i in 0..ops {
                    ctr.add(1, &attrs[(i + t * 50) % 100]);
                }
                t0.elapsed()
            })
        })
        .collect();
    start.wait();
    let total: Duration = hs.into_iter().map(|h| h.join().unwrap()).sum();
    total.as_nanos() as f64 / 2.0 / ops as f64
}

/// Criterion runs `normal` and `outage` one after the other, so load from
/// elsewhere on the machine drifting between them shows up as a
/// difference. This A/B check alternates: 8 rounds of (a fresh healthy
/// pipeline, then a fresh refused one), 0.5 s of recording each, and
/// prints the median per-op time of each.
fn interleaved_ab(healthy: &str, refused: &str) {
    let attrs: Vec<[KeyValue; 2]> = (0..100i64)
        .map(|i| [KeyValue::new("shard", i), KeyValue::new("kind", "read")])
        .collect();
    let mut res = [Vec::new(), Vec::new()];
    for _ in 0..8 {
        for (k, url) in [healthy, refused].into_iter().enumerate() {
            let (provider, pipe) = pushing_provider(url.to_owned());
            let ctr = provider.meter("app").u64_counter("ops").build().unwrap();
            // Let the pipeline reach its steady state (retrying, or idle).
            std::thread::sleep(Duration::from_millis(100));
            let t0 = Instant::now();
            let mut ns = Vec::new();
            while t0.elapsed() < Duration::from_millis(500) {
                ns.push(record_2_threads(&ctr, &attrs, 200_000));
            }
            ns.sort_by(f64::total_cmp);
            res[k].push(ns[ns.len() / 2]);
            drop(provider);
            let _ = pipe.shutdown(Duration::from_millis(200));
        }
    }
    for r in &mut res {
        r.sort_by(f64::total_cmp);
    }
    let (n, o) = (res[0][res[0].len() / 2], res[1][res[1].len() / 2]);
    eprintln!(
        "recording_during_outage A/B interleaved (8 rounds): normal {n:.1} ns/op, outage {o:.1} ns/op \
         (outage/normal {:.3}); rounds normal {:?} outage {:?}",
        o / n,
        res[0].iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>(),
        res[1].iter().map(|v| (v * 10.0).round() / 10.0).collect::<Vec<_>>()
    );
}

fn recording(c: &mut Criterion) {
    let mut g = c.benchmark_group("recording_during_outage");
    g.sample_size(20).measurement_time(Duration::from_secs(5));
    let (healthy, _) = discard_sink();
    let refused = {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}/v1/metrics", l.local_addr().unwrap())
    };
    interleaved_ab(&healthy, &refused);
    for (name, url) in [("normal", healthy), ("outage", refused)] {
        let (provider, pipe) = pushing_provider(url);
        let ctr = provider.meter("app").u64_counter("ops").build().unwrap();
        let attrs: Vec<[KeyValue; 2]> = (0..100i64)
            .map(|i| [KeyValue::new("shard", i), KeyValue::new("kind", "read")])
            .collect();
        for a in &attrs {
            ctr.add(1, a);
        }
        std::thread::sleep(Duration::from_millis(100));
        g.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let start = Arc::new(Barrier::new(3));
                let stop = Arc::new(AtomicBool::new(false));
                let hs: Vec<_> = (0..2)
                    .map(|t| {
                        let (ctr, attrs, start) = (ctr.clone(), attrs.clone(), start.clone());
                        std::thread::spawn(move || {
                            start.wait();
                            let t0 = Instant::now();
                            for i in 0..iters as usize {
                                ctr.add(1, &attrs[(i + t * 50) % 100]);
                            }
                            t0.elapsed()
                        })
                    })
                    .collect();
                start.wait();
                let total: Duration = hs.into_iter().map(|h| h.join().unwrap()).sum();
                stop.store(true, Ordering::Relaxed);
                // Mean time per op on one thread.
                total / 2
            })
        });
        let st = pipe.stats();
        eprintln!(
            "{name}: pipeline delivered {} requests, failed {} attempts, retries {}",
            st.requests_delivered,
            st.failed_total(),
            st.retries
        );
        drop(provider);
        let _ = pipe.shutdown(Duration::from_secs(1));
    }
    g.finish();
}

criterion_group!(benches, throughput, recording);
criterion_main!(benches);
