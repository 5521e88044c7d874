"""The repository's Dockerfile read as stages, for the container and supply-chain tests."""

from __future__ import annotations

import re

from tests.conftest import ROOT

DOCKERFILE = ROOT / "Dockerfile"


def dockerfile_stages() -> dict[str, tuple[str, list[tuple[str, str]]]]:
    """``stage name -> (what it is built FROM, its instructions)``, line continuations joined."""
    joined = re.sub(r"\\\n", " ", DOCKERFILE.read_text(encoding="utf-8"))
    stages: dict[str, tuple[str, list[tuple[str, str]]]] = {}
    current: list[tuple[str, str]] | None = None
    for line in joined.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        keyword, _, arguments = line.strip().partition(" ")
        if keyword.upper() == "FROM":
            base, _, name = arguments.partition(" AS ")
            current = []
            stages[name.strip()] = (base.strip(), current)
        elif current is not None:
            current.append((keyword.upper(), arguments.strip()))
    return stages


def stage_chain(
    stages: dict[str, tuple[str, list[tuple[str, str]]]], name: str, *, follow_copies: bool = True
) -> list[tuple[str, str]]:
    """A stage's instructions after those of the stages it is built on and, with ``follow_copies``, of the
    stages it copies from (everything that decides what its files are)."""
    base, instructions = stages[name]
    chain = stage_chain(stages, base, follow_copies=follow_copies) if base in stages else []
    for keyword, arguments in instructions:
        if follow_copies and keyword == "COPY" and (source := re.search(r"--from=(\S+)", arguments)):
            chain += stage_chain(stages, source.group(1))
        chain.append((keyword, arguments))
    return chain
