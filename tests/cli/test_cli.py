"""The command line as a user drives it: exit codes, tables, answers, errors without tracebacks."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from mlsitter import Store
from mlsitter.cli import main

CASES = Path(__file__).parents[1] / "runtime" / "runtime_cases.py"


def cli(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def run_id_of(result) -> str:
    return json.loads(result.stdout)["run_id"]


def test_run_waiting_exit_code_then_approve_and_resume(tmp_path):
    counter = tmp_path / "c"
    res = cli("run", f"{CASES}:wait-then-steps", "-i", f"counter={counter}", "-i", "n=2", "--json")
    assert res.exit_code == 3
    rid = run_id_of(res)
    assert json.loads(res.stdout)["waiting"]["question"] == "Start the work?"
    status = cli("status", rid)
    assert status.exit_code == 3 and "waiting for: approval: Start the work?" in status.stdout
    ans = cli("approve", rid, "--by", "dana")
    assert ans.exit_code == 0 and "approved" in ans.stdout
    done = cli("resume", rid, "--json")
    assert done.exit_code == 0 and json.loads(done.stdout)["status"] == "completed"
    ver = cli("verify", rid)
    assert ver.exit_code == 0 and "OK" in ver.stdout


def test_reject_with_feedback_and_resume_in_one_command():
    res = cli("run", f"{CASES}:review", "--json")
    rid = run_id_of(res)
    out = cli("reject", rid, "--feedback", "exclude: fnlwgt", "--resume", "--json")
    assert out.exit_code == 3
    assert json.loads(out.stdout)["waiting"]["context"]["attempt"] == 2
    done = cli("approve", rid, "--resume", "--json")
    assert done.exit_code == 0
    assert json.loads(done.stdout)["result"]["feedbacks"] == [None, "exclude: fnlwgt"]


def test_status_shows_every_gate_with_value_and_threshold():
    res = cli("run", f"{CASES}:gated", "-i", "value=0.3", "-i", "on_fail=ask", "--json")
    rid = run_id_of(res)
    cli("approve", rid, "--by", "erin", "--feedback", "ok for now", "--resume")
    status = cli("status", rid, "--json")
    gates = json.loads(status.stdout)["gates"]
    assert gates == [{"key": "2", "name": "quality", "value": 0.3, "operator": ">=", "threshold": 0.5,
                      "passed": False, "on_fail": "ask", "overridden_by": "erin", "outcome": "overridden"}]
    table = cli("status", rid).stdout
    assert "quality" in table and "0.3" in table and ">= 0.5" in table and "overridden" in table


def test_failed_gate_exit_code_and_message():
    res = cli("run", f"{CASES}:gated", "-i", "value=0.1")
    assert res.exit_code == 1
    assert "gate 'quality' failed: measured 0.1, required >= 0.5" in res.stdout


def test_retry_continues_a_failed_run_and_journals_who_and_why(tmp_path):
    counter, flag = tmp_path / "c", tmp_path / "upstream.csv"
    res = cli("run", f"{CASES}:needs-file", "-i", f"counter={counter}", "-i", f"flag={flag}", "--json")
    assert res.exit_code == 1
    rid = run_id_of(res)
    not_yet = cli("retry", rid, "--json")  # still missing: fails again, and can be retried again
    assert not_yet.exit_code == 1 and "is not there yet" in json.loads(not_yet.stdout)["error"]
    flag.write_text("here")
    done = cli("retry", rid, "--reason", "file restored", "--by", "Ops Desk", "--json")
    assert done.exit_code == 0 and json.loads(done.stdout)["status"] == "completed"
    assert counter.read_text().split() == ["1", "2"]
    last = Store().events(rid, types=("run.retried",))[-1].data
    assert (last["reason"], last["claimed_by"]) == ("file restored", "Ops Desk") and last["identity"]["auth"] == "os"
    again = CliRunner().invoke(main, ["retry", rid])
    assert again.exit_code == 2 and "only a failed run can be retried" in again.output


def test_inputs_file_yaml(tmp_path):
    counter = tmp_path / "c"
    inputs = tmp_path / "inputs.yaml"
    inputs.write_text(f"counter: {counter}\nn: 3\n")
    res = cli("run", f"{CASES}:steps", "--inputs", str(inputs), "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["result"] == {"total": 5}


def test_seed_option_is_the_process_seed_input_unless_given():
    assert json.loads(cli("run", f"{CASES}:seeded", "--seed", "3", "--json").stdout)["result"]["input"] == 3
    given = cli("run", f"{CASES}:seeded", "--seed", "3", "-i", "seed=5", "--json")
    assert json.loads(given.stdout)["result"]["input"] == 5


def test_tasks_pending_and_post_validates_against_schema(tmp_path):
    res = cli("run", f"{CASES}:external", "--json")
    rid = run_id_of(res)
    pending = json.loads(cli("tasks", "pending", "--json").stdout)
    assert pending[0]["run_id"] == rid and pending[0]["schema"]["required"] == ["label", "score"]
    assert pending[0]["spec"]["question"] == "label this row"
    bad = CliRunner().invoke(main, ["tasks", "post", rid, "--value", '{"label": "x"}'])
    assert bad.exit_code == 2 and "'score' is a required property" in bad.stderr
    good = cli("tasks", "post", rid, "--value", '{"label": "x", "score": 1}', "--resume", "--json")
    assert good.exit_code == 0 and json.loads(good.stdout)["result"] == {"got": {"label": "x", "score": 1}}


def test_runs_events_artifacts_listings(tmp_path):
    rid = run_id_of(cli("run", f"{CASES}:review", "--json"))
    runs = json.loads(cli("runs", "--json").stdout)
    assert runs[0]["run_id"] == rid and runs[0]["status"] == "waiting"
    events = json.loads(cli("events", rid, "--json").stdout)
    assert [e["type"] for e in events][:2] == ["run.created", "run.started"]
    arts = json.loads(cli("artifacts", rid, "--json").stdout)
    assert arts[0]["name"] == "report-1.html" and Path(arts[0]["path"]).exists()
    assert "waiting" in cli("runs").stdout
    other = run_id_of(cli("run", f"{CASES}:steps", "-i", f"counter={tmp_path / 'c.txt'}", "-i", "n=2", "--json"))
    picked = json.loads(cli("runs", "--input", "n=2", "--json").stdout)
    assert [r["run_id"] for r in picked] == [other]
    assert [r["run_id"] for r in json.loads(cli("runs", "--order", "oldest", "--json").stdout)] == [rid, other]
    bad = CliRunner().invoke(main, ["runs", "--since", "yesterday"])
    assert bad.exit_code == 2 and "since must be a date as YYYY-MM-DD; got 'yesterday'" in bad.output


def test_verify_fails_with_exit_4_after_tampering():
    import sqlite3

    from mlsitter import Store

    rid = run_id_of(cli("run", f"{CASES}:gated", "-i", "value=0.9", "--json"))
    with sqlite3.connect(Store().db_path) as conn:
        conn.execute("UPDATE events SET data=replace(data,'\"quality\"','\"q\"') WHERE run_id=? AND type='gate.evaluated'",
                     (rid,))
    res = cli("verify", rid)
    assert res.exit_code == 4 and "event #5 (gate.evaluated)" in res.stdout and "modified" in res.stdout


@pytest.mark.parametrize(
    "args, message",
    [
        (["run", "no-such-process"], "unknown process 'no-such-process'"),
        (["run", "not/a/file.py:fn"], "does not exist"),
        (["run", f"{CASES}:nothing_here"], "has no function 'nothing_here'"),
        (["run", f"{CASES}:steps"], "needs the input 'counter'"),
        (["run", f"{CASES}:steps", "-i", "counter=x", "-i", "n=ten"], "must be an integer; got 'ten'"),
        (["run", f"{CASES}:steps", "-i", "novalue"], "expects KEY=VALUE"),
        (["status", "nonexistent-run"], "no run with id 'nonexistent-run'"),
        (["approve", "nonexistent-run"], "no run with id"),
    ],
)
def test_user_errors_are_one_line_without_traceback(args, message):
    proc = subprocess.run([sys.executable, "-m", "mlsitter", *args], capture_output=True, text=True)
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_corrupt_database_is_a_clear_error(mlsitter_home):
    mlsitter_home.mkdir(parents=True, exist_ok=True)
    (mlsitter_home / "mlsitter.db").write_bytes(b"this is not a database" * 100)
    proc = subprocess.run([sys.executable, "-m", "mlsitter", "runs"], capture_output=True, text=True)
    assert proc.returncode == 4
    assert "not a valid SQLite file" in proc.stderr and "Traceback" not in proc.stderr


def test_json_output_prints_dataclass_results_as_plain_objects(tmp_path):
    proc = tmp_path / "dc.py"
    proc.write_text(
        "from dataclasses import dataclass\n"
        "from mlsitter import process\n"
        "@dataclass\n"
        "class Out:\n    score: float\n    label: str\n"
        "@process('dc-result')\n"
        "def dc_result(ctx) -> Out:\n    return Out(0.5, 'ok')\n"
    )
    res = cli("run", f"{proc}:dc-result", "--json")
    assert res.exit_code == 0 and json.loads(res.stdout)["result"] == {"score": 0.5, "label": "ok"}


def test_describe_lists_every_input_with_type_default_and_meaning():
    from mlsitter.runtime.definitions import resolve
    from mlsitter.runtime.inputs import input_specs

    res = cli("describe", "training")
    assert res.exit_code == 0, res.output
    lines = res.stdout.splitlines()
    assert lines[0].startswith("training") and "phase execution" in lines[0]
    assert resolve("training").description in res.stdout
    for spec in input_specs(resolve("training").fn):
        row = next((line for line in lines if line.split() and line.split()[0] == spec.name), None)
        assert row is not None, f"input {spec.name!r} is not listed"
        assert spec.type_text.split()[0] in row and spec.doc.split()[0] in row
        assert ("required" if spec.required else repr(spec.default)) in row
    folds = next(line for line in lines if line.split() and line.split()[0] == "folds")
    assert "int in [2, inf)" in folds and " 5 " in folds and "cross-validation folds of each trial" in folds
    metric = next(line for line in lines if line.split() and line.split()[0] == "metric")
    assert "one of 'auto', ''" in metric and "'auto'" in metric


def test_run_help_names_the_inputs_of_the_process_given():
    res = cli("run", "training", "--help")
    assert res.exit_code == 0, res.output
    assert "Usage: main run [OPTIONS] PROCESS" in res.stdout  # click's own help comes first
    described = cli("describe", "training").stdout
    assert described in res.stdout
    res = cli("run", "-i", "data=x.csv", "eda", "-h")  # options before the name, short flag
    assert res.exit_code == 0 and "min_quality" in res.stdout and "float in [0, 100]" in res.stdout
    res = cli("run", "--help")  # no process: the command's help alone
    assert res.exit_code == 0 and "inputs of" not in res.stdout


@pytest.mark.parametrize("args", [["describe", "no-such-process"], ["run", "no-such-process", "--help"]])
def test_describing_an_unknown_process_is_runs_error(args):
    proc = subprocess.run([sys.executable, "-m", "mlsitter", *args], capture_output=True, text=True)
    run = subprocess.run([sys.executable, "-m", "mlsitter", "run", "no-such-process"], capture_output=True, text=True)
    assert proc.returncode == run.returncode == 2
    assert proc.stderr == run.stderr and "unknown process 'no-such-process'" in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout


def test_runs_counts_a_warned_and_an_overridden_gate_apart_from_failures():
    warned = run_id_of(cli("run", f"{CASES}:gated", "--input", "value=0.2", "--input", "on_fail=warn", "--json"))
    asked = run_id_of(cli("run", f"{CASES}:gated", "--input", "value=0.2", "--input", "on_fail=ask", "--json"))
    assert cli("approve", asked, "--resume").exit_code == 0  # the person overrides the missed gate
    failed = run_id_of(cli("run", f"{CASES}:gated", "--input", "value=0.2", "--json"))
    rows = {r["run_id"]: r for r in json.loads(cli("runs", "--json").stdout)}
    counts = {rid: (rows[rid]["gates_passed"], rows[rid]["gates_warned"], rows[rid]["gates_failed"])
              for rid in (warned, asked, failed)}
    assert counts == {warned: (0, 1, 0), asked: (0, 1, 0), failed: (0, 0, 1)}  # warned or overridden: not failed
    assert cli("runs").stdout.count("0/1/0") == 2 and "0/0/1" in cli("runs").stdout
