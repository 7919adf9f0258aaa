"""What the crash and load campaigns share: where the store is, and the machine's load for the notes."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from mlsitter.runtime.dialects import DB_ENV, is_postgres_url, redact


def store_home(store: Path | str) -> Path:
    """The store's home folder. ``store`` is an ``MLSITTER_HOME`` folder (its SQLite database inside), or a
    ``postgresql://`` URL: then ``MLSITTER_DB`` names it for this process and the runners it starts, and the
    home, which keeps the artifact files, is a new temporary folder."""
    text = str(store)
    if "://" in text:
        if not is_postgres_url(text):
            raise SystemExit(f"--store {redact(text)!r}: expected a folder (SQLite) or a postgresql:// URL")
        os.environ[DB_ENV] = text
        return Path(tempfile.mkdtemp(prefix="mlsitter-campaign-home-"))
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
