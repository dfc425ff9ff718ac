#!/usr/bin/env bash
# bench/cluster.sh — a 3-broker Skein cluster beside a single-node Skein, same machine, same run.
#
#   bash bench/cluster.sh            # full run (~3 min after the build)
#   QUICK=1 bash bench/cluster.sh    # smaller counts, for checking the script itself
#
# Scenarios (1 KiB records; the cluster topic has RF 3 and min.insync.replicas 2):
#   single  produce acks=1 to a single node (the reference figure)
#   rf3     produce acks=all to the cluster (mark: >= 50% of single's MB/s)
#   rate    10,000 rec/s acks=all to the cluster for 10 s (mark: p99 <= 10 ms)
#   catchup broker 2 stopped, CATCHUP_MB produced, broker 2 restarted: MB behind / time until
#           it is back in every ISR (mark: >= 200 MB/s)
#   failover kill -9 of a partition's leader while producing: time to the first ack after it,
#           median of FAILOVER_RUNS (3) runs (mark: <= broker.session.timeout.ms + 1 s)
# No CPU pinning: three brokers and the client share the two cores. Results go to
# bench/results/cluster.txt.
set -uo pipefail

source "$(dirname "$0")/paths.sh"
RDKAFKA=${RDKAFKA:-wheel}
BROKERS=skein
if [[ "${QUICK:-0}" == 1 ]]; then
  COUNT=${COUNT:-50000}; CATCHUP_MB=${CATCHUP_MB:-100}; RATE_SECS=${RATE_SECS:-3}
else
  COUNT=${COUNT:-500000}; CATCHUP_MB=${CATCHUP_MB:-1024}; RATE_SECS=${RATE_SECS:-10}
