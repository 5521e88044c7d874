# syntax=docker/dockerfile:1

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder

ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:${PATH}"

RUN python -m venv /opt/venv

WORKDIR /build
COPY pyproject.toml ./
COPY app/ app/
COPY netvalve_sandbox/ netvalve_sandbox/
# Runtime dependencies only; the dev extras (pytest, ruff, mypy, ...) never reach the image.
RUN pip install --no-cache-dir .


FROM ${PYTHON_IMAGE} AS runtime

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PATH="/opt/venv/bin:${PATH}"

# A fixed uid/gid so volume ownership and the compose files' `user:` agree across rebuilds.
RUN groupadd --system --gid 10001 app \
    && useradd --system --no-log-init --uid 10001 --gid app --home-dir /srv/app --shell /usr/sbin/nologin app

COPY --from=builder /opt/venv /opt/venv
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
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--no-server-header", "--no-proxy-headers"]
