#!/usr/bin/env bash
# The whole check, exactly as CI runs it: virtualenv and dependencies, lint, format, types, then the
# test suite on a real PostgreSQL (a throwaway cluster unless TEST_DATABASE_URL is set).
# Without arguments it also builds and tests the Medusa provider package and runs the end-to-end test on a
# real Medusa server (both need Node.js 20 and npm). Extra arguments go to pytest alone, e.g.
# scripts/test.sh -k webhook
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh

if [ -z "${TEST_DATABASE_URL:-}" ] && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
    && ! command -v initdb >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "PostgreSQL server binaries not found: installing them with apt-get" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
    else
        echo "PostgreSQL server binaries not found: install PostgreSQL 15 or set TEST_DATABASE_URL" >&2
        exit 1
    fi
fi

if [ -z "${CHROMIUM_PATH:-}" ] && ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "Chromium not found: installing it with apt-get (tests/browser drives it)" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "Chromium not found: apt-get install chromium, or set CHROMIUM_PATH to a Chromium binary" >&2
        exit 1
    fi
fi

echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy --strict app" && .venv/bin/mypy --strict app
if [ "$#" -eq 0 ]; then
    echo "== medusa-payment-netvalve (tsc, node --test)" && scripts/test_provider.sh
    echo "== end to end on a real Medusa server" && scripts/medusa_e2e.sh
fi
echo "== pytest" && .venv/bin/pytest "$@"
