//! Does a Prometheus scrape of 100,000 series slow the threads that record?
//!
//! A counter holds 100,000 series (3 attributes). Two recording threads add
//! to existing series, each cycling through its own 1,000 series (like two
//! request threads of a server), while the provider's Prometheus endpoint
//! serves `/metrics` on 127.0.0.1. Every function reports the cost of one
//! `counter.add(1, &attrs)` as seen by a recording thread (the mean over the
//! two threads of each thread's own time for its operations):
//!
//! - `idle`: nobody scrapes (wall time per op).
//! - `scraping`: a third thread scrapes `/metrics` over HTTP back to back for
//!   the whole measurement (wall time per op). On a 2-core machine the
//!   scrape (collection, encoding, socket copies) competes with the two
//!   recorders for CPU: this number mixes OS scheduling with any real
//!   interference.
//! - `scraping_paced`: one full scrape, then a sleep of 7/3 of its duration,
//!   so that scraping keeps at most ~30% of one core busy (wall time per op).
//! - `idle_thread_cpu` / `scraping_thread_cpu`: like `idle` / `scraping`,
//!   but the recording threads' own CPU time per op
//!   (`CLOCK_THREAD_CPUTIME_ID`): time a thread spends descheduled does not
//!   count, time it spends executing (spinning on a lock, waiting for cache
//!   lines the collection took) does.
//!
//! - `spinning_thread_cpu` / `streaming_thread_cpu`: controls: the third
//!   thread spins on the CPU, or copies 16 MiB buffers, without touching
//!   ferrometer (what time sharing and cache pressure alone cost).
//!
//! After each function the bench prints the recording threads' context
//! switches: a recording thread that waited for a lock held by the
//! collection would sleep (a voluntary switch); preemption by the scraper
//! shows as involuntary switches.
//!
//! After the group, a paired measurement alternates 800 ms windows without
//! and with scraping (8 pairs, ABBA order against drifting background
//! load) and splits the wall-time ratio exactly into the CPU-time-per-op
//! ratio (interference) and the ratio of the recorders' CPU share
//! (scheduling): wall per op = CPU per op / share of time on a CPU.
//!
//! Which number answers "does a scrape slow recording threads": the design
//! invariant is that recording never waits for a collection (no shared
//! locks). `scraping_thread_cpu / idle_thread_cpu` measures the cost a
//! scrape adds to the recording work itself (cache-line traffic, memory
//! bandwidth, cache pollution), with zero voluntary context switches
//! showing that no recorder ever blocked. `scraping / idle` on 2 cores is
//! dominated by the scraper taking CPU time away from the recorders (three
//! busy threads on two cores): a capacity effect, not contention.
//!
//! Results, 2-core shared VM (AMD EPYC, load average 2.3 to 4.8 from
//! other builds), rustc 1.95.0, `[profile.bench]` lto, 2026-11-25, three
//! runs (criterion medians, ns per op as seen by one recording thread):
//!
//! | function            | run 1 | run 2 | run 3 |
//! |---------------------|------:|------:|------:|
//! | idle_thread_cpu     |  27.4 |  26.0 |  26.3 |
//! | scraping_thread_cpu |  24.8 |  26.0 |  26.0 |
//! | ratio               | 0.91x | 1.00x | 0.99x |
//! | idle (wall)         | 148.4 |  45.8 |  46.9 |
//! | scraping (wall)     | 166.0 |  83.6 |  82.1 |
//! | scraping_paced      | 165.0 |  66.6 |  58.5 |
//!
//! Paired CPU-per-op ratios (median of 8 pairs): 1.027, 1.019, 1.014
//! (back to back) and 1.004 (paced). Recording threads never had a
//! voluntary context switch. The wall numbers are dominated by the
//! machine's other load (the recorders were on a CPU only ~1/3 of the
//! time even without scraping).
//!
//! Run: `cargo bench --bench scrape_while_recording`. Results: BENCHMARKS.md.

use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, SamplingMode};
use ferrometer::export::prometheus::{PrometheusServer, PrometheusServerOptions};
use ferrometer::{Counter, KeyValue, MeterProvider};
use std::hint::black_box;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

