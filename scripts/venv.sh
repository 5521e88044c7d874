# Sourced by the scripts in this folder: the project's virtualenv with exactly the locked dependencies, each
# checked against its hash, then the project itself built by the locked setuptools (no isolated build
# environment fetching an unpinned one).
if [ ! -x .venv/bin/python ]; then
    "${PYTHON:-python3}" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.lock
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
