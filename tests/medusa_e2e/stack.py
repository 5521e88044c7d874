"""The processes of the end-to-end test, each as ops would run it: a throwaway PostgreSQL cluster, a real
Medusa 2.21 server (installed under .data/ by scripts/medusa_e2e.sh) with the netvalve provider package, the
NetValve sandbox and the service. Every process runs in its own session and is stopped, with its children,
by the stack that started it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from app.repositories.medusa_sql import TABLES_READ
from devtools.pgcluster import Cluster, free_port
from tests.conftest import EUR_MID, ROOT, SERVICE_KEY, WEBHOOK_HEADER, WEBHOOK_SECRET, run_alembic

E2E_DIR = ROOT / ".data" / "medusa-e2e"
APP_DIR = E2E_DIR / "app"
LOG_DIR = E2E_DIR / "logs"
# What a run started, for scripts/medusa_e2e.sh to stop should the test process itself be killed.
STARTED_FILE = LOG_DIR / "started.txt"
ADMIN_EMAIL = "admin@test.local"
ADMIN_PASSWORD = "e2e-admin-password-0123"
MEDUSA_HOOK_SECRET = "e2e-medusa-hook-secret-0123456789"
# The service's saved-card vault key: a fixed test Fernet key (32 url-safe base64 bytes).
SAVED_CARDS_TEST_KEY = "ZTJlLXNhdmVkLWNhcmRzLXRlc3Qta2V5LTAxMjM0NTY="
READER_ROLE = "netvalve_reader"
READER_PASSWORD = "e2e-reader-password-0123"
# Every Medusa table the service reads (app/repositories/medusa_sql.py), and nothing else.
MEDUSA_BOOT_SECONDS = 240.0
SERVICE_BOOT_SECONDS = 60.0
CLI_SECONDS = 900.0
STOP_SECONDS = 20.0


class StackError(RuntimeError):
    """A part of the stack could not be set up; the message says which and where its log is."""


def require_tools() -> None:
    """Node, npm, the installed Medusa app and the built provider package; without them the test fails."""
    missing = [tool for tool in ("node", "npm") if shutil.which(tool) is None]
    if missing:
        raise StackError(f"{', '.join(missing)} not on PATH: the real-Medusa end-to-end test needs Node 20+")
    if not (APP_DIR / "node_modules" / ".bin" / "medusa").exists():
        raise StackError(f"no Medusa app installed in {APP_DIR}: run scripts/medusa_e2e.sh")
    if not (APP_DIR / "node_modules" / "medusa-payment-netvalve" / "dist" / "index.js").exists():
        raise StackError(f"the provider package is not installed in {APP_DIR}: run scripts/medusa_e2e.sh")


@dataclass
class Process:
    """A long-running child in its own process group, logging to a file."""

    name: str
    argv: list[str]
    env: dict[str, str]
    cwd: Path
    log: Path
    popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        with STARTED_FILE.open("a") as started:
            started.write(f"group {self.popen.pid}\n")

    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def stop(self) -> None:
        if self.popen is None:
            return
        # The whole group: `medusa start` and uvicorn may have children of their own.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait(timeout=STOP_SECONDS)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self.popen = None

    def tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def wait_http(url: str, process: Process, seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process.alive():
            raise StackError(f"{process.name} exited before {url} answered:\n{process.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310  (loopback URL)
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.25)
    raise StackError(f"{url} did not answer 200 within {seconds:.0f}s:\n{process.tail()}")


def run_cli(argv: list[str], env: dict[str, str], cwd: Path, log: Path) -> float:
    """Run a one-shot command to completion, logging to ``log``; returns how long it took."""
    started = time.monotonic()
    with log.open("ab") as out:
        result = subprocess.run(
            argv, cwd=cwd, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=CLI_SECONDS, check=False
        )
    if result.returncode != 0:
        text = "\n".join(log.read_text(errors="replace").splitlines()[-40:])
        raise StackError(f"{' '.join(argv)} failed ({result.returncode}):\n{text}")
    return time.monotonic() - started


def uvicorn(app: str, port: int) -> list[str]:
    return [sys.executable, "-m", "uvicorn", app, "--host", "127.0.0.1", "--port", str(port)]


def base_env() -> dict[str, str]:
    return {"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/tmp"), "LANG": "C.UTF-8"}


@dataclass
class E2EStack:
    logs: Path
    cluster: Cluster
    medusa_port: int = field(default_factory=free_port)
    sandbox_port: int = field(default_factory=free_port)
    service_port: int = field(default_factory=free_port)
    medusa: Process | None = None
    sandbox: Process | None = None
    service: Process | None = None
    mode: str | None = None
    timings: dict[str, float] = field(default_factory=dict)
    our_dsn: str = ""

    @property
    def medusa_url(self) -> str:
        return f"http://127.0.0.1:{self.medusa_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    @property
    def service_url(self) -> str:
        return f"http://127.0.0.1:{self.service_port}"

    @property
    def medusa_dsn(self) -> str:
        return self.cluster.dsn("medusa")

    @property
    def reader_dsn(self) -> str:
        return f"postgresql://{READER_ROLE}:{READER_PASSWORD}@127.0.0.1:{self.cluster.port}/medusa"

    @property
    def hook_url(self) -> str:
        return f"{self.medusa_url}/hooks/payment/netvalve_netvalve"

    def medusa_env(self) -> dict[str, str]:
        cors = "http://127.0.0.1"
        return {
            **base_env(),
            "NODE_ENV": "development",
            "DATABASE_URL": self.medusa_dsn,
            "JWT_SECRET": "e2e-jwt-secret-0123456789",
            "COOKIE_SECRET": "e2e-cookie-secret-0123456789",
            "STORE_CORS": cors,
            "ADMIN_CORS": cors,
            "AUTH_CORS": cors,
            "MEDUSA_DISABLE_TELEMETRY": "true",
            "NETVALVE_SERVICE_URL": self.service_url,
            "NETVALVE_SERVICE_API_KEY": SERVICE_KEY,
            "NETVALVE_WEBHOOK_SECRET": MEDUSA_HOOK_SECRET,
        }

    def service_env(self, mode: str) -> dict[str, str]:
        return {
            **base_env(),
            "APP_ENV": "test",
            "LOG_FORMAT": "console",
            "DATABASE_URL": self.our_dsn,
            "MEDUSA_DATABASE_URL": self.reader_dsn,
            "STOREFRONT_AUTH": "publishable_key",
            "NETVALVE_ENVIRONMENT": "sandbox",
            "NETVALVE_API_KEY": "sandbox-api-key",
            "NETVALVE_CLIENT_ID": "sandbox-client",
            "NETVALVE_PAYMENT_API_URL": self.sandbox_url,
            "NETVALVE_HPP_BASE_URL": self.sandbox_url,
            "NETVALVE_BACKOFFICE_API_URL": self.sandbox_url,
            "NETVALVE_MID_ID_EUR": EUR_MID,
            "NETVALVE_CAPTURE_MODE": mode,
            "SERVICE_API_KEYS": SERVICE_KEY,
            "NETVALVE_WEBHOOK_AUTH_HEADER": WEBHOOK_HEADER,
            "NETVALVE_WEBHOOK_AUTH_VALUES": WEBHOOK_SECRET,
            "MEDUSA_WEBHOOK_URL": self.hook_url,
            "MEDUSA_WEBHOOK_SECRET": MEDUSA_HOOK_SECRET,
            "WEBHOOK_WORKER_ENABLED": "true",
            "WEBHOOK_WORKER_POLL_SECONDS": "0.2",
            "WEBHOOK_RETRY_BASE_SECONDS": "0.5",
            "WEBHOOK_RETRY_MAX_SECONDS": "2",
            "RECONCILE_INTERVAL_SECONDS": "0",
            # Every shopper of the suite pays from 127.0.0.1: the per-address payment limit (20 a minute),
            # which the flow tests cover, would refuse a whole suite's payments to one card tester.
            "STOREFRONT_PAYMENT_RATE_LIMIT_PER_ADDRESS": "0",
            "SAVED_CARDS_ENABLED": "true",
            "SAVED_CARDS_ENCRYPTION_KEYS": SAVED_CARDS_TEST_KEY,
        }

    def sandbox_env(self) -> dict[str, str]:
        return {
            **base_env(),
            "SANDBOX_PUBLIC_URL": self.sandbox_url,
            "SANDBOX_WEBHOOK_URL": f"{self.service_url}/api/v1/netvalve/webhook",
            "SANDBOX_WEBHOOK_HEADER_NAME": WEBHOOK_HEADER,
            "SANDBOX_WEBHOOK_HEADER_VALUE": WEBHOOK_SECRET,
        }

    def medusa_cli(self, *args: str) -> float:
        medusa = str(APP_DIR / "node_modules" / ".bin" / "medusa")
        return run_cli([medusa, *args], self.medusa_env(), APP_DIR, self.logs / "medusa-cli.log")

    async def start(self) -> None:
        started = time.monotonic()
        with STARTED_FILE.open("a") as record:
            record.write(f"cluster {self.cluster.data_dir}\n")
        self.cluster.start()
        for name in ("medusa", "netvalve"):
            self.cluster.create_database(name)
        self.our_dsn = self.cluster.dsn("netvalve")
        self.timings["medusa db:migrate"] = self.medusa_cli("db:migrate")
        self.medusa_cli("user", "-e", ADMIN_EMAIL, "-p", ADMIN_PASSWORD)
        await self._create_reader()
        run_alembic(self.our_dsn, "upgrade", "head")

        medusa = str(APP_DIR / "node_modules" / ".bin" / "medusa")
        self.medusa = Process(
            "medusa",
            [medusa, "start", "-H", "127.0.0.1", "-p", str(self.medusa_port)],
            self.medusa_env(),
            APP_DIR,
            self.logs / "medusa.log",
        )
        self.medusa.start()
        self.sandbox = Process(
            "sandbox",
            uvicorn("netvalve_sandbox.main:app", self.sandbox_port),
            self.sandbox_env(),
            ROOT,
            self.logs / "sandbox.log",
        )
        self.sandbox.start()
        wait_http(f"{self.sandbox_url}/_sandbox/health", self.sandbox, SERVICE_BOOT_SECONDS)
        medusa_started = time.monotonic()
        wait_http(f"{self.medusa_url}/health", self.medusa, MEDUSA_BOOT_SECONDS)
        self.timings["medusa start"] = time.monotonic() - medusa_started
        self.timings["stack up"] = time.monotonic() - started

    async def _create_reader(self) -> None:
        """The role the service reads Medusa's database as: it may connect and SELECT its tables, no more."""
        role = READER_ROLE
        conn = await asyncpg.connect(self.medusa_dsn)
        try:
            await conn.execute(
                f"CREATE ROLE {role} LOGIN PASSWORD '{READER_PASSWORD}' NOSUPERUSER NOCREATEDB NOCREATEROLE;"
                f" ALTER ROLE {role} SET default_transaction_read_only = on;"
                f" GRANT CONNECT ON DATABASE medusa TO {role}; GRANT USAGE ON SCHEMA public TO {role};"
                f" GRANT SELECT ON {', '.join(TABLES_READ)} TO {role}"
            )
        finally:
            await conn.close()

    def use_mode(self, mode: str) -> None:
        """Run the service in this capture mode (restarted on a change; its database and ledger stay)."""
        if self.mode == mode and self.service is not None and self.service.alive():
            return
        if self.service is not None:
            self.service.stop()
        self.service = Process(
            f"service ({mode})",
            uvicorn("app.main:app", self.service_port),
            self.service_env(mode),
            ROOT,
            self.logs / "service.log",
        )
        self.service.start()
        wait_http(f"{self.service_url}/ready", self.service, SERVICE_BOOT_SECONDS)
        self.mode = mode

    def stop(self) -> None:
        with ExitStack() as stops:
            stops.callback(STARTED_FILE.unlink, missing_ok=True)
            stops.callback(shutil.rmtree, self.cluster.data_dir.parent, True)
            stops.callback(self.cluster.stop, "immediate")
            for process in (self.medusa, self.sandbox, self.service):
                if process is not None:
                    stops.callback(process.stop)


def new_stack() -> E2EStack:
    """A stack with a fresh log folder (kept after the run) and a cluster in a temporary folder the postgres
    user can reach (a checkout under /root is not)."""
    shutil.rmtree(LOG_DIR, ignore_errors=True)
    LOG_DIR.mkdir(parents=True)
    pg = Path(tempfile.mkdtemp(prefix="netvalve-medusa-e2e-"))
    os.chmod(pg, 0o755)
    return E2EStack(logs=LOG_DIR, cluster=Cluster(pg / "data", free_port()))


def stop_leftovers() -> None:
    """Stop what a killed run left behind: the process groups and the cluster it recorded, nothing else."""
    try:
        lines = STARTED_FILE.read_text().splitlines()
    except OSError:
        return
    for line in lines:
        kind, _, value = line.partition(" ")
        if kind == "group":
            with contextlib.suppress(ProcessLookupError):
                os.killpg(int(value), signal.SIGKILL)
        elif kind == "cluster":
            Cluster(Path(value), 0).stop("immediate")
            shutil.rmtree(Path(value).parent, ignore_errors=True)
    STARTED_FILE.unlink()


if __name__ == "__main__":
    stop_leftovers()
