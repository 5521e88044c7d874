"""Supply chain: the lock files agree with pyproject.toml, every third-party import is a declared
dependency, and the production image gets the service without the sandbox, installed from hashes only.

Offline: the lock files are read, never re-resolved. To change a dependency, edit pyproject.toml and run
the ``uv pip compile`` commands in the README's "Production hygiene" section."""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from dataclasses import dataclass
from importlib.metadata import packages_distributions
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

from tests.conftest import ROOT
from tests.support.dockerfile import dockerfile_stages, stage_chain

PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
DEV_LOCK = ROOT / "requirements-dev.lock"
BUILD_LOCK = ROOT / "requirements-build.lock"
PROJECT = "netvalve-medusa-service"
RUNTIME_DIRS = ("app", "netvalve_sandbox", "alembic")
DEV_DIRS = ("tests", "devtools", "bench")
# Markers of the platform the service and CI run on (Linux, CPython 3.11).
LINUX_311 = {"python_version": "3.11", "sys_platform": "linux", "platform_system": "Linux", "extra": ""}

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?==([^ ;\\]+)")


@dataclass(frozen=True)
class Locked:
    version: Version
    hashes: int
    direct: bool


def read_lock(text: str) -> dict[str, Locked]:
    """``name -> Locked`` for each pinned entry; ``direct`` when uv notes it comes from pyproject.toml."""
    entries: dict[str, Locked] = {}
    current: str | None = None
    for line in text.splitlines():
        if match := _PIN.match(line):
            current = canonicalize_name(match.group(1))
            entries[current] = Locked(Version(match.group(3)), 0, False)
        elif current is not None and line.strip().startswith("--hash=sha256:"):
            entry = entries[current]
            entries[current] = Locked(entry.version, entry.hashes + 1, entry.direct)
        elif current is not None and f"{PROJECT} (pyproject.toml)" in line:
            entry = entries[current]
            entries[current] = Locked(entry.version, entry.hashes, True)
    return entries


def declared(pyproject: dict[str, Any], *, dev: bool) -> list[Requirement]:
    requirements = [Requirement(r) for r in pyproject["project"]["dependencies"]]
    if dev:
        requirements += [Requirement(r) for r in pyproject["project"]["optional-dependencies"]["dev"]]
    return requirements


def disagreements(
    requirements: list[Requirement], lock: dict[str, Locked], *, check_direct: bool
) -> list[str]:
    """What a lock file and the requirements it was compiled from disagree on; empty when they agree."""
    problems = []
    names = set()
    for requirement in requirements:
        name = canonicalize_name(requirement.name)
        names.add(name)
        if requirement.marker is not None and not requirement.marker.evaluate(LINUX_311):
            continue
        locked = lock.get(name)
        if locked is None:
            problems.append(f"{requirement}: declared but not in the lock")
        elif not requirement.specifier.contains(locked.version, prereleases=True):
            problems.append(f"{requirement}: the lock pins {locked.version}")
    if check_direct:
        problems += [
            f"{name}: locked as a dependency of pyproject.toml, which no longer declares it"
            for name, locked in lock.items()
            if locked.direct and name not in names
        ]
    problems += [f"{name}: no hash" for name, locked in lock.items() if locked.hashes == 0]
    return problems


def load_pyproject(path: Path = PYPROJECT) -> dict[str, Any]:
    return tomllib.loads(path.read_text(encoding="utf-8"))


class TestLockFiles:
    def test_the_runtime_lock_matches_the_dependencies(self) -> None:
        lock = read_lock(LOCK.read_text(encoding="utf-8"))
        assert disagreements(declared(load_pyproject(), dev=False), lock, check_direct=True) == []

    def test_the_dev_lock_matches_the_dependencies_and_the_dev_extra(self) -> None:
        lock = read_lock(DEV_LOCK.read_text(encoding="utf-8"))
        assert disagreements(declared(load_pyproject(), dev=True), lock, check_direct=True) == []

    def test_the_build_lock_matches_the_build_system(self) -> None:
        requirements = [Requirement(r) for r in load_pyproject()["build-system"]["requires"]]
        lock = read_lock(BUILD_LOCK.read_text(encoding="utf-8"))
        assert disagreements(requirements, lock, check_direct=False) == []

    def test_what_ci_tests_is_what_production_installs(self) -> None:
        runtime = read_lock(LOCK.read_text(encoding="utf-8"))
        dev = read_lock(DEV_LOCK.read_text(encoding="utf-8"))
        build = read_lock(BUILD_LOCK.read_text(encoding="utf-8"))
        for other in (runtime, build):
            assert {name: entry.version for name, entry in other.items()} == {
                name: dev[name].version for name in other
            }

    @pytest.mark.parametrize(
        ("edit", "name", "problem"),
        [
            (lambda deps: [*deps, "requests>=2.31,<3"], "requests", "declared but not in the lock"),
            (
                lambda deps: [d if not d.startswith("fastapi") else "fastapi>=99,<100" for d in deps],
                "fastapi",
                "the lock pins",
            ),
            (
                lambda deps: [d for d in deps if not d.startswith("alembic")],
                "alembic",
                "which no longer declares it",
            ),
        ],
    )
    def test_the_check_fails_when_pyproject_changes_without_a_new_lock(
        self, edit: Any, name: str, problem: str
    ) -> None:
        pyproject = load_pyproject()
        pyproject["project"]["dependencies"] = edit(pyproject["project"]["dependencies"])
        lock = read_lock(LOCK.read_text(encoding="utf-8"))
        found = disagreements(declared(pyproject, dev=False), lock, check_direct=True)
        assert [p for p in found if p.startswith(name) and problem in p], found