const SERIES: i64 = 100_000;
/// Series each recording thread cycles through (disjoint between threads).
const PER_THREAD: i64 = 1_000;
/// Share of wall time the paced scraper spends scraping.
const PACED_DUTY: f64 = 0.3;

fn attrs(i: i64) -> [KeyValue; 3] {
    [
        KeyValue::new("id", i),
        KeyValue::new("method", "GET"),
        KeyValue::new("route", "/api/v1/items"),
    ]
}

/// The calling thread's CPU time and context switches (voluntary,
/// involuntary).
#[derive(Clone, Copy, Default)]
struct ThreadUsage {
    cpu: Duration,
    voluntary: u64,
    involuntary: u64,
}

#[cfg(target_os = "linux")]
fn thread_usage() -> ThreadUsage {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    // SAFETY: an all-zero `rusage` is a valid value (plain integers).
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `ru` is a valid out-pointer for the duration of the call.
    unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) };
    ThreadUsage {
        cpu: Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32),
        voluntary: ru.ru_nvcsw as u64,
        involuntary: ru.ru_nivcsw as u64,
    }
}

#[cfg(not(target_os = "linux"))]
fn thread_usage() -> ThreadUsage {
    ThreadUsage::default()
}

/// CPU time of the whole process (all threads).
#[cfg(target_os = "linux")]
fn process_cpu() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer for the duration of the call.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[cfg(not(target_os = "linux"))]
fn process_cpu() -> Duration {
    Duration::ZERO
}

/// What `Recorders::run` measures.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Clock {
    Wall,
    ThreadCpu,
}

/// Two recording threads parked on a barrier; `run(iters)` lets each do
/// `iters` adds on its own series and returns the mean of the two threads'
/// times (so criterion's per-iteration figure is the per-op cost as seen
/// by one thread).
struct Recorders {
    go: Arc<Barrier>,
    done: Arc<Barrier>,
    iters: Arc<AtomicU64>,
    /// Of the last run: wall nanoseconds of thread 0 and 1, then CPU
    /// nanoseconds of thread 0 and 1.
    nanos: Arc<[AtomicU64; 4]>,
    /// Context switches summed since the last `take_switches`.
    voluntary: Arc<AtomicU64>,
    involuntary: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    handles: Vec<JoinHandle<()>>,
}

impl Recorders {
    fn new(counter: &Counter<u64>) -> Self {
        let go = Arc::new(Barrier::new(3));
        let done = Arc::new(Barrier::new(3));
        let iters = Arc::new(AtomicU64::new(0));
        let nanos = Arc::new([0; 4].map(AtomicU64::new));
        let voluntary = Arc::new(AtomicU64::new(0));
        let involuntary = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let handles = (0..2)
            .map(|t: usize| {
                let counter = counter.clone();
                // Thread 0 uses ids 0..1000, thread 1 ids 50000..51000.
                let first = t as i64 * (SERIES / 2);
                let sets: Vec<[KeyValue; 3]> = (first..first + PER_THREAD).map(attrs).collect();
                let (go, done, iters, nanos, vol, invol, stop) = (
                    go.clone(),
                    done.clone(),
                    iters.clone(),
                    nanos.clone(),
                    voluntary.clone(),
                    involuntary.clone(),
                    stop.clone(),
                );
                std::thread::spawn(move || loop {
                    go.wait();
                    if stop.load(Ordering::Acquire) {
                        return;
                    }
                    let n = iters.load(Ordering::Acquire);
                    let u0 = thread_usage();
                    let t0 = Instant::now();
                    let mut j = 0;
                    for _ in 0..n {
                        counter.add(black_box(1), black_box(&sets[j]));
                        j += 1;
                        if j == sets.len() {
                            j = 0;
                        }
                    }
                    let wall = t0.elapsed();
                    let u1 = thread_usage();
                    let cpu = u1.cpu.saturating_sub(u0.cpu);
                    nanos[t].store(wall.as_nanos() as u64, Ordering::Release);
                    nanos[2 + t].store(cpu.as_nanos() as u64, Ordering::Release);
                    vol.fetch_add(u1.voluntary - u0.voluntary, Ordering::Relaxed);
                    invol.fetch_add(u1.involuntary - u0.involuntary, Ordering::Relaxed);
                    done.wait();
                })
            })
            .collect();
        Recorders {
            go,
            done,
            iters,
            nanos,
            voluntary,
            involuntary,
            stop,
            handles,
        }
    }

