#!/usr/bin/env bash
# The README's test command, in two tiers; CI runs both (`bash scripts/test.sh`).
#
#   bash scripts/test.sh              both tiers, as CI runs them
#   bash scripts/test.sh fast         build, import boundaries, sizes, lint + format, unit tests (in parallel): before every commit
#   bash scripts/test.sh integration  the integration tests, which start the real servers (Distribution, skopeo, slapd,
#                                     Redis, dockerd, containerd, chromium…) on loopback, two files at a time
#
# On a fresh Debian machine it first installs what the tests need (Debian packages with apt-get,
# npm packages with npm ci). Every run ends with the ten slowest test files of each tier.
set -euo pipefail
cd "$(dirname "$0")/.."

tier="${1:-all}"
case "$tier" in
  all | fast | integration) ;;
  *)
    echo "usage: bash scripts/test.sh [fast|integration]" >&2
    exit 2
    ;;
esac

bash scripts/install-deps.sh
# CI (both tiers) installs afresh; a tier on its own reinstalls only when the lock file changed.
if [ "$tier" = all ] || [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi

reporters=(--test-reporter=spec --test-reporter-destination=stdout --test-reporter=./scripts/slowest-files.mjs --test-reporter-destination=stdout)

fast_tier() {
  local started=$SECONDS logs status=0
  npm run build
  logs="$(mktemp -d)"
  # Four independent checks of the same build, side by side; each one's output is shown whole, in order.
  npm run check:imports >"$logs/imports" 2>&1 &
  local imports=$!
  npm run check:sizes >"$logs/sizes" 2>&1 &
  local sizes=$!
  npm run lint >"$logs/lint" 2>&1 &
  local lint=$!
  node --test --test-concurrency=2 "${reporters[@]}" dist/test/unit/*.test.js >"$logs/unit" 2>&1 &
  local unit=$!
  for check in imports:$imports sizes:$sizes lint:$lint unit:$unit; do
    if wait "${check#*:}"; then
      echo "== ${check%%:*}: passed"
    else
      echo "== ${check%%:*}: FAILED"
      status=1
    fi
    cat "$logs/${check%%:*}"
  done
  rm -rf "$logs"
  echo "fast tier: $((SECONDS - started)) s"
  return $status
}

integration_tier() {
  local started=$SECONDS
  if [ "$tier" = integration ]; then npm run build; fi
  # Two files at a time: most of a file's time is spent waiting on the servers it started (each on its
  # own ports and folders), so two side by side take about half the wall time on two cores.
  node --test --test-concurrency=2 "${reporters[@]}" dist/test/integration/*.test.js
  echo "integration tier: $((SECONDS - started)) s"
}

case "$tier" in
  fast) fast_tier ;;
  integration) integration_tier ;;
  all)
    fast_tier
    integration_tier
    ;;
esac
