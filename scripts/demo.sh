#!/usr/bin/env bash
# Builds and runs the C++ demo (examples/demo.cpp, CMake target
# ferrometer_demo): a game-server loop instrumented with ferrometer.
# Arguments are passed to the demo (e.g. --seconds 10, --listen HOST:PORT).
# On Debian as root it installs what is missing (cmake, g++, make);
# otherwise it says what to install. Rust (cargo) must be installed.
# Build tree: build/demo (override the root with FERROMETER_BUILD_ROOT).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${FERROMETER_BUILD_ROOT:-$root/build}/demo"
jobs="${FERROMETER_JOBS:-2}"

need=()
command -v cmake >/dev/null 2>&1 || need+=(cmake)
command -v g++ >/dev/null 2>&1 || need+=(g++)
generator=()
if command -v ninja >/dev/null 2>&1; then
  generator=(-G Ninja)
elif ! command -v make >/dev/null 2>&1; then
  need+=(make)
fi
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "demo: installing ${need[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}"
  else
    echo "demo: missing ${need[*]}; install them first (Debian: sudo apt-get install ${need[*]})" >&2
    exit 1
  fi
fi
if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "demo: cargo not found: install Rust (https://rustup.rs)" >&2
  exit 1
fi

# Reuse an existing build tree's generator (CMake refuses to switch).
if [ -f "$build_dir/CMakeCache.txt" ]; then
  generator=()
fi
cmake -S "$root" -B "$build_dir" "${generator[@]}" -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build "$build_dir" --target ferrometer_demo -j "$jobs"
exec "$build_dir/ferrometer_demo" "$@"