    fn run(&self, iters: u64, clock: Clock) -> Duration {
        self.iters.store(iters, Ordering::Release);
        self.go.wait();
        self.done.wait();
        let (wall, cpu) = self.last_totals();
        let sum = match clock {
            Clock::Wall => wall,
            Clock::ThreadCpu => cpu,
        };
        Duration::from_nanos(sum / 2)
    }

    /// Wall and CPU nanoseconds of the last run, summed over both threads.
    fn last_totals(&self) -> (u64, u64) {
        let n = |i: usize| self.nanos[i].load(Ordering::Acquire);
        (n(0) + n(1), n(2) + n(3))
    }

    /// Context switches (voluntary, involuntary) of both threads since the
    /// last call.
    fn take_switches(&self) -> (u64, u64) {
        (
            self.voluntary.swap(0, Ordering::Relaxed),
            self.involuntary.swap(0, Ordering::Relaxed),
        )
    }
}

impl Drop for Recorders {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        self.go.wait();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}

/// One `GET /metrics`; returns the body length.
fn scrape(addr: SocketAddr) -> usize {
    let mut s = TcpStream::connect(addr).expect("connect to the endpoint");
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut raw = Vec::with_capacity(16 << 20);
    s.read_to_end(&mut raw).unwrap();
    assert!(raw.starts_with(b"HTTP/1.1 200"), "scrape failed");
    let head = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("response head");
    raw.len() - head - 4
}

/// What the third thread does while the recorders are measured.
#[derive(Clone, Copy)]
enum Neighbor {
    /// Nothing (no third thread).
    None,
    /// Scrapes `/metrics`; with `Some(d)` it sleeps after each scrape so
    /// that scraping takes the share `d` of wall time.
    Scrape(Option<f64>),
    /// Control: spins on the CPU with no memory traffic (pure time sharing).
    Spin,
    /// Control: copies 16 MiB buffers back and forth (time sharing plus
    /// cache and memory-bandwidth pressure, without touching ferrometer).
    Stream,
}

/// The third thread, running until `finish`.
struct NeighborThread {
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<(u64, Duration)>>,
}

impl NeighborThread {
    fn start(addr: SocketAddr, kind: Neighbor) -> Option<Self> {
        let stop = Arc::new(AtomicBool::new(false));
        let s2 = stop.clone();
        let handle = match kind {
            Neighbor::None => return None,
            Neighbor::Scrape(duty) => std::thread::spawn(move || {
                let (mut n, mut busy) = (0u64, Duration::ZERO);
                while !s2.load(Ordering::Acquire) {
                    let t0 = Instant::now();
                    black_box(scrape(addr));
                    let d = t0.elapsed();
                    n += 1;
                    busy += d;
                    if let Some(duty) = duty {
                        // Sleep in slices so that stopping is prompt.
                        let until = Instant::now() + d.mul_f64((1.0 - duty) / duty);
                        while !s2.load(Ordering::Acquire) {
                            let now = Instant::now();
                            if now >= until {
                                break;
                            }
                            std::thread::sleep((until - now).min(Duration::from_millis(20)));
                        }
                    }
                }
                (n, busy)
            }),
            Neighbor::Spin => std::thread::spawn(move || {
                let mut x = 1u64;
                while !s2.load(Ordering::Relaxed) {
                    for _ in 0..1000 {
                        x = black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
                    }
                }
                (0, Duration::ZERO)
            }),
            Neighbor::Stream => std::thread::spawn(move || {
                let mut a = vec![1u8; 16 << 20];
                let mut b = vec![2u8; 16 << 20];
                while !s2.load(Ordering::Relaxed) {
                    b.copy_from_slice(&a);
                    std::mem::swap(&mut a, &mut b);
                    black_box(&a);
                }
                (0, Duration::ZERO)
            }),
        };
        Some(NeighborThread {
            stop,
            handle: Some(handle),
        })
    }

