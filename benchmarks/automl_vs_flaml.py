"""mlsitter ``automl`` against FLAML alone: ``automl_vs_peers.py --peers flaml`` under its earlier name.

    .venv/bin/python benchmarks/automl_vs_flaml.py [--budgets 60 300] [--datasets adult wine ...] [--tool-seeds 0 1]
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from automl_vs_peers import main  # noqa: E402

if __name__ == "__main__":
    main(default_peers=("flaml",))
