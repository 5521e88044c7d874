#!/usr/bin/env bash
# Scale-out proof (bench/scaleout.py): three replicas of the service on one PostgreSQL behind HAProxy, one of
# them SIGKILLed and restarted under load, the invariants checked, then requests/s with 1, 2 and 3 replicas.
# Takes about ten minutes; only 127.0.0.1 is used. Options go to bench/scaleout.py, e.g.
#   scripts/scaleout.sh --report bench/scaleout_results.md
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/venv.sh

install_with_apt() {
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "$1 not found: installing it with apt-get" >&2
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$1" >/dev/null
    else
        echo "$1 not found: install it (Debian: apt-get install $1)" >&2
        exit 1
    fi
}

if ! command -v haproxy >/dev/null 2>&1 && [ ! -x /usr/sbin/haproxy ]; then
    install_with_apt haproxy
fi
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! command -v initdb >/dev/null 2>&1; then
    install_with_apt postgresql
fi

exec .venv/bin/python -m bench.scaleout "$@"
