"""Throwaway PostgreSQL clusters for tests, the local stack and the benchmark.

PostgreSQL refuses to run as root, so when we are root every server command runs as the ``postgres`` user.
"""

from __future__ import annotations

import argparse
import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

SERVER_USER = "postgres"


def _bindir() -> Path:
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if candidates:
        return Path(candidates[-1])
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    raise RuntimeError("PostgreSQL server binaries not found (looked in /usr/lib/postgresql and PATH)")


def _as_server_user(cmd: list[str]) -> list[str]:
    if os.geteuid() == 0:
        return ["runuser", "-u", SERVER_USER, "--", *cmd]
    return cmd


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass(frozen=True)
class Cluster:
    data_dir: Path
    port: int

    @property
    def admin_dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def dsn(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/{database}"

    def is_running(self) -> bool:
        result = subprocess.run(
            _as_server_user([str(_bindir() / "pg_ctl"), "status", "-D", str(self.data_dir)]),
            capture_output=True,
            check=False,
        )
        return result.returncode == 0

    def start(self, *, durable: bool = False, max_connections: int = 300) -> None:
        """Create the cluster if needed and start it; ``durable=False`` trades crash safety for speed."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(self.data_dir, SERVER_USER, SERVER_USER)
        os.chmod(self.data_dir, 0o700)
        if not (self.data_dir / "PG_VERSION").exists():
            subprocess.run(
                _as_server_user(
                    [
                        str(_bindir() / "initdb"),
                        "-D",
                        str(self.data_dir),
                        "-U",
                        "postgres",
                        "-A",
                        "trust",
                        "-E",
                        "UTF8",
                        "--no-sync",
                    ]
                ),
                check=True,
                capture_output=True,
            )
        if self.is_running():
            return
        options = [
            "-c listen_addresses=127.0.0.1",
            f"-c port={self.port}",
            f"-c unix_socket_directories={self.data_dir}",
            f"-c max_connections={max_connections}",
            "-c shared_buffers=128MB",
        ]
        if not durable:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        subprocess.run(
            _as_server_user(
                [
                    str(_bindir() / "pg_ctl"),
                    "start",
                    "-w",
                    "-t",
                    "60",
                    "-D",
                    str(self.data_dir),
                    "-l",
                    str(self.data_dir / "server.log"),
                    "-o",
                    " ".join(options),
                ]
            ),
            check=True,
            capture_output=True,
        )

    def stop(self, mode: str = "fast") -> None:
        if not self.data_dir.exists() or not self.is_running():
            return
        subprocess.run(
            _as_server_user([str(_bindir() / "pg_ctl"), "stop", "-w", "-m", mode, "-D", str(self.data_dir)]),
            check=True,
            capture_output=True,
        )

    def create_database(self, name: str) -> str:
        subprocess.run(
            [str(_bindir() / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", "postgres", name],
            check=False,
            capture_output=True,
        )
        return self.dsn(name)


def server_can_reach(path: Path) -> bool:
    """Whether the ``postgres`` user can traverse to ``path`` (a checkout under /root cannot be)."""
    if os.geteuid() != 0:
        return True
    probe = subprocess.run(
        ["runuser", "-u", SERVER_USER, "--", "test", "-x", str(path)], capture_output=True, check=False
    )
    return probe.returncode == 0


def wait_for_port(port: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise TimeoutError(f"nothing listens on 127.0.0.1:{port}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("action", choices=["start", "stop", "status"])
    parser.add_argument("--data", required=True, type=Path)
    parser.add_argument("--port", type=int, default=55432)
    parser.add_argument("--database", action="append", default=[])
    args = parser.parse_args(argv)
    cluster = Cluster(args.data.resolve(), args.port)
    if args.action == "start":
        cluster.start(durable=True)
        for name in args.database:
            cluster.create_database(name)
        sys.stdout.write(cluster.admin_dsn + "\n")
    elif args.action == "stop":
        cluster.stop()
    else:
        return 0 if cluster.is_running() else 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
