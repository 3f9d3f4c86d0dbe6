#!/usr/bin/env bash
# Runs every test ferrometer has: formatting, clippy, cargo tests, loom
# models, benchmark compilation, and (when present) the C++ suites.
# Installs what a fresh Debian machine lacks when run as root.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n=== %s ===\n' "$*"; }

if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  need=()
  for p in cmake g++ ninja-build libgtest-dev libbenchmark-dev pkg-config; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
  done
  if [ ${#need[@]} -gt 0 ]; then
    step "apt-get install ${need[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  fi
fi
command -v cargo >/dev/null || { echo "cargo not found: install Rust (https://rustup.rs)"; exit 1; }

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --all-targets -- -D warnings

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
fi

step "all tests passed"
