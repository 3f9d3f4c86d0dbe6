#!/usr/bin/env bash
# Full C/C++ check: configure, build and ctest the GoogleTest suites twice,
# once normally and once with -fsanitize=address,undefined. The first build
# also compiles the demo (ferrometer_demo, run by ctest for 2 s) and the
# Google Benchmark suite (cpp_tests/bench, compiled only, never run here).
# Exits non-zero on any failure. Build trees: build/cpp-test, build/cpp-test-asan
# (override the root with FERROMETER_BUILD_ROOT).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_root="${FERROMETER_BUILD_ROOT:-$root/build}"
generator=()
if command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
fi
jobs="${FERROMETER_JOBS:-2}"

if ! dpkg -s libgtest-dev >/dev/null 2>&1 && [ ! -d /usr/include/gtest ]; then
  echo "cpp-test: GoogleTest not found; installing libgtest-dev" >&2
  apt-get update -qq && apt-get install -y -qq libgtest-dev
fi
bench_flag=-DFERROMETER_BUILD_BENCHMARKS=ON
if ! dpkg -s libbenchmark-dev >/dev/null 2>&1 && [ ! -d /usr/include/benchmark ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "cpp-test: Google Benchmark not found; installing libbenchmark-dev" >&2
    apt-get update -qq && apt-get install -y -qq libbenchmark-dev
  else
    echo "cpp-test: Google Benchmark not found (apt-get install libbenchmark-dev); skipping the benchmark build" >&2
    bench_flag=-DFERROMETER_BUILD_BENCHMARKS=OFF
  fi
fi

run() {
  local dir="$1"
  shift
  echo "==> configure $dir $*"
  nice -n 10 cmake -S "$root" -B "$dir" "${generator[@]}" -DFERROMETER_BUILD_TESTS=ON "$@"
  echo "==> build $dir"
  nice -n 10 cmake --build "$dir" -j "$jobs"
  echo "==> ctest $dir"
  ctest --test-dir "$dir" --output-on-failure -j "$jobs"
}

run "$build_root/cpp-test" -DCMAKE_BUILD_TYPE=Release "$bench_flag"
ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1}" UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1}" \
  run "$build_root/cpp-test-asan" -DCMAKE_BUILD_TYPE=Release -DFERROMETER_SANITIZE=ON
echo "cpp-test: all C/C++ suites passed"
