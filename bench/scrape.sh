#!/usr/bin/env bash
# bench/scrape.sh — what a Prometheus scrape costs a broker: one `skein serve` with a topic of
# PARTITIONS (1000) partitions, SCRAPES (50) GETs of /metrics, the broker's CPU per scrape
# (mark: <= 50 ms) and the page's size. Results go to bench/results/scrape.txt.
set -uo pipefail

source "$(dirname "$0")/paths.sh"
RDKAFKA=${RDKAFKA:-wheel}
BROKERS=skein
PARTITIONS=${PARTITIONS:-1000}
SCRAPES=${SCRAPES:-50}
PORT=${PORT:-19692}
HTTP_PORT=${HTTP_PORT:-19693}
log() { printf '[scrape-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
source "$BENCH/setup.sh"

WORK=$(mktemp -d /tmp/skein-scrape-bench.XXXXXX)
"$SKEIN_BIN" serve --listen "127.0.0.1:$PORT" --http-listen "127.0.0.1:$HTTP_PORT" \
  --data-dir "$WORK/data" --log-level notice >"$LOGS/scrape-bench.broker.log" 2>&1 &
PID=$!
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$HTTP_PORT/v1/cluster" >/dev/null && break; sleep 0.1; done
"$LOADGEN" create --bootstrap "127.0.0.1:$PORT" --topic scrape --partitions "$PARTITIONS" \
  --timeout-ms 60000 >/dev/null
curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >/dev/null  # first scrape makes the gauges
ticks() { local s; s=$(cat "/proc/$PID/stat"); s=${s##*) }; awk '{print $12 + $13}' <<<"$s"; }
c0=$(ticks); t0=$(date +%s%N)
for _ in $(seq "$SCRAPES"); do curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" >/dev/null; done
t1=$(date +%s%N); c1=$(ticks)
bytes=$(curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | wc -c)
lines=$(curl -sf "http://127.0.0.1:$HTTP_PORT/metrics" | wc -l)
CLK_TCK=$(getconf CLK_TCK)
cpu_ms=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" -v n="$SCRAPES" 'BEGIN{printf "%.1f", (b-a)*1000/t/n}')
wall_ms=$(awk -v a="$t0" -v b="$t1" -v n="$SCRAPES" 'BEGIN{printf "%.1f", (b-a)/1e6/n}')
mark=$(awk -v c="$cpu_ms" 'BEGIN{print (c <= 50) ? "met" : "MISSED"}')
{
  echo "Skein /metrics scrape cost — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores"
  echo "one broker, a topic of $PARTITIONS partitions, $SCRAPES scrapes"
  echo
  printf '%-40s %10s %s\n' "metric" "value" "mark"
  printf '%-40s %10s %s\n' "broker CPU per scrape (ms)" "$cpu_ms" "$mark (<= 50)"
  printf '%-40s %10s\n' "wall per scrape, curl included (ms)" "$wall_ms"
  printf '%-40s %10s\n' "page size (bytes)" "$bytes"
  printf '%-40s %10s\n' "page lines" "$lines"
} | tee "$RESULTS/scrape.txt"