    /// Stops the thread; returns the number of scrapes and their mean
    /// duration.
    fn finish(mut self) -> (u64, Duration) {
        self.stop.store(true, Ordering::Release);
        let (n, busy) = self.handle.take().unwrap().join().unwrap();
        (n, busy / n.max(1) as u32)
    }
}

impl Drop for NeighborThread {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

fn bench_case(
    g: &mut BenchmarkGroup<'_, WallTime>,
    name: &str,
    rec: &Recorders,
    addr: SocketAddr,
    neighbor: Neighbor,
    clock: Clock,
) {
    let third = NeighborThread::start(addr, neighbor);
    rec.take_switches();
    g.bench_function(name, |b| b.iter_custom(|iters| rec.run(iters, clock)));
    let (vol, invol) = rec.take_switches();
    let scrapes = match (third.map(NeighborThread::finish), neighbor) {
        (Some((n, mean)), Neighbor::Scrape(_)) => {
            format!("{n} scrapes of {:.1} ms each", mean.as_secs_f64() * 1e3)
        }
        _ => "no scrapes".to_owned(),
    };
    println!(
        "scrape_while_recording/{name}: {scrapes}; recording threads' context switches: {vol} voluntary, {invol} involuntary"
    );
}

/// A scraper that can be paused, for the paired measurement.
struct SwitchableScraper {
    active: Arc<AtomicBool>,
    busy: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handle: Option<JoinHandle<()>>,
}

impl SwitchableScraper {
    fn start(addr: SocketAddr, duty: Option<f64>) -> Self {
        let active = Arc::new(AtomicBool::new(false));
        let busy = Arc::new(AtomicBool::new(false));
        let stop = Arc::new(AtomicBool::new(false));
        let (a, b, s) = (active.clone(), busy.clone(), stop.clone());
        let handle = std::thread::spawn(move || {
            while !s.load(Ordering::Acquire) {
                if !a.load(Ordering::Acquire) {
                    std::thread::sleep(Duration::from_millis(2));
                    continue;
                }
                b.store(true, Ordering::Release);
                let t0 = Instant::now();
                black_box(scrape(addr));
                let d = t0.elapsed();
                b.store(false, Ordering::Release);
                if let Some(duty) = duty {
                    let until = Instant::now() + d.mul_f64((1.0 - duty) / duty);
                    while a.load(Ordering::Acquire) && Instant::now() < until {
                        std::thread::sleep(Duration::from_millis(1));
                    }
                }
            }
        });
        SwitchableScraper {
            active,
            busy,
            stop,
            handle: Some(handle),
        }
    }

    /// Turns scraping on (returns once a scrape runs) or off (returns once
    /// no scrape runs).
    fn set(&self, on: bool) {
        self.active.store(on, Ordering::Release);
        while self.busy.load(Ordering::Acquire) != on {
            std::thread::sleep(Duration::from_micros(200));
        }
    }
}

impl Drop for SwitchableScraper {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
    }
}

/// One measurement window of the recorders.
#[derive(Clone, Copy)]
struct Window {
    /// Wall and CPU nanoseconds per op, as seen by one recording thread.
    wall_op: f64,
    cpu_op: f64,
    /// Share of wall time the recording threads were on a CPU.
    share: f64,
    /// Cores used by the rest of the process (scraper, endpoint, collector).
    others: f64,
}

