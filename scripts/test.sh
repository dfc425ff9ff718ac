#!/usr/bin/env bash
# Installs what the tests need and runs every test: formatting, the Swift unit tests, and the
# integration tests with real Kafka clients against a real `skein serve`.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== format check (swift format lint; generated code excluded)"
find Sources Tests -name '*.swift' -not -path 'Sources/KafkaProtocol/Generated/*' -print0 \
  | xargs -0 swift format lint --strict

echo "== build"
if ! swift build --build-tests > .build-test.log 2>&1; then
  cat .build-test.log
  exit 1
fi
if grep -E "^$PWD/(Sources|Tests)/.*warning:" .build-test.log; then
  echo "the build has warnings"
  exit 1
fi

echo "== unit tests"
swift test --skip-build

echo "== integration tests"
if [ -x scripts/integration.sh ]; then
  scripts/integration.sh
fi
