#!/usr/bin/env bash
# Starts ferrometer_demo on a free port, scrapes http://127.0.0.1:PORT/metrics
# while it runs (bash /dev/tcp, no curl needed), checks the game metrics are
# there, then checks the demo exits 0 with matching totals.
# Usage: demo_scrape_test.sh <path to ferrometer_demo>
set -euo pipefail
demo="$1"
out="$(mktemp)"
trap 'rm -f "$out"' EXIT

"$demo" --seconds 4 --listen 127.0.0.1:0 >"$out" 2>&1 &
pid=$!

port=""
for _ in $(seq 1 100); do
  port="$(sed -n 's|^serving http://127.0.0.1:\([0-9]*\)/metrics$|\1|p' "$out")"
  [ -n "$port" ] && break
  sleep 0.05
done
if [ -z "$port" ]; then
  echo "demo did not print its endpoint:"; cat "$out"; kill "$pid" 2>/dev/null || true; exit 1
fi
sleep 1.2  # let a few ticks happen

exec 3<>"/dev/tcp/127.0.0.1/$port"
printf 'GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&3
body="$(cat <&3)"
exec 3<&-

status_line="$(printf '%s\n' "$body" | head -n 1 | tr -d '\r')"
echo "scrape: $status_line"
case "$status_line" in
  "HTTP/1."?" 200"*) ;;
  *) echo "unexpected response:"; printf '%s\n' "$body" | head -n 20; kill "$pid" 2>/dev/null || true; exit 1 ;;
esac
for family in game_ticks_total game_entity_updates_total game_events_total game_players_online \
              game_frame_duration_milliseconds_bucket game_matchmaking_queue_depth; do
  if ! printf '%s\n' "$body" | grep -q "^$family"; then
    echo "missing metric family $family in the scrape:"
    printf '%s\n' "$body" | grep -v '^#' | head -n 40
    kill "$pid" 2>/dev/null || true
    exit 1
  fi
done
printf '%s\n' "$body" | grep -E '^game_(ticks_total|players_online)' | head -n 5

rc=0
wait "$pid" || rc=$?
cat "$out"
[ "$rc" -eq 0 ] || { echo "demo exited with $rc"; exit 1; }
grep -q '^check: OK' "$out" || { echo "demo totals did not match"; exit 1; }
echo "demo scrape test passed"
