"""The runs list's gate counts read from the journal (warned and overridden gates are not failures) against the
runs row's counts (every missed threshold counted failed): server time of the same pages on the same store of
10,000 runs and 1,000,000 events (dashboard_perf's), the two alternated ABBA over 4 rounds of 9 requests.

    .venv/bin/python benchmarks/dashboard_gate_counts.py
"""

from __future__ import annotations

import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from dashboard_perf import TOKEN, build_store, time_requests  # noqa: E402

URLS = ("/runs", "/runs?page=150", "/runs?process=training&per=200")


def row_counts(store: Any, runs: list[Any]) -> dict[str, Any]:
    """The counts as the runs row holds them (the peer: what the list showed before)."""
    from mlsitter.dashboard import queries

    return {r.run_id: queries.GateCounts(passed=r.gates_passed, failed=r.gates_failed) for r in runs}


def main() -> None:
    from fastapi.testclient import TestClient

    from mlsitter.dashboard import create_app, queries

    store, _ = build_store(Path(tempfile.mkdtemp()), 10_000, 1_000_000, 5_000)
    client = TestClient(create_app(store, TOKEN, resume_on_answer=False), base_url="http://127.0.0.1:8765")
    ways = {"journal": queries.gate_counts, "row": row_counts}
    times: dict[str, dict[str, list[float]]] = {w: {u: [] for u in URLS} for w in ways}
    for rnd in range(4):
        for way in (["journal", "row"] if rnd in (0, 3) else ["row", "journal"]):
            queries.gate_counts = ways[way]  # type: ignore[assignment]
            for url in URLS:
                times[way][url].append(time_requests(client, url, 9)["server_median_ms"])
    queries.gate_counts = ways["journal"]  # type: ignore[assignment]
    for url in URLS:
        j, r = statistics.median(times["journal"][url]), statistics.median(times["row"][url])
        print(f"{url:35s} journal counts {j:7.1f} ms   row counts {r:7.1f} ms   ratio {j / r:.2f}")


if __name__ == "__main__":
    main()
