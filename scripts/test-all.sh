#!/usr/bin/env bash
# Runs every test ferrometer has: formatting, clippy, cargo tests, loom
# models, benchmark compilation, and (when present) the C++ suites.
# Installs what a fresh Debian machine lacks when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for p in cmake g++ ninja-build libgtest-dev libbenchmark-dev pkg-config prometheus prometheus-pushgateway prometheus-node-exporter python3-pip curl openssl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }

# Python reference parsers used by the protocol tests.
# grpcio-tools compiles client_model's metrics.proto (the official
# io.prometheus.client definitions) for the protobuf exposition test.
# grpcio and googleapis-common-protos (google.rpc.RetryInfo) run the
# OTLP/gRPC fault sink (tests/otlp_support/grpc_fault_sink.py).
pypkgs=(prometheus_client opentelemetry-proto protobuf grpcio-tools grpcio googleapis-common-protos)
if ! python3 -c 'import prometheus_client, google.protobuf, grpc_tools.protoc, grpc, google.rpc.error_details_pb2, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2_grpc' 2>/dev/null; then
  step "pip install ${pypkgs[*]}"
  python3 -m pip install --quiet "${pypkgs[@]}" 2>/dev/null \
    || python3 -m pip install --quiet --break-system-packages "${pypkgs[@]}"
fi
export PATH="$PATH:/usr/bin:/usr/sbin"
for bin in prometheus promtool prometheus-pushgateway prometheus-node-exporter; do
  command -v "$bin" >/dev/null || { echo "$bin not found: apt-get install prometheus prometheus-pushgateway prometheus-node-exporter (run this script as root to install them)"; exit 1; }
done

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

command -v go >/dev/null || { echo "go not found: the OpenTelemetry Collector and Prometheus 3 peer tests build them from Go modules (install Go 1.24+)"; exit 1; }

# Go-built peers, cached under ${FERROMETER_CACHE:-$HOME/.cache/ferrometer}
# (the Go module and build caches persist too): Prometheus 3 takes about
# 5-10 minutes cold on two cores, seconds once cached. The tests would
# build them on first use; building here keeps that out of test timeouts.
step "Prometheus 3 (OTLP receiver peer): build or reuse"
scripts/build-prometheus3.sh >/dev/null

step "cargo test"
cargo test --all-targets
cargo test --doc

# OTLP/gRPC (cargo feature otlp-grpc, CMake FERROMETER_OTLP_GRPC): the
# default tests above ran without it; here clippy and the gRPC tests with
# it (the transport's unit tests, the grpcio fault sink). The Collector
# gRPC test and the C++ side follow with the C++ suites.
step "OTLP/gRPC feature: clippy and gRPC tests"
cargo clippy --all-targets --features otlp-grpc -- -D warnings
cargo test --features otlp-grpc --lib export::otlp
cargo test --features otlp-grpc --test otlp_grpc_faults --test otlp_grpc_env --test otlp_grpc_tls

step "loom models"
RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 CARGO_TARGET_DIR=target/loom \
  cargo test --lib --release loom_

step "benches compile"
cargo bench --no-run

if [ -x scripts/cpp-test.sh ] && [ -f CMakeLists.txt ]; then
  step "C++ suites (ctest, sanitizers)"
  scripts/cpp-test.sh

  step "OpenTelemetry Collector receives the demo's OTLP pushes"
  FERROMETER_DEMO="${FERROMETER_BUILD_ROOT:-$PWD/build}/cpp-test/ferrometer_demo" \
    cargo test --test otel_collector -- --nocapture

  step "Prometheus (exemplar storage) keeps the demo's exemplars"
  FERROMETER_DEMO="${FERROMETER_BUILD_ROOT:-$PWD/build}/cpp-test/ferrometer_demo" \
    cargo test --test prometheus_exemplars demos -- --nocapture

  step "FERROMETER_OTLP_GRPC=ON: C++ gRPC suite, library symbols, the Collector's gRPC receiver"
  grpc_build="${FERROMETER_BUILD_ROOT:-$PWD/build}/cpp-grpc"
  nice -n 10 cmake -S . -B "$grpc_build" $(command -v ninja >/dev/null && echo -G Ninja) \
    -DFERROMETER_BUILD_TESTS=ON -DCMAKE_BUILD_TYPE=Release -DFERROMETER_OTLP_GRPC=ON >/dev/null
  nice -n 10 cmake --build "$grpc_build" -j "${FERROMETER_JOBS:-2}" \
    --target ferrometer_otlp_grpc_test ferrometer_otlp_test ferrometer_demo
  ctest --test-dir "$grpc_build" --output-on-failure \
    -R 'OtlpGrpc|Otlp\.|async_runtime_symbols|header_up_to_date|demo_runs'
  FERROMETER_DEMO_GRPC="$grpc_build/ferrometer_demo" \
    cargo test --features otlp-grpc --test otel_collector grpc -- --nocapture

  step "Prometheus 3's OTLP receiver accepts the demo's OTLP pushes"
  FERROMETER_DEMO="${FERROMETER_BUILD_ROOT:-$PWD/build}/cpp-test/ferrometer_demo" \
    cargo test --test prometheus3_otlp -- --nocapture

  step "Prometheus 2.42 stores the demo's --remote-write pushes"
  FERROMETER_DEMO="${FERROMETER_BUILD_ROOT:-$PWD/build}/cpp-test/ferrometer_demo" \
    cargo test --test remote_write_prometheus -- --nocapture
fi

step "all tests passed"