fi
RATE=${RATE:-10000}
FAILOVER_RUNS=${FAILOVER_RUNS:-3}
PARTITIONS=${PARTITIONS:-3}
SESSION_MS=${SESSION_MS:-9000}   # broker.session.timeout.ms (Kafka's default)
BASE_PORT=${BASE_PORT:-19392}
SINGLE_PORT=${SINGLE_PORT:-19492}
log() { printf '[cluster-bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

source "$BENCH/setup.sh"
PY=$BENCH/.venv/bin/python
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1" | head -1; }

WORK=$(mktemp -d /tmp/skein-cluster-bench.XXXXXX)
SINGLE_PID=""
cleanup() {
  [[ -n $SINGLE_PID ]] && kill -TERM "$SINGLE_PID" 2>/dev/null && wait "$SINGLE_PID" 2>/dev/null
  [[ -f $WORK/cluster/cluster.json ]] && "$SKEIN_BIN" cluster down --dir "$WORK/cluster" >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

loadgen() { timeout 300 "$LOADGEN" "$@" 2>>"$LOGS/cluster-bench.client.log" | grep '^RESULT' | tail -1; }

# ---- single node, acks=1 ----------------------------------------------------------
"$SKEIN_BIN" serve --listen "127.0.0.1:$SINGLE_PORT" --data-dir "$WORK/single" --log-level notice \
  >"$LOGS/cluster-bench.single.log" 2>&1 &
SINGLE_PID=$!
loadgen metadata --bootstrap "127.0.0.1:$SINGLE_PORT" --start-ns "$(date +%s%N)" >/dev/null
loadgen create --bootstrap "127.0.0.1:$SINGLE_PORT" --topic single >/dev/null
SINGLE=$(loadgen produce --bootstrap "127.0.0.1:$SINGLE_PORT" --topic single --count "$COUNT" --size 1024 --acks 1)
log "single: $SINGLE"
kill -TERM "$SINGLE_PID"; wait "$SINGLE_PID" 2>/dev/null; SINGLE_PID=""
rm -rf "$WORK/single"

# ---- the cluster --------------------------------------------------------------------
"$SKEIN_BIN" cluster up --dir "$WORK/cluster" --brokers 3 --racks 3 --base-port "$BASE_PORT" \
  --set "broker.session.timeout.ms=$SESSION_MS" >"$LOGS/cluster-bench.up.log" 2>&1 ||
  { log "cluster up failed"; cat "$LOGS/cluster-bench.up.log" >&2; exit 1; }
BOOT="127.0.0.1:$BASE_PORT"
for t in rf3 rate catchup failover; do
  line=$(loadgen create --bootstrap "$BOOT" --topic "$t" --partitions "$PARTITIONS" --replication-factor 3 --min-isr 2)
  [[ $(kv "$line" ok) == 1 ]] || { log "create $t failed: $line"; exit 1; }
done
RF3=$(loadgen produce --bootstrap "$BOOT" --topic rf3 --count "$COUNT" --size 1024 --acks all --partitions "$PARTITIONS")
log "rf3: $RF3"
RATED=$(loadgen rate --bootstrap "$BOOT" --topic rate --rate "$RATE" --duration "$RATE_SECS" --size 1024 --acks all --partitions "$PARTITIONS")
log "rate: $RATED"

# Follower catch-up: broker 2 stops, CATCHUP_MB arrive, broker 2 restarts.
"$PY" "$BENCH/cluster_probe.py" stop "$WORK/cluster/cluster.json" 2
CATCHUP_COUNT=$((CATCHUP_MB * 1024))
FILL=$(loadgen produce --bootstrap "$BOOT" --topic catchup --count "$CATCHUP_COUNT" --size 1024 --acks all --partitions "$PARTITIONS")
log "catch-up fill: $FILL"
"$PY" "$BENCH/cluster_probe.py" restart "$WORK/cluster/cluster.json" 2 >/dev/null
CATCHUP=$("$PY" "$BENCH/cluster_probe.py" wait-isr "$BOOT" catchup 2 300)
log "catch-up: $CATCHUP"
sleep 2
FAILOVER=$("$PY" "$BENCH/cluster_probe.py" failover "$BOOT" failover "$WORK/cluster/cluster.json" "$FAILOVER_RUNS")
log "failover: $FAILOVER"

# ---- report ------------------------------------------------------------------------
s_mbps=$(kv "$SINGLE" mbps); c_mbps=$(kv "$RF3" mbps)
ratio=$(awk -v a="$c_mbps" -v b="$s_mbps" 'BEGIN{ if (b>0) printf "%.2f", a/b }')
catch_ms=$(kv "$CATCHUP" ms)
catch_rate=$(awk -v mb="$CATCHUP_MB" -v ms="$catch_ms" 'BEGIN{ if (ms>0) printf "%.0f", mb*1000/ms }')
rate_p99=$(awk -v u="$(kv "$RATED" p99_us)" 'BEGIN{printf "%.2f", u/1000}')
fo_ms=$(kv "$FAILOVER" ms)
mark() { awk -v v="$1" -v lim="$2" -v op="$3" 'BEGIN{ ok = (op == ">=") ? v >= lim : v <= lim; print ok ? "met" : "MISSED" }'; }
{
  echo "Skein cluster vs single node — $(date -u +%FT%TZ), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "Skein: $SKEIN_SRC_NOTE, release build, data on $(df -T /tmp | awk 'NR==2{print $2}') /tmp; client: bench/loadgen.c on librdkafka $RDKAFKA_VERSION; no CPU pinning"
  echo "Cluster: 3 brokers on 3 racks (node 0 also the controller), topics with $PARTITIONS partitions, RF 3, min.insync.replicas 2, broker.session.timeout.ms $SESSION_MS"
  echo
  printf '%-52s %12s %10s\n' metric value mark
  printf '%-52s %12s %10s\n' "single node produce 1KiB acks=1 (MB/s)" "$s_mbps" ""
  printf '%-52s %12s %10s\n' "cluster produce 1KiB acks=all RF3 (MB/s)" "$c_mbps" ""
  printf '%-52s %12s %10s\n' "cluster / single" "$ratio" "$(mark "$ratio" 0.5 '>=') (>= 0.50)"
  printf '%-52s %12s %10s\n' "cluster acks=all p99 (ms), flat out" "$(awk -v u="$(kv "$RF3" p99_us)" 'BEGIN{printf "%.2f", u/1000}')" ""
  printf '%-52s %12s %10s\n' "cluster acks=all p50 (ms) at $RATE rec/s" "$(awk -v u="$(kv "$RATED" p50_us)" 'BEGIN{printf "%.2f", u/1000}')" ""
  printf '%-52s %12s %10s\n' "cluster acks=all p99 (ms) at $RATE rec/s" "$rate_p99" "$(mark "$rate_p99" 10 '<=') (<= 10)"
  printf '%-52s %12s %10s\n' "follower catch-up: MB behind" "$CATCHUP_MB" ""
  printf '%-52s %12s %10s\n' "follower catch-up: restart to back in ISR (ms)" "$catch_ms" ""
  printf '%-52s %12s %10s\n' "follower catch-up (MB/s)" "$catch_rate" "$(mark "${catch_rate:-0}" 200 '>=') (>= 200)"
  printf '%-52s %12s %10s\n' "fail-over: kill -9 to first ack, median (ms)" "$fo_ms" "$(mark "$fo_ms" $((SESSION_MS + 1000)) '<=') (<= $((SESSION_MS + 1000)))"
  echo
  echo "raw:"; for l in "$SINGLE" "$RF3" "$RATED" "$FILL" "$CATCHUP" "$FAILOVER"; do echo "  $l"; done
} | tee "$RESULTS/$([[ ${QUICK:-0} == 1 ]] && echo quick-)cluster.txt"
