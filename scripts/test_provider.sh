#!/usr/bin/env bash
# Build and unit-test the Medusa payment provider package (medusa-payment-netvalve/): a clean install from
# package-lock.json, tsc, then Node's test runner against a stub service on 127.0.0.1.
set -euo pipefail
cd "$(dirname "$0")/../medusa-payment-netvalve"

echo "== npm ci (medusa-payment-netvalve)" && npm ci --no-audit --no-fund --loglevel=error
echo "== npm run build" && npm run build
echo "== npm test" && npm test
