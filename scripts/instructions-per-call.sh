#!/usr/bin/env bash
# Instructions per recording call, from the Rust API and through the C ABI
# (static and shared library), counted with callgrind: (Ir at 2N calls -
# Ir at N calls) / N. Load-independent, unlike timings on a shared
# machine. Needs valgrind; builds examples/record_loop.rs and the
# ferrometer_record_loop_{static,shared} CMake targets (Release).
# Numbers and analysis: docs/cpp-benchmarks.md.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${FERROMETER_BUILD_ROOT:-$root/build}/instructions"
n="${N:-100000}"
command -v valgrind >/dev/null || { echo "valgrind not found: apt-get install valgrind"; exit 1; }

cargo build --release --example record_loop --manifest-path "$root/Cargo.toml"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release -DFERROMETER_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$build" --target ferrometer_record_loop_static ferrometer_record_loop_shared >/dev/null

per_call() {
  local ir1 ir2
  ir1=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" "$n" 2>&1 | awk '/Collected/ {print $4}')
  ir2=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" "$((2 * n))" 2>&1 | awk '/Collected/ {print $4}')
  echo $(((ir2 - ir1) / n))
}

rust="${CARGO_TARGET_DIR:-$root/target}/release/examples/record_loop"
printf '%-34s %8s\n' "path" "instr/call"
for m in "0 3 attrs sorted" "1 3 attrs unsorted" "2 bound" "3 no attributes" "4 3 borrowed attrs" \
  "5 histogram 3 attrs" "6 exponential histogram 3 attrs" "7 bound exponential histogram" \
  "8 3 static literals per call"; do
  set -- $m
  printf '%-34s %8s\n' "Rust, ${*:2}" "$(per_call "$rust" "$1")"
done
for kind in static shared; do
  for m in "0 3 attrs sorted" "1 3 attrs unsorted" "2 bound" "3 prepared set" "4 no attributes" \
    "5 3 attrs, moving strings" "6 3 attrs, static strings" "7 global, no provider set" \
    "8 global, provider set"; do
    set -- $m
    printf '%-34s %8s\n' "C ($kind), ${*:2}" "$(per_call "$build/cpp_tests/bench/ferrometer_record_loop_$kind" "$1")"
  done
done
