"""Run lookups: a run-id prefix or search is matched literally (``%`` and ``_`` are not wildcards)."""

from __future__ import annotations

import pytest

from mlsitter.errors import RunNotFoundError
from mlsitter.runtime.store import Store


def _add(store: Store, run_id: str) -> None:
    store.create_run(process="p", target="t", inputs={}, policy="manual", executor="inline", seed=1, run_id=run_id)


def test_prefix_and_search_treat_percent_and_underscore_literally(tmp_path):
    store = Store(tmp_path)
    _add(store, "20260101-000000-abcdef01")
    _add(store, "a_b%c")
    assert store.list_runs(search="%") == []
    assert store.list_runs(search="_") == []
    assert [r.run_id for r in store.list_runs(search="a_b%")] == ["a_b%c"]
    assert store.count_runs(search="2026") == 1
    assert store.get_run("2026").run_id == "20260101-000000-abcdef01"
    with pytest.raises(RunNotFoundError):
        store.get_run("%")
    with pytest.raises(RunNotFoundError):
        store.get_run("2026010_")