def third_party_imports(directory: Path) -> dict[str, set[str]]:
    """Top-level modules imported anywhere under ``directory`` that are neither stdlib nor local files."""
    local = {path.stem for path in ROOT.rglob("*.py") if ".venv" not in path.parts} | {
        path.name for path in ROOT.iterdir() if path.is_dir()
    }
    found: dict[str, set[str]] = {}
    for path in directory.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top not in local:
                    found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def undeclared(directories: tuple[str, ...], requirements: list[Requirement]) -> dict[str, str]:
    names = {canonicalize_name(r.name) for r in requirements}
    distributions = packages_distributions()
    missing = {}
    for directory in directories:
        for module, files in third_party_imports(ROOT / directory).items():
            providers = {canonicalize_name(d) for d in distributions.get(module, [])}
            if not providers & names:
                missing[module] = f"{sorted(providers) or 'not installed'} imported by {sorted(files)[0]}"
    return missing


class TestDeclaredImports:
    def test_the_service_and_the_sandbox_import_only_runtime_dependencies(self) -> None:
        assert undeclared(RUNTIME_DIRS, declared(load_pyproject(), dev=False)) == {}

    def test_tests_devtools_and_bench_import_only_declared_dependencies(self) -> None:
        assert undeclared(DEV_DIRS, declared(load_pyproject(), dev=True)) == {}

    def test_the_check_sees_an_undeclared_import(self) -> None:
        # python-dotenv was imported by app/core/config.py for a long time without being declared.
        requirements = [r for r in declared(load_pyproject(), dev=False) if r.name != "python-dotenv"]
        assert "dotenv" in undeclared(("app",), requirements)


class TestImages:
    def test_prod_is_the_default_target_and_dev_exists(self) -> None:
        stages = dockerfile_stages()
        assert list(stages)[-1] == "prod"
        assert "dev" in stages

    def test_nothing_of_the_sandbox_or_the_dev_tools_reaches_the_prod_image(self) -> None:
        chain = stage_chain(dockerfile_stages(), "prod")
        copied = {
            source
            for keyword, arguments in chain
            if keyword == "COPY" and "--from" not in arguments
            for source in arguments.split()[:-1]
        }
        assert copied == {
            "requirements-build.lock",
            "requirements.lock",
            "pyproject.toml",
            "app/",
            "alembic.ini",
            "alembic/",
        }
        runs = " ".join(arguments for keyword, arguments in chain if keyword == "RUN")
        assert "requirements-dev.lock" not in runs
        assert "[dev]" not in runs

    def test_every_install_in_both_images_is_from_a_lock_with_hashes_or_a_local_wheel(self) -> None:
        stages = dockerfile_stages()
        for target in ("prod", "dev"):
            for keyword, arguments in stage_chain(stages, target):
                for command in arguments.split("&&") if keyword == "RUN" else []:
                    options = set(command.split())
                    if "install" in options:
                        from_lock = {"--require-hashes", "-r"} <= options
                        assert from_lock or {"--no-index", "--no-deps"} <= options, command
                    if "wheel" in options:
                        assert {"--no-build-isolation", "--no-deps"} <= options, command

    def test_the_dev_image_keeps_the_sandbox(self) -> None:
        chain = stage_chain(dockerfile_stages(), "dev")
        assert ("COPY", "netvalve_sandbox/ netvalve_sandbox/") in chain

    def test_the_wheel_the_prod_image_installs_has_no_sandbox(self, tmp_path: Path) -> None:
        _, instructions = dockerfile_stages()["prod-builder"]
        source = tmp_path / "build"
        source.mkdir()
        for keyword, arguments in instructions:
            if keyword == "COPY":
                origin, _ = arguments.split()
                target = source / origin.rstrip("/")
                if origin.endswith("/"):
                    shutil.copytree(ROOT / origin, target, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(ROOT / origin, target)
        [run] = [arguments for keyword, arguments in instructions if keyword == "RUN"]
        rewrite, build, install = (step.strip() for step in run.split("&&"))
        assert rewrite.startswith("sed ")
        assert build.startswith("pip wheel ")
        assert install.startswith("pip install ")
        subprocess.run(["sh", "-c", rewrite], cwd=source, check=True, timeout=30)
        subprocess.run(
            [
                sys.executable,
                "-m",
                "pip",
                "wheel",
                "--no-deps",
                "--no-build-isolation",
                "-q",
                "-w",
                "wheels",
                ".",
            ],
            cwd=source,
            check=True,
            timeout=300,
            capture_output=True,
        )
        [wheel] = (source / "wheels").glob("*.whl")
        with zipfile.ZipFile(wheel) as archive:
            names = archive.namelist()
            [entry_points] = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
            scripts = archive.read(entry_points).decode()
        packages = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
        assert packages == {"app"}
        assert "app/main.py" in names
        assert "netvalve_sandbox" not in scripts
        assert "netvalve-service = app.cli:main" in scripts
