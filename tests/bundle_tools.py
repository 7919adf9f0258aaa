"""Tampering with a compliance bundle the way an attacker with the file would: one member's bytes changed."""

from __future__ import annotations

import zipfile
from pathlib import Path


def tamper(bundle: str | Path, member: str, old: bytes, new: bytes) -> None:
    """Rewrite ``bundle`` with ``old`` replaced by ``new`` in ``member`` (every other member kept as it was)."""
    with zipfile.ZipFile(bundle) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    assert old in members[member], f"{old!r} is not in {member}"
    members[member] = members[member].replace(old, new)
    with zipfile.ZipFile(bundle, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
