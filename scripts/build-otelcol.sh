#!/usr/bin/env bash
# Builds the OpenTelemetry Collector used as a test peer (tests/otel_collector.rs)
# with the collector builder (ocb) from tests/collector/builder-config.yaml,
# and caches it in ${FERROMETER_CACHE:-$HOME/.cache/ferrometer}/otelcol-<hash>/otelcol,
# where <hash> is the manifest's SHA-256 (prefix). A cached binary is reused.
#
# Prints the binary's path (and nothing else) on stdout; progress goes to
# stderr. Exits non-zero when Go is missing or the build fails.
#
# Go is used here for a test peer only, never for product code. The builder's
# version is read from the manifest's "# builder-version:" line.
set -euo pipefail

die() { echo "build-otelcol.sh: $*" >&2; exit 1; }

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest="$root/tests/collector/builder-config.yaml"
[ -f "$manifest" ] || die "manifest not found: $manifest"

hash="$(sha256sum "$manifest" | cut -c1-16)"
cache="${FERROMETER_CACHE:-${HOME:-/tmp}/.cache/ferrometer}"
dir="$cache/otelcol-$hash"
bin="$dir/otelcol"

if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

command -v go >/dev/null 2>&1 || die "Go is not installed (needed to build the test collector); install Go or set FERROMETER_OTELCOL to a collector binary"
command -v sha256sum >/dev/null 2>&1 || die "sha256sum not found"

builder_version="$(sed -n 's/^# *builder-version: *\([^ ]*\).*/\1/p' "$manifest" | head -n1)"
[ -n "$builder_version" ] || die "no '# builder-version:' line in $manifest"

mkdir -p "$cache"
# One build at a time per manifest; a waiting run reuses the result.
exec 9>"$cache/otelcol-$hash.lock"
if command -v flock >/dev/null 2>&1; then
    flock 9
fi
if [ -x "$bin" ]; then
    echo "$bin"
    exit 0
fi

work="$(mktemp -d "$cache/otelcol-$hash.build.XXXXXX")"
trap 'rm -rf "$work"' EXIT

start=$(date +%s)
echo "build-otelcol.sh: building the collector (builder $builder_version) in $work" >&2
export CGO_ENABLED=0
export GOFLAGS="${GOFLAGS:-} -buildvcs=false"
GOBIN="$work/bin" nice -n 10 go install "go.opentelemetry.io/collector/cmd/builder@$builder_version" >&2 \
    || die "installing the collector builder $builder_version failed"
cp "$manifest" "$work/builder-config.yaml"
(cd "$work" && nice -n 10 "$work/bin/builder" --config "$work/builder-config.yaml") >&2 \
    || die "the collector builder failed (see the output above)"
[ -x "$work/dist/otelcol" ] || die "the builder produced no binary at $work/dist/otelcol"

mkdir -p "$dir"
cp "$work/builder-config.yaml" "$dir/builder-config.yaml"
mv "$work/dist/otelcol" "$dir/otelcol.tmp.$$"
mv -f "$dir/otelcol.tmp.$$" "$bin"
echo "build-otelcol.sh: built $bin in $(( $(date +%s) - start ))s" >&2
echo "$bin"
