"""Every compliance checkpoint a built-in process names exists, so no run fails on a misspelt one."""

from __future__ import annotations

import re
from pathlib import Path

import mlsitter.processes
from mlsitter.runtime.checkpoints import CHECKPOINTS, PHASES

SOURCES = Path(mlsitter.processes.__file__).parent


def test_every_checkpoint_named_by_a_process_is_in_the_catalogue():
    named = {(path.relative_to(SOURCES).as_posix(), name) for path in SOURCES.rglob("*.py")
             for given in re.findall(r'checkpoint=("[^"]+"|\([^)]*\))', path.read_text(encoding="utf-8"))
             for name in re.findall(r'"([^"]+)"', given)}
    assert ("planning/scoping/process.py", "privacy") in named  # the sign-off lists the personal data excluded
    assert len({path for path, _ in named}) >= 8  # the processes that tag their gates and reviews
    unknown = sorted((path, name) for path, name in named if name not in CHECKPOINTS)
    assert unknown == [], f"unknown checkpoints (known: {', '.join(CHECKPOINTS)})"
    assert {c.phase for c in CHECKPOINTS.values()} == {p for p, _ in PHASES}  # every CRISP-DM phase is served
