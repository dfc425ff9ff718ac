#!/usr/bin/env bash
# Installs what the tests need and runs every test: formatting, the Swift unit tests, and the
# integration tests with real Kafka clients against a real `skein serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format check (swift format lint; generated code excluded)"
find Sources Tests -name '*.swift' -not -path 'Sources/KafkaProtocol/Generated/*' -print0 \
  | xargs -0 swift format lint --strict

echo "== build"
swift build --build-tests 2>&1 | tee .build-test.log | grep -E 'warning:|error:' && {
  echo "the build has warnings or errors"; exit 1; } || true

echo "== unit tests"
swift test --skip-build

echo "== integration tests"
if [ -x scripts/integration.sh ]; then
  scripts/integration.sh
fi
