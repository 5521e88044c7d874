# syntax=docker/dockerfile:1
# Two images from one file:
#   docker build --target prod .   the service alone (the default: the last stage)
#   docker build --target dev .    the service plus the NetValve sandbox, for docker-compose.yml
# Every third-party package comes from a lock file with hashes; pip refuses anything else.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder-base

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:${PATH}"

RUN python -m venv /opt/venv

WORKDIR /build
# The build backend too, so the project's own wheel is built without fetching anything unpinned.
COPY requirements-build.lock requirements.lock ./
RUN pip install --require-hashes --no-deps -r requirements-build.lock \
    && pip install --require-hashes --no-deps -r requirements.lock


FROM builder-base AS prod-builder

COPY pyproject.toml ./
COPY app/ app/
# The service's wheel holds app/ only: the sandbox package is absent from this stage, and its console script
# is dropped. tests/test_supply_chain.py builds this wheel the same way and checks what is in it.
RUN sed -i '/^netvalve-sandbox = /d' pyproject.toml \
    && pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && pip install --no-deps --no-index /wheels/*.whl


FROM builder-base AS dev-builder

COPY pyproject.toml ./
COPY app/ app/
COPY netvalve_sandbox/ netvalve_sandbox/
RUN pip wheel --no-deps --no-build-isolation --wheel-dir /wheels . \
    && pip install --no-deps --no-index /wheels/*.whl


FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:${PATH}"

# A fixed uid/gid so volume ownership and the compose files' `user:` agree across rebuilds.
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /srv/app --shell /usr/sbin/nologin app

# Migrations run from here: `docker compose run --rm migrate`, or `docker exec -it app alembic upgrade head`.
WORKDIR /srv/app
COPY alembic.ini ./
COPY alembic/ alembic/

USER 10001:10001
EXPOSE 8000

# The slim image has no curl; the standard library is enough. urlopen raises on a non-2xx answer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]

# --no-proxy-headers: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1 (FORWARDED_ALLOW_IPS);
# the app reads every X-Forwarded-For line itself, right to left through TRUSTED_PROXIES.
# Keep-alive longer than the balancer's idle timeout (ALB: 60 s): were uvicorn to close an idle connection
# first, a request the balancer sends on it at that moment would get no answer (an ALB 502).
# --limit-concurrency: beyond 512 open connections and requests uvicorn answers 503 at once instead of queueing
# without bound (25 database connections serve them); --backlog bounds the connections not yet accepted.
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-server-header", "--no-proxy-headers", \
     "--timeout-keep-alive", "75", "--limit-concurrency", "512", "--backlog", "1024"]


FROM runtime AS dev

COPY --from=dev-builder /opt/venv /opt/venv


FROM runtime AS prod

COPY --from=prod-builder /opt/venv /opt/venv
