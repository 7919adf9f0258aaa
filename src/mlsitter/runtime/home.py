"""Where mlsitter keeps its state: ``$MLSITTER_HOME`` or ``./.mlsitter``."""

from __future__ import annotations

import os
from pathlib import Path


def mlsitter_home() -> Path:
    """The state folder (journal database, artifacts, run work folders); not created here."""
    return Path(os.environ.get("MLSITTER_HOME") or ".mlsitter").resolve()
