"""The ``data-validation`` process end to end: contract inferred then enforced, schema-change
breakpoint approved and rejected, several sources at once, quarantine, versions, gates, bad files."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

import mlsitter
import realdata
from mlsitter.ml.data._quarantine import REASON_COLUMN


def _verify(run_id: str) -> None:
    report = mlsitter.Store().verify(run_id)
    assert report.ok, report.problems


def _events(run_id: str) -> list[str]:
    store = mlsitter.Store()
    rows = store.conn.execute("SELECT type, data FROM events WHERE run_id=? ORDER BY seq", (run_id,)).fetchall()
    return [f"{t} {d}" for t, d in rows]


@pytest.fixture
def bike_csv(tmp_path: Path) -> Path:
    path = tmp_path / "hour.csv"
    realdata.bike_hour().to_csv(path, index=False)
    return path


def test_first_run_infers_contract_then_same_data_gives_same_version(bike_csv, mlsitter_home):
    inputs = dict(data=str(bike_csv), timestamp="dteday + hr hours", keys="instant", rules="casual + registered == cnt")
    first = mlsitter.run("data-validation", approve="auto", **inputs)
    assert first.status == "completed", first.error
    r = first.result
    assert r.contract_path == str(mlsitter_home / "datasets" / "hour" / "contract.yaml") and Path(r.contract_path).is_file()
    assert r.rows_in == r.clean_rows == 17_379 and r.quarantined_rows == 0
    assert r.scores["timeliness"] == pytest.approx(100 * 17_379 / 17_544, abs=1e-3)  # the 165 missing hours
    assert r.scores["consistency"] == 100.0 and r.gate_failures == []
    assert r.dataset_version.startswith("dv-") and r.parent_version is None
    assert len(pd.read_parquet(r.clean_path)) == 17_379
    manifest = json.loads(Path(r.manifest_path).read_text())
    assert manifest["rows"] == 17_379 and manifest["sources"][0]["name"] == "hour" and len(manifest["schema_sha256"]) == 64
    journal = "\n".join(_events(first.run_id))
    assert "contract.yaml" in journal and "clean.parquet" in journal and "validation-report.html" in journal
    assert "manifest.json" in journal and "quarantine.parquet" not in journal

    second = mlsitter.run("data-validation", approve="auto", **inputs)
    assert second.status == "completed"
    assert second.result.dataset_version == r.dataset_version and second.result.schema_changes == []
    _verify(first.run_id)
    _verify(second.run_id)


def _adult_versions(tmp_path: Path) -> tuple[Path, Path]:
    adult = realdata.adult().head(3000)
    old = tmp_path / "adult-v1.csv"
    adult.to_csv(old, index=False)
    new = tmp_path / "adult-v2.csv"
    changed = adult.assign(source="web")
    changed.loc[changed.index[:3], "race"] = "Unknown-race"
    changed.to_csv(new, index=False)
    return old, new


def test_schema_change_breakpoint_approved_updates_the_contract(tmp_path):
    old, new = _adult_versions(tmp_path)
    contract = tmp_path / "contracts" / "adult.yaml"
    first = mlsitter.run("data-validation", approve="auto", data=str(old), name="adult", contract=str(contract))
    assert first.status == "completed" and contract.is_file()
    assert "Unknown-race" not in contract.read_text()

    waiting = mlsitter.run("data-validation", data=str(new), name="adult", contract=str(contract))
    assert waiting.status == "waiting"
    question = waiting.waiting["question"]
    assert "+ column source" in question and "~ race: new categories 'Unknown-race'" in question

    done = mlsitter.approve(waiting.run_id, by="dana", resume=True)
    assert done.status == "completed", done.error
    text = contract.read_text()
    assert "Unknown-race" in text and "source:" in text
    assert done.result.quarantined_rows == 0 and done.result.schema_changes
    assert done.result.parent_version == first.result.dataset_version
    assert done.result.lineage == [done.result.dataset_version, first.result.dataset_version]
    journal = "\n".join(_events(waiting.run_id))
    assert "breakpoint.answered" in journal and '"by":"dana"' in journal.replace(' ', '') and "updated after approval by dana" in journal
    _verify(waiting.run_id)


def test_schema_change_rejected_fails_and_keeps_the_contract(tmp_path):
    old, new = _adult_versions(tmp_path)
    contract = tmp_path / "adult.json"
    assert mlsitter.run("data-validation", approve="auto", data=str(old), contract=str(contract)).status == "completed"
    before = contract.read_text()
    waiting = mlsitter.run("data-validation", data=str(new), contract=str(contract))
    assert waiting.status == "waiting"
    failed = mlsitter.reject(waiting.run_id, feedback="upstream bug, do not accept", by="lee", resume=True)
    assert failed.status == "failed"
    assert "schema change rejected by lee (upstream bug, do not accept)" in failed.error
    assert contract.read_text() == before
    _verify(waiting.run_id)


def test_several_sources_read_concurrently_and_a_bad_one_skipped_or_fatal(tmp_path):
    bank = realdata.bank(full=False)
    parts = [bank.iloc[:1500], bank.iloc[1500:3000], bank.iloc[3000:]]
    parts[0].to_csv(tmp_path / "a.csv", sep=";", index=False)
    parts[1].to_parquet(tmp_path / "b.parquet", index=False)
    with sqlite3.connect(tmp_path / "c.db") as con:
        parts[2].to_sql("calls", con, index=False)
    (tmp_path / "broken.csv").write_bytes(b"")
    sources = [str(tmp_path / "a.csv"), str(tmp_path / "b.parquet"), str(tmp_path / "c.db")]
    ok = mlsitter.run("data-validation", approve="auto", data=sources, name="bank")
    assert ok.status == "completed", ok.error
    assert ok.result.rows_in == len(bank) == 4119
    manifest = json.loads(Path(ok.result.manifest_path).read_text())
    assert [(s["name"], s["format"], s["rows"]) for s in manifest["sources"]] == [("a", "csv", 1500), ("b", "parquet", 1500), ("c", "sqlite", 1119)]
    journal = "\n".join(_events(ok.run_id))
    assert journal.count("read_one_source") >= 3

    skipped = mlsitter.run("data-validation", approve="auto", data=sources + [str(tmp_path / "broken.csv")],
                           name="bank", on_source_error="skip")
    assert skipped.status == "completed"
    assert skipped.result.failed_sources[0]["name"] == "broken" and "is empty" in skipped.result.failed_sources[0]["error"]
    assert skipped.result.dataset_version == ok.result.dataset_version

    pooled = mlsitter.run("data-validation", approve="auto", data=sources, name="bank", executor="process")  # truly parallel reads
    assert pooled.status == "completed" and pooled.result.dataset_version == ok.result.dataset_version

    fatal = mlsitter.run("data-validation", approve="auto", data=sources + [str(tmp_path / "broken.csv")], name="bank")
    assert fatal.status == "failed" and "source 'broken'" in fatal.error and "is empty" in fatal.error
    _verify(fatal.run_id)


def test_quarantine_and_gates_on_measured_values(tmp_path):
    adult = realdata.adult().head(4000)
    data = tmp_path / "adult.csv"
    adult.to_csv(data, index=False)
    contract = tmp_path / "adult.yaml"
    assert mlsitter.run("data-validation", approve="auto", data=str(data), contract=str(contract)).status == "completed"
    contract.write_text(contract.read_text().replace("max_value: 90", "max_value: 70"))  # a stricter hand-edited rule
    too_old = int((adult["age"] > 70).sum())
    rules = "capital-loss <= capital-gain + 5000"

    warn = mlsitter.run("data-validation", approve="auto", data=str(data), contract=str(contract), rules=rules,
                        min_quality=90, min_dimension=90)
    assert warn.status == "completed", warn.error
    r = warn.result
    assert r.quarantined_rows == too_old + 0 and r.clean_rows == 4000 - too_old
    q = pd.read_parquet(r.quarantine_path)
    assert q[REASON_COLUMN].str.contains("age: in_range").all() and (q["age"] > 70).all()
    assert r.scores["validity"] == pytest.approx(100 * (1 - too_old / 4000), abs=1e-3)

    failing = mlsitter.run("data-validation", approve="auto", data=str(data), contract=str(contract),
                           min_dimension=90, min_quality=99.9, on_gate_fail="fail")
    assert failing.status == "failed"
    assert "gate 'quality-overall' failed" in failing.error and "required >= 99.9" in failing.error
    journal = "\n".join(_events(failing.run_id))
    assert "validation-report.html" in journal  # the report with the remediation plan is kept
    report = next(Path(p) for p in (mlsitter_home_dir() / "runs").rglob("validation-report.html") if failing.run_id in str(p))
    assert "Remediation plan" in report.read_text()
    _verify(failing.run_id)


def mlsitter_home_dir() -> Path:
    return mlsitter.Store().home


@pytest.mark.parametrize("case, inputs, message", [
    ("missing", {}, "does not exist"),
    ("empty", {}, "is empty (0 bytes)"),
    ("binary", {}, "binary"),
    ("semicolon", {"delimiter": ","}, "looks ';'-separated"),
    ("absent-key", {"keys": "instnt"}, "keys: column 'instnt' (did you mean 'instant'?)"),
    ("absent-rule-column", {"rules": "casual <= total"}, "column 'total' is not in the data"),
])
def test_bad_input_fails_the_run_with_a_clear_message(tmp_path, case, inputs, message):
    path = tmp_path / f"{case}.csv"
    sample = realdata.bike_hour().head(100)
    if case == "empty":
        path.write_bytes(b"")
    elif case == "binary":
        path.write_bytes(bytes(range(256)) * 4)
    elif case == "semicolon":
        sample.to_csv(path, index=False, sep=";")
    elif case != "missing":
        sample.to_csv(path, index=False)
    handle = mlsitter.run("data-validation", approve="auto", data=str(path), **inputs)
    assert handle.status == "failed"
    assert message in handle.error
    _verify(handle.run_id)


def test_data_validation_from_the_cli(bike_csv):
    from mlsitter.cli import main

    result = CliRunner().invoke(main, ["run", "data-validation", "-i", f"data={bike_csv}", "-i", "timestamp=dteday + hr hours",
                                       "-i", "max_age=36h", "-i", "on_gate_fail=warn", "--approve", "auto", "--json"],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout)
    handle = mlsitter.get(out["run_id"])
    # 2012 data judged against today's clock: stale, so timeliness is 0 and its gate warns
    assert handle.result.scores["timeliness"] == 0.0 and "timeliness" in handle.result.gate_failures
    verify = CliRunner().invoke(main, ["verify", out["run_id"]])
    assert verify.exit_code == 0 and "OK" in verify.stdout
