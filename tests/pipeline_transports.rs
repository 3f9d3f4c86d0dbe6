//! The Pushgateway and host byte-callback exporters behind the same export
//! pipeline: retries of transient failures, a queue that does not block
//! the collecting thread, exact accounting.

#[path = "otlp_support/fault_sink.rs"]
mod fault_sink;

use fault_sink::{provider_exporting_to, sum_points, FaultSink, Mode};
use ferrometer::export::host::{BytesExporter, WireFormat};
use ferrometer::export::pipeline::{DropReason, FailReason};
use ferrometer::export::pushgateway::PushgatewayExporter;
use ferrometer::{Error, KeyValue, TemporalityPreference};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[test]
fn pushgateway_through_the_pipeline_retries_503() {
    ferrometer::diagnostics::set_silent();
    let sink = FaultSink::start();
    sink.script(vec![
        Mode::Status(503, Some("0".into())),
        Mode::Status(502, None),
    ]);
    let pipe = PushgatewayExporter::builder(format!("http://{}", sink.addr), "nightly")
        .build()
        .unwrap()
        .into_pipeline()
        .with_retry(ferrometer::export::otlp::RetryPolicy {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(10),
            max_backoff: Duration::from_millis(20),
            multiplier: 2.0,
        })
        .with_self_metrics(false)
        .build()
        .unwrap();
    let p = provider_exporting_to(&pipe, Duration::from_secs(3600), Duration::from_secs(30));
    let c = p.meter("batch").u64_counter("jobs").build().unwrap();
    c.add(7, &[KeyValue::new("kind", "a")]);
    p.force_flush(Duration::from_secs(5)).unwrap();
    let got = sink.delivered();
    assert_eq!(got.len(), 1);
    let text = String::from_utf8(got[0].clone()).unwrap();
    assert!(text.contains("jobs_total{kind=\"a\""), "{text}");
    assert!(text.contains("} 7\n"), "{text}");
    let st = pipe.stats();
    assert_eq!(st.failed(FailReason::Status5xx), 2);
    assert_eq!(st.retries, 2);
    assert_eq!(st.requests_delivered, 1);
    p.shutdown().unwrap();
}

#[test]
fn host_bytes_callback_runs_on_the_worker_and_is_retried() {
    ferrometer::diagnostics::set_silent();
    let calls = Arc::new(AtomicUsize::new(0));
    let bodies = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let threads = Arc::new(Mutex::new(Vec::new()));
    let (c2, b2, t2) = (calls.clone(), bodies.clone(), threads.clone());
    let pipe = BytesExporter::new(WireFormat::OtlpProtobuf, move |bytes, ct| {
        assert_eq!(ct, "application/x-protobuf");
        t2.lock()
            .unwrap()
            .push(std::thread::current().name().unwrap_or("").to_owned());
        // Every other call fails: each batch is retried once.
        if c2.fetch_add(1, Ordering::SeqCst) % 2 == 0 {
            return Err(Error::Failed("host transport busy".into()));
        }
        b2.lock().unwrap().push(bytes.to_vec());
        Ok(())
    })
    .unwrap()
    .with_temporality(TemporalityPreference::Delta)
    .into_pipeline()
    .with_retry(ferrometer::export::otlp::RetryPolicy {
        max_attempts: 3,
        initial_backoff: Duration::from_millis(1),
        max_backoff: Duration::from_millis(2),
        multiplier: 2.0,
    })
    .with_batch_limits(ferrometer::export::pipeline::BatchLimits {
        max_points: 100,
        max_bytes: 1 << 20,
    })
    .with_self_metrics(false)
    .build()
    .unwrap();
    let p = provider_exporting_to(&pipe, Duration::from_secs(3600), Duration::from_secs(30));
    let c = p.meter("host").u64_counter("c").build().unwrap();
    for i in 0..1000i64 {
        c.add(1, &[KeyValue::new("k", i.to_string())]);
    }
    let t0 = Instant::now();
    p.force_flush(Duration::from_secs(5)).unwrap();
    println!("flush of 10 batches took {:?}", t0.elapsed());
    let st = pipe.stats();
    assert_eq!(st.points_delivered, 1000, "{st:?}");
    assert_eq!(st.requests_delivered, 10, "batches of 100 points");
    assert_eq!(st.failed(FailReason::Other), 10);
    assert_eq!(st.retries, 10);
    assert_eq!(st.dropped_total(), 0);
    let delivered: usize = bodies
        .lock()
        .unwrap()
        .iter()
        .map(|b| sum_points(b, "c", "k").len())
        .sum();
    assert_eq!(delivered, 1000);
    assert!(threads
        .lock()
        .unwrap()
        .iter()
        .all(|n| n == "ferrometer-export"));
    p.shutdown().unwrap();
    assert_eq!(pipe.stats().dropped(DropReason::Shutdown), 0);
}
