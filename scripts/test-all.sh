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
pypkgs=(prometheus_client opentelemetry-proto protobuf grpcio-tools)
if ! python3 -c 'import prometheus_client, google.protobuf, grpc_tools.protoc, opentelemetry.proto.collector.metrics.v1.metrics_service_pb2' 2>/dev/null; then
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

  step "Prometheus 3's OTLP receiver accepts the demo's OTLP pushes"
  FERROMETER_DEMO="${FERROMETER_BUILD_ROOT:-$PWD/build}/cpp-test/ferrometer_demo" \
    cargo test --test prometheus3_otlp -- --nocapture

  step "Prometheus 2.42 stores the demo's --remote-write pushes"
  FERROMETER_DEMO="${FERROMETER_BUILD_ROOT:-$PWD/build}/cpp-test/ferrometer_demo" \
    cargo test --test remote_write_prometheus -- --nocapture
fi

step "all tests passed"
