#!/usr/bin/env bash
# Builds Prometheus 3 (the Go module github.com/prometheus/prometheus at the
# version below) for the OTLP-receiver test peer (tests/prometheus3_otlp.rs),
# and caches it in ${FERROMETER_CACHE:-$HOME/.cache/ferrometer}/prometheus-<version>/prometheus.
# A cached binary is reused. The binary lives in its own directory so that it
# never shadows the distribution's Prometheus 2 `prometheus` on PATH.
#
# Prints the binary's path (and nothing else) on stdout; progress goes to
# stderr. Exits non-zero when Go is missing or the build fails.
#
# Go is used here for a test peer only, never for product code. The Go module
# and build caches persist between runs, so a rebuild after a cache wipe of
# the binary is much faster than the first build.
set -euo pipefail

die() { echo "build-prometheus3.sh: $*" >&2; exit 1; }

version="${FERROMETER_PROMETHEUS3_VERSION:-v0.316.0}"
cache="${FERROMETER_CACHE:-${HOME:-/tmp}/.cache/ferrometer}"
dir="$cache/prometheus-$version"
bin="$dir/prometheus"

if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

command -v go >/dev/null 2>&1 || die "Go is not installed (needed to build the Prometheus 3 test peer); install Go or set FERROMETER_PROMETHEUS3 to a Prometheus 3 binary"

mkdir -p "$cache"
# One build at a time per version; a waiting run reuses the result.
exec 9>"$cache/prometheus-$version.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

work="$(mktemp -d "$cache/prometheus-$version.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

start=$(date +%s)
echo "build-prometheus3.sh: building prometheus $version in $work" >&2
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
GOBIN="$work/bin" nice -n 10 go install "github.com/prometheus/prometheus/cmd/prometheus@$version" >&2 \
    || die "go install github.com/prometheus/prometheus/cmd/prometheus@$version failed"
[ -x "$work/bin/prometheus" ] || die "go install produced no binary at $work/bin/prometheus"

mkdir -p "$dir"
mv "$work/bin/prometheus" "$dir/prometheus.tmp.$$"
mv -f "$dir/prometheus.tmp.$$" "$bin"
echo "build-prometheus3.sh: built $bin in $(( $(date +%s) - start ))s" >&2
echo "$bin"
