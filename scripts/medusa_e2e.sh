#!/usr/bin/env bash
# The end-to-end test on a real Medusa 2.21 server (tests/medusa_e2e): builds the netvalve provider package,
# installs the Medusa application of tests/medusa_e2e/medusa-app under .data/medusa-e2e/app (npm ci only when
# its package-lock.json changed since the last install) and the provider's `npm pack` tarball into it, then runs
# the test, which starts and stops its own PostgreSQL cluster, Medusa, the NetValve sandbox and the service.
# Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
started=$(date +%s)

for tool in node npm; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        echo "medusa_e2e: $tool not found; the real-Medusa end-to-end test needs Node 20+ and npm" >&2
        exit 1
    fi
done

source scripts/venv.sh

cache="$root/.data/medusa-e2e"
app="$cache/app"
mkdir -p "$app"

lock_hash() { sha256sum "$1" | cut -d' ' -f1; }

# Installs the folder's locked dependencies unless the lock file's hash matches the one recorded after the
# last successful install.
npm_ci_cached() {
    local dir=$1 stamp=$2
    local want
    want=$(lock_hash "$dir/package-lock.json")
    if [ -d "$dir/node_modules" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        echo "== $dir: dependencies cached"
        return
    fi
    echo "== $dir: npm ci"
    local t0=$SECONDS
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    echo "$want" >"$stamp"
    echo "== $dir: npm ci took $((SECONDS - t0))s"
}

provider="$root/medusa-payment-netvalve"
# npm writes node_modules/.package-lock.json after each install: when it is newer than the lock file (e.g.
# scripts/test_provider.sh has just run npm ci), the installed dependencies are the locked ones.
if [ "$provider/node_modules/.package-lock.json" -nt "$provider/package-lock.json" ]; then
    echo "== $provider: dependencies installed"
else
    echo "== $provider: npm ci"
    (cd "$provider" && npm ci --no-audit --no-fund --loglevel=error)
fi
echo "== build medusa-payment-netvalve"
rm -f "$cache"/medusa-payment-netvalve-*.tgz
(cd "$provider" && npm run build --silent && npm pack --silent --pack-destination "$cache" >/dev/null)

cp tests/medusa_e2e/medusa-app/package.json tests/medusa_e2e/medusa-app/package-lock.json \
    tests/medusa_e2e/medusa-app/medusa-config.ts tests/medusa_e2e/medusa-app/tsconfig.json "$app/"
# The application's own routes (the store's saved payment methods), replaced whole so a removed file goes too.
rm -rf "$app/src" && cp -r tests/medusa_e2e/medusa-app/src "$app/src"
npm_ci_cached "$app" "$cache/app-lock.sha256"
# As a shop installs it: the provider then resolves @medusajs/framework from the application, not from the
# package's own development dependencies.
echo "== install the provider into the Medusa app"
(cd "$app" && npm install --no-save --no-audit --no-fund --loglevel=error "$cache"/medusa-payment-netvalve-*.tgz)

echo "== pytest tests/medusa_e2e (logs in $cache/logs)"
# The test stops everything it started; should it be killed outright, this stops what it recorded.
trap '.venv/bin/python -m tests.medusa_e2e.stack' EXIT
status=0
MEDUSA_E2E=1 .venv/bin/pytest tests/medusa_e2e -m medusa_e2e -q -p no:cacheprovider "$@" || status=$?
echo "== medusa e2e: $(( $(date +%s) - started ))s in all"
exit "$status"
