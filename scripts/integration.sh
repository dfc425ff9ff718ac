#!/usr/bin/env bash
# Integration tests: a real `skein serve` driven by real clients (kcat, confluent-kafka,
# kafka-python, aiokafka) and by raw sockets. Extra arguments go to pytest, e.g.
#   scripts/integration.sh -k kcat -x
set -euo pipefail
cd "$(dirname "$0")/.."

# Python clients in .venv
if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check -r tests/requirements.txt

# From Debian: kcat (librdkafka 2.0.2), prometheus with promtool for the metrics tests, and
# chromium with its driver for the web view test
missing=()
command -v kcat >/dev/null 2>&1 || missing+=(kcat)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v chromedriver >/dev/null 2>&1 || missing+=(chromium-driver)
if [ ${#missing[@]} -gt 0 ]; then
  SUDO=""
  if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
  $SUDO apt-get update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y --no-install-recommends "${missing[@]}"
fi

# The broker
swift build
SKEIN_BIN="$(swift build --show-bin-path)/skein"
export SKEIN_BIN

# 1,000 idle connections need file descriptors in both the tests and the broker.
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt 4096 ]; then
  ulimit -n 4096 2>/dev/null || true
fi

exec .venv/bin/python -m pytest -q tests/integration "$@"
