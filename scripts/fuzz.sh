#!/usr/bin/env bash
# A longer Schemathesis run of the same test CI runs (tests/fuzz): more examples per operation and, by default,
# a fresh seed. Reproduce a failure with the seed it prints: FUZZ_SEED=<seed> scripts/fuzz.sh
# FUZZ_MAX_EXAMPLES (default 200) is the fuzzing phase's cap per operation; extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

export FUZZ_MAX_EXAMPLES="${FUZZ_MAX_EXAMPLES:-200}"
export FUZZ_SEED="${FUZZ_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}"
echo "fuzzing with FUZZ_SEED=${FUZZ_SEED} FUZZ_MAX_EXAMPLES=${FUZZ_MAX_EXAMPLES}" >&2
exec .venv/bin/pytest tests/fuzz -q -p no:cacheprovider "$@"
