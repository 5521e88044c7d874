#!/usr/bin/env bash
# Bring the whole stack up locally without Docker: PostgreSQL under .data/, migrations, demo Medusa data,
# the NetValve sandbox and the service. Ctrl-C stops everything. Options: see --help.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
exec .venv/bin/python -m devtools.local_stack "$@"
