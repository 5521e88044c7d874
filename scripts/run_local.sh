#!/usr/bin/env bash
# Bring the whole stack up locally without Docker: PostgreSQL under .data/, migrations, demo Medusa data,
# the NetValve sandbox, the service and the demo storefront, then print the checkout pages' URLs (pay there
# in a browser with a test card) and a walk-through to paste into bash (needs curl and jq).
# Ctrl-C, or `scripts/run_local.sh --stop` from another terminal, stops everything. Options: see --help.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
# Stopping needs nothing new installed.
if [[ " $* " != *" --stop "* ]]; then
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]' >&2
fi
exec .venv/bin/python -m devtools.local_stack "$@"
