#!/usr/bin/env bash
# The whole check, exactly as CI runs it: virtualenv and dependencies, lint, format, types, then the
# test suite on a real PostgreSQL (a throwaway cluster unless TEST_DATABASE_URL is set).
# Extra arguments go to pytest, e.g. scripts/test.sh -k webhook
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# Exactly the locked versions, each checked against its hash; then the project itself, built by the locked
# setuptools (no isolated build environment fetching an unpinned one).
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .

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

echo "== ruff check" && .venv/bin/ruff check .
echo "== ruff format --check" && .venv/bin/ruff format --check .
echo "== mypy --strict app" && .venv/bin/mypy --strict app
echo "== pytest" && .venv/bin/pytest "$@"
