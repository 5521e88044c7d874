#!/usr/bin/env bash
# One command for the load benchmark; every option goes to bench/run.py (see --help).
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m bench.run "$@"
