#!/usr/bin/env bash
# The README's test command. On a fresh Debian machine it installs what the tests need (Debian
# packages with apt-get, npm packages with npm ci), builds, checks the import boundaries of
# ARCHITECTURE.md (.dependency-cruiser.cjs), lints and checks the formatting (eslint with
# typescript-eslint's strict type-checked rules, prettier), and runs every unit and integration test.
# Integration tests start the real servers themselves, on loopback only.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
npm ci --no-audit --no-fund
npm run build
npm run check:imports
npm run lint
node --test --test-reporter=spec --test-concurrency=1 dist/test/unit/*.test.js dist/test/integration/*.test.js