/// Alternates windows without and with scraping (ABBA order, so that a
/// drift in the machine's background load cancels) and prints the medians
/// and the median per-pair ratio of the recorders' wall and CPU time per
/// op. Wall time per op is CPU time per op divided by the share of time
/// the recorders were on a CPU, so the wall ratio splits exactly into a
/// per-op cost ratio (interference) and a CPU-share ratio (scheduling).
fn paired(rec: &Recorders, addr: SocketAddr, name: &str, duty: Option<f64>) {
    const PAIRS: usize = 8;
    const WINDOW: Duration = Duration::from_millis(800);
    let scraper = SwitchableScraper::start(addr, duty);
    // Calibrate the window on the wall clock, without scraping.
    let probe = 1_000_000;
    let t = rec.run(probe, Clock::Wall);
    let iters = (probe as f64 * WINDOW.as_secs_f64() / t.as_secs_f64()) as u64;
    let window = |on: bool| {
        scraper.set(on);
        let (t0, p0) = (Instant::now(), process_cpu());
        rec.run(iters, Clock::Wall);
        let (elapsed, process) = (t0.elapsed(), process_cpu().saturating_sub(p0));
        let (wall, cpu) = rec.last_totals();
        let per_op = |ns: u64| ns as f64 / 2.0 / iters as f64;
        Window {
            wall_op: per_op(wall),
            cpu_op: per_op(cpu),
            share: cpu as f64 / wall as f64,
            others: (process.as_nanos() as f64 - cpu as f64) / elapsed.as_nanos() as f64,
        }
    };
    let mut pairs = Vec::new();
    for k in 0..PAIRS {
        pairs.push(if k % 2 == 0 {
            let a = window(false);
            (a, window(true))
        } else {
            let b = window(true);
            (window(false), b)
        });
    }
    scraper.set(false);
    let median = |f: &dyn Fn(&(Window, Window)) -> f64| {
        let mut v: Vec<f64> = pairs.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        (v[v.len() / 2 - 1] + v[v.len() / 2]) / 2.0
    };
    println!(
        "scrape_while_recording/paired/{name}: {PAIRS} pairs of {} ms windows, medians (idle -> scraping): \
         wall {:.1} -> {:.1} ns/op (ratio {:.3}) = CPU per op {:.1} -> {:.1} ns/op (ratio {:.3}) \
         / recorders' CPU share {:.2} -> {:.2} (ratio {:.3}); rest of the process used {:.2} -> {:.2} cores",
        WINDOW.as_millis(),
        median(&|p| p.0.wall_op),
        median(&|p| p.1.wall_op),
        median(&|p| p.1.wall_op / p.0.wall_op),
        median(&|p| p.0.cpu_op),
        median(&|p| p.1.cpu_op),
        median(&|p| p.1.cpu_op / p.0.cpu_op),
        median(&|p| p.0.share),
        median(&|p| p.1.share),
        median(&|p| p.1.share / p.0.share),
        median(&|p| p.0.others),
        median(&|p| p.1.others),
    );
}

fn scrape_while_recording(c: &mut Criterion) {
    ferrometer::diagnostics::set_silent();
    let provider = MeterProvider::builder()
        .with_cardinality_limit(200_000)
        .build();
    let counter = provider
        .meter("bench")
        .u64_counter("requests")
        .build()
        .unwrap();
    for i in 0..SERIES {
        counter.add(1, &attrs(i));
    }
    let server =
        PrometheusServer::start(&provider, "127.0.0.1:0", PrometheusServerOptions::default())
            .expect("start the endpoint");
    let addr = server.local_addr();
    let t0 = Instant::now();
    let bytes = scrape(addr);
    println!(
        "scrape_while_recording: one scrape of {SERIES} series: {bytes} bytes in {:.1} ms (cold)",
        t0.elapsed().as_secs_f64() * 1e3
    );
    let rec = Recorders::new(&counter);

    let mut g = c.benchmark_group("scrape_while_recording");
    g.sampling_mode(SamplingMode::Flat)
        .sample_size(20)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(6));
    use Clock::{ThreadCpu, Wall};
    use Neighbor::{Scrape, Spin, Stream};
    let cases = [
        ("idle", Neighbor::None, Wall),
        ("scraping", Scrape(None), Wall),
        ("scraping_paced", Scrape(Some(PACED_DUTY)), Wall),
        ("idle_thread_cpu", Neighbor::None, ThreadCpu),
        ("scraping_thread_cpu", Scrape(None), ThreadCpu),
        ("spinning_thread_cpu", Spin, ThreadCpu),
        ("streaming_thread_cpu", Stream, ThreadCpu),
    ];
    for (name, neighbor, clock) in cases {
        bench_case(&mut g, name, &rec, addr, neighbor, clock);
    }
    g.finish();
    paired(&rec, addr, "scraping", None);
    paired(&rec, addr, "scraping_paced", Some(PACED_DUTY));
    drop(rec);
    server.stop();
    provider.shutdown().ok();
}

criterion_group!(benches, scrape_while_recording);
criterion_main!(benches);
