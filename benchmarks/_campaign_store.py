"""What the crash and load campaigns share: where the store is, and the machine's load for the notes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def store_home(store: Path | str) -> Path:
    """The store location: an ``MLSITTER_HOME`` folder (one SQLite database) today.

    A database URL is the seam for PostgreSQL (``MLSITTER_DB``, a later issue): refused clearly until then."""
    text = str(store)
    if "://" in text:
        raise SystemExit(f"--store {text!r}: only a local SQLite store (a folder) is supported yet; "
                         "PostgreSQL stores come with a later issue")
    path = Path(text).resolve()
    path.mkdir(parents=True, exist_ok=True)
    return path


def scratch_store(prefix: str) -> str:
    """A new temporary store folder whose journal key lives beside it (``XDG_CONFIG_HOME`` for this process
    and its runners), so a campaign neither adds keys to nor depends on the user's ``~/.config/mlsitter``."""
    root = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["XDG_CONFIG_HOME"] = str(root / "config")
    return str(root / "store")


def load_average() -> str:
    """``uptime``'s three load averages, for the benchmark notes (this machine is shared)."""
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"
