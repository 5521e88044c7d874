"""The README's run command brings up a service whose /health and /ready answer 200, then stops."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from devtools.pgcluster import free_port
from tests.conftest import ROOT


def test_local_stack_starts_answers_ready_and_stops() -> None:
    data = Path(tempfile.mkdtemp(prefix="netvalve-stack-"))
    data.chmod(0o755)
    ports = [free_port(), free_port(), free_port()]
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "devtools.local_stack",
            "--check",
            "--data",
            str(data),
            "--pg-port",
            str(ports[0]),
            "--port",
            str(ports[1]),
            "--sandbox-port",
            str(ports[2]),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "/api/v1/netvalve/hpf/session" in result.stdout
    assert "Ctrl-C stops" in result.stdout
