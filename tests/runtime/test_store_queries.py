"""Run lookups: a run-id prefix or search is matched literally (``%`` and ``_`` are not wildcards); the runs
filters (created between, an input value, a question tag) and orders, on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

import mlsitter
from mlsitter.errors import InputError, RunNotFoundError
from mlsitter.runtime.store import Store

CASES = Path(__file__).parent / "runtime_cases.py"


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


def test_runs_filter_by_time_input_value_and_asked_tag_in_each_order(journal_db):
    store = Store()
    for i, (model, trials) in enumerate((("bank@champion", 1), ("bank@challenger", 10), ("bank@champion", 100))):
        store.create_run(process="p", target="t", inputs={"model": model, "trials": trials, "note": "x_y"},
                         policy="manual", executor="inline", seed=i, run_id=f"f{i}")
        store.update_run(f"f{i}", status="completed", created_at=1000.0 + i * 10, ended_at=1000.0 + i * 10 + 5 - i)

    def ids(**kw) -> list[str]:
        return [r.run_id for r in store.list_runs(**kw)]

    assert ids(since=1010.0, until=1020.0) == ["f1"] and store.count_runs(since=1010.0) == 2
    assert ids(input_value="model=bank@champion") == ["f2", "f0"]
    assert ids(input_value="trials=10") == ["f1"] and ids(input_value="trials=1") == ["f0"]  # whole values only
    assert ids(input_value="note=x_y") == ids() and ids(input_value="note=x%") == []
    assert ids(order="oldest") == ["f0", "f1", "f2"] and ids(order="longest") == ["f0", "f1", "f2"]
    shipping = mlsitter.approve(mlsitter.run(f"{CASES}:release").run_id, resume=True)  # then asks, tagged production
    assert "production" in shipping.waiting["tags"]
    assert store.list_runs(tag="production")[0].run_id == shipping.run_id and ids(tag="fairness") == []
    with pytest.raises(InputError, match="KEY=VALUE"):
        store.list_runs(input_value="trials")
    with pytest.raises(InputError, match="unknown order 'best'"):
        store.list_runs(order="best")
