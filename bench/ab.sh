#!/usr/bin/env bash
# bench/ab.sh BEFORE_BIN AFTER_BIN — the same single-node load against two skein binaries in
# one run, alternating rounds (ROUNDS, 6): produce 2M x 100 B acks=1, consume them, produce
# 500k x 1 KiB acks=all, broker on CPU 1 and loadgen on CPU 0, a fresh data dir each round
# (synced and removed before the next).
# Prints each round and the means with the after/before ratio; results to
# bench/results/ab.txt. Build BEFORE from an older commit (e.g. `git worktree add`, then
# `swift build -c release --scratch-path .build-ab`).
set -uo pipefail
source "$(dirname "$0")/paths.sh"
BEFORE=$1
AFTER=$2
ROUNDS=${ROUNDS:-6}
PORT=${PORT:-19610}
LOADGEN=$OUT/loadgen
[ -x "$LOADGEN" ] || { echo "build loadgen first (bash bench/run.sh does)" >&2; exit 1; }

round() {
  local bin=$1 data
  data=$(mktemp -d /tmp/skein-ab.XXXXXX)
  taskset -c 1 "$bin" serve --listen "127.0.0.1:$PORT" --data-dir "$data" --log-level notice \
    >"$LOGS/ab.broker.log" 2>&1 &
  local pid=$!
  sleep 1
  for t in p100 p1k; do
    "$LOADGEN" create --bootstrap "127.0.0.1:$PORT" --topic $t --partitions 1 --timeout-ms 20000 \
      >/dev/null 2>&1
  done
  mbps() { grep RESULT | sed 's/.*mbps=\([^ ]*\).*/\1/'; }
  local a b c
  a=$(taskset -c 0 "$LOADGEN" produce --topic p100 --count 2000000 --size 100 --acks 1 \
    --bootstrap "127.0.0.1:$PORT" 2>/dev/null | mbps)
  b=$(taskset -c 0 "$LOADGEN" consume --topic p100 --count 2000000 \
    --bootstrap "127.0.0.1:$PORT" 2>/dev/null | mbps)
  c=$(taskset -c 0 "$LOADGEN" produce --topic p1k --count 500000 --size 1024 --acks all \
    --bootstrap "127.0.0.1:$PORT" 2>/dev/null | mbps)
  # The broker's CPU for the whole round (utime + stime, clock ticks), steadier than MB/s.
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  kill "$pid"
  wait "$pid" 2>/dev/null
  rm -rf "$data"
  # Let the round's writeback finish before the next binary's round starts.
  sync
  sleep 2
  echo "$a $b $c $(awk -v t="$ticks" -v hz="$(getconf CLK_TCK)" 'BEGIN {printf "%.2f", t / hz}')"
}

{
  echo "Skein A/B — $(date -u +%FT%TZ), $(nproc) cores, $ROUNDS alternating rounds"
  echo "before: $BEFORE"
  echo "after:  $AFTER"
  echo
  echo "round  binary  produce-100B-MB/s  consume-100B-MB/s  produce-1KiB-acks-all-MB/s  broker-CPU-s"
  all=""
  for i in $(seq 1 "$ROUNDS"); do
    for side in before after; do
      bin=$BEFORE
      [ $side = after ] && bin=$AFTER
      r=$(round "$bin")
      printf '%5d  %-6s  %s\n' "$i" "$side" "$r"
      all+="$side $r"$'\n'
    done
  done
  echo
  printf '%s' "$all" | awk '
    { n[$1]++; p[$1]+=$2; c[$1]+=$3; k[$1]+=$4; u[$1]+=$5 }
    END {
      for (s in n) { p[s] /= n[s]; c[s] /= n[s]; k[s] /= n[s]; u[s] /= n[s] }
      printf "mean   before  %.1f  %.1f  %.1f  %.2f\n", p["before"], c["before"], k["before"], u["before"]
      printf "mean   after   %.1f  %.1f  %.1f  %.2f\n", p["after"], c["after"], k["after"], u["after"]
      printf "ratio  after/before  %.3f  %.3f  %.3f  %.3f\n", p["after"] / p["before"], c["after"] / c["before"], k["after"] / k["before"], u["after"] / u["before"]
    }'
} | tee "$RESULTS/ab.txt"
