# bench/paths.sh — sourced first by the bench scripts: where the repo, outputs and results are.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
OUT=$BENCH/.out
LOGS=$OUT/logs
RESULTS=$BENCH/results
mkdir -p "$OUT" "$LOGS" "$RESULTS"
