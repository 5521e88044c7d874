#!/usr/bin/env bash
# Bring the whole stack up locally without Docker: PostgreSQL under .data/, migrations, demo Medusa data,
# the NetValve sandbox, the service and the demo storefront, then print the checkout pages' URLs (pay there
# in a browser with a test card) and a walk-through to paste into bash (needs curl and jq).
# Ctrl-C, or `scripts/run_local.sh --stop` from another terminal, stops everything. Options: see --help.
set -euo pipefail
cd "$(dirname "$0")/.."
# The locked dependencies, like every script here (standard output carries only the walk-through); stopping
# needs nothing new installed.
if [[ " $* " != *" --stop "* ]] || [ ! -x .venv/bin/python ]; then
    source scripts/venv.sh >&2
fi
exec .venv/bin/python -m devtools.local_stack "$@"
