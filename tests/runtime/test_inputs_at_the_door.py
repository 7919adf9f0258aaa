"""Inputs are refused at the door: a value outside what a process declares (``Literal``, ``Interval``, type) or
an unknown input name raises ``InvalidInputError`` in scikit-learn's words before any run row or journal
event exists, from the Python API and from the CLI (exit code 2)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import mlsitter
from mlsitter import Interval, Runner, Store
from mlsitter.errors import InputError, InvalidInputError
from mlsitter.runtime.inputs import bind_inputs, coerce_inputs, input_specs

DECLARED = textwrap.dedent('''
    from __future__ import annotations

    from typing import Annotated, Literal

    from mlsitter import Context, Doc, Interval, Normalize, process


    @process("door-check")
    def door_check(
        ctx: Context,
        folds: Annotated[int, Interval(2, 20), Doc("number of CV folds")] = 5,
        mode: Annotated[Literal["auto", "manual"], Doc("how it runs")] = "auto",
        share: Annotated[float, Interval(0, 1, closed="neither"), "share of rows held out"] = 0.2,
        limit: Annotated[int | None, Interval(1, None), Doc("at most this many (None: no limit)")] = None,
        kinds: Annotated[list[Literal["a", "b"]] | None, Normalize(str.lower), Doc("kinds to keep")] = None,
        label: Annotated[str, Doc("free text")] = "",
    ) -> dict:
        return {"folds": folds, "mode": mode, "share": share, "limit": limit, "kinds": kinds, "label": label}
''')


@pytest.fixture
def target(tmp_path) -> str:
    path = tmp_path / "declared.py"
    path.write_text(DECLARED, encoding="utf-8")
    return f"{path}:door-check"


def nothing_recorded() -> bool:
    store = Store()
    events = store.conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    return store.count_runs() == 0 and events == 0


@pytest.mark.parametrize("inputs, message", [
    ({"mode": "x"}, "The 'mode' parameter of door-check must be a str among {'auto', 'manual'}. Got 'x' instead."),
    ({"folds": 1}, "The 'folds' parameter of door-check must be an int in the range [2, 20]. Got 1 instead."),
    ({"folds": "21"}, "The 'folds' parameter of door-check must be an int in the range [2, 20]. Got 21 instead."),
    ({"folds": "many"}, "The 'folds' parameter of door-check must be an int in the range [2, 20]. Got 'many' instead."),
    ({"share": 1.0}, "The 'share' parameter of door-check must be a float in the range (0, 1). Got 1.0 instead."),
    ({"share": "nan"}, "The 'share' parameter of door-check must be a float in the range (0, 1). Got nan instead."),
    ({"limit": 0}, "The 'limit' parameter of door-check must be an int in the range [1, inf) or None. Got 0 instead."),
    ({"kinds": "a,c"}, "The 'kinds' parameter of door-check must be a list of str among {'a', 'b'} or None. "
                       "Got ['a', 'c'] instead."),
    ({"foldz": 3}, "process 'door-check' has no input 'foldz' (did you mean 'folds'?); its inputs are: folds=5, "),
])
def test_a_bad_input_is_refused_before_the_run_exists(target, inputs, message):
    with pytest.raises(InvalidInputError) as refused:
        mlsitter.run(target, approve="auto", **inputs)
    assert message in str(refused.value)
    assert nothing_recorded()


def test_what_the_declarations_allow_gets_through_as_typed_values(target):
    run = mlsitter.run(target, approve="auto", folds="20", mode="manual", share="0.5", limit="none", kinds="A, b")
    assert run.status == "completed", run.error
    # Normalize only compares: the process receives the value as written (it normalises it itself)
    assert run.result == {"folds": 20, "mode": "manual", "share": 0.5, "limit": None, "kinds": ["A", "b"], "label": ""}


def test_the_cli_refuses_with_exit_code_2_and_records_nothing(target, mlsitter_home):
    import os

    env = {**os.environ, "MLSITTER_HOME": str(mlsitter_home)}
    proc = subprocess.run([sys.executable, "-m", "mlsitter", "run", target, "-i", "folds=1"], capture_output=True,
                          text=True, env=env, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "The 'folds' parameter of door-check must be an int in the range [2, 20]. Got 1 instead." in proc.stderr
    assert "Traceback" not in proc.stderr + proc.stdout
    assert nothing_recorded()


def test_the_refusal_is_an_input_error_a_value_error_and_a_type_error(target):
    with pytest.raises(InvalidInputError) as refused:
        Runner().create(target, {"mode": "x"})
    assert isinstance(refused.value, InputError) and isinstance(refused.value, ValueError)
    assert isinstance(refused.value, TypeError)  # as scikit-learn's InvalidParameterError


def test_a_missing_required_input_names_its_declared_type():
    def fn(ctx, folds: "int"):  # noqa: F821 - resolved by get_type_hints
        return folds

    with pytest.raises(InputError, match=r"needs the input 'folds' \(int\); pass it as --input folds=VALUE"):
        coerce_inputs(fn, {}, "p")


def test_resume_binds_stored_inputs_without_checking_them(target):
    from mlsitter.runtime.definitions import resolve

    fn = resolve(target).fn
    # a run recorded before its declaration was tightened must still resume with what it recorded
    assert bind_inputs(fn, {"folds": 1, "mode": "legacy", "kinds": ["z"]}, "door-check") == {
        "folds": 1, "mode": "legacy", "kinds": ["z"]}


def test_declarations_read_as_types_defaults_and_meanings(target):
    from mlsitter.runtime.definitions import resolve

    specs = {s.name: s for s in input_specs(resolve(target).fn)}
    assert specs["folds"].type_text == "int in [2, 20]" and specs["folds"].doc == "number of CV folds"
    assert specs["mode"].type_text == "one of 'auto', 'manual'" and specs["mode"].choices == ["auto", "manual"]
    assert specs["share"].type_text == "float in (0, 1)" and specs["share"].doc == "share of rows held out"
    assert specs["limit"].type_text == "int in [1, inf) or None"
    assert specs["kinds"].type_text == "list of (one of 'a', 'b') or None"
    assert specs["label"].type_text == "str" and not specs["label"].declared
    assert specs["folds"].interval == Interval(2, 20) and specs["folds"].default == 5


def test_an_interval_says_its_range_and_rejects_a_reversed_one():
    assert str(Interval(2, None)) == "[2, inf)" and str(Interval(None, 0, closed="neither")) == "(-inf, 0)"
    assert 0.5 in Interval(0, 1, closed="neither") and 0 not in Interval(0, 1, closed="right")
    assert float("nan") not in Interval() and True not in Interval()
    with pytest.raises(ValueError, match="low must be <= high"):
        Interval(3, 2)
    with pytest.raises(ValueError, match="closed must be one of"):
        Interval(0, 1, closed="open")  # type: ignore[arg-type]


# -- the built-in processes --------------------------------------------------------------------------
@pytest.mark.parametrize("process, inputs, message", [
    ("training", {"data": "adult.csv", "folds": 1},
     "The 'folds' parameter of training must be an int in the range [2, inf). Got 1 instead."),
    ("training", {"data": "adult.csv", "metric": "rmsle"}, "The 'metric' parameter of training must be a str among "),
    ("training", {"data": "adult.csv", "family": "svm"}, "Got 'svm' instead."),
    ("automl", {"data": "adult.csv", "target": "class", "time_budget_s": 0},
     "The 'time_budget_s' parameter of automl must be a float in the range (0, inf). Got 0.0 instead."),
    ("automl", {"data": "adult.csv", "target": "class", "families": ["lightgbm", "svm"]},
     "Got ['lightgbm', 'svm'] instead."),
    ("evaluation", {"model": "m.joblib", "data": "d.csv", "target": "y", "recalibrate": "platt"},
     "The 'recalibrate' parameter of evaluation must be a str among {'none', 'isotonic', 'sigmoid'}. Got 'platt' instead."),
    ("experiment-plan", {"mde": 0.01, "alpha": 0.7},
     "The 'alpha' parameter of experiment-plan must be a float in the range (0, 0.5). Got 0.7 instead."),
    ("data-validation", {"data": "a.csv", "on_source_error": "ignore"},
     "The 'on_source_error' parameter of data-validation must be a str among {'fail', 'skip'}. Got 'ignore' instead."),
    ("eda", {"data": "a.csv", "on_gate_fail": "stop"},
     "The 'on_gate_fail' parameter of eda must be a str among {'fail', 'ask', 'warn'}. Got 'stop' instead."),
    ("ab-test", {"data": "ab.csv", "n_looks": 0},
     "The 'n_looks' parameter of ab-test must be an int in the range [1, inf). Got 0 instead."),
    ("explain", {"model": "m.joblib", "data": "d.csv", "target": "y", "rows": [3, -1]},
     "The 'rows' parameter of explain must be a list of int in the range [0, inf) or None. Got [3, -1] instead."),
])
def test_built_in_processes_refuse_bad_values_before_any_run(process, inputs, message):
    with pytest.raises(InvalidInputError) as refused:
        mlsitter.run(process, approve="auto", **inputs)
    assert message in str(refused.value)
    assert nothing_recorded()


def test_other_spellings_the_ml_lookups_read_still_get_through(tmp_path):
    from mlsitter.runtime.definitions import resolve

    training = resolve("training").fn
    coerced = coerce_inputs(training, {"data": "d.csv", "family": "LGBM", "metric": " ROC_AUC "}, "training")
    assert coerced["family"] == "LGBM" and coerced["metric"] == " ROC_AUC "  # as written; the process normalises
    automl = resolve("automl").fn
    coerced = coerce_inputs(automl, {"data": "d.csv", "target": "y", "families": "hist-gradient-boosting,xgb"}, "automl")
    assert coerced["families"] == ["hist-gradient-boosting", "xgb"]


def test_describe_json_lists_the_declarations_of_a_built_in_process():
    from click.testing import CliRunner

    from mlsitter.cli import main

    res = CliRunner().invoke(main, ["describe", "training", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    folds = next(i for i in info["inputs"] if i["name"] == "folds")
    assert folds == {"name": "folds", "type": "int in [2, inf)", "required": False, "default": 5,
                     "meaning": "cross-validation folds of each trial", "choices": None,
                     "range": {"low": 2, "high": None, "closed": "both"}}
    family = next(i for i in info["inputs"] if i["name"] == "family")
    assert "lightgbm" in family["choices"] and family["default"] == ""
    assert Path(info["inputs"][0]["name"]).name == "data" and info["inputs"][0]["required"]
