"""Contract every built-in process keeps (like sklearn's estimator checks): it is found by its name,
declares its phase and purpose, and every input is typed so the CLI can coerce and validate it."""

from __future__ import annotations

import inspect
import typing

import pytest

from mlsitter.runtime.definitions import catalogue, registered, resolve

BUILTIN = catalogue()

PHASES = {"planning", "execution", "validation", "monitoring", "lifecycle"}


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_builtin_process_contract(name):
    spec = resolve(name)
    assert spec.name == name, f"{BUILTIN[name]} registers as {spec.name!r}, not {name!r}"
    assert spec.phase in PHASES, f"process {name!r} must declare its phase (one of {sorted(PHASES)})"
    assert spec.description, f"process {name!r} needs a docstring or description"
    module = BUILTIN[name].split(":")[0]
    assert module.startswith(f"mlsitter.processes.{spec.phase}."), f"{name!r} lives outside processes/{spec.phase}/"
    hints = typing.get_type_hints(spec.fn)
    params = list(inspect.signature(spec.fn).parameters.values())[1:]
    untyped = [p.name for p in params if p.name not in hints]
    assert not untyped, f"process {name!r} has untyped inputs: {untyped}"
    assert spec.target == name and resolve(spec.target).fn is spec.fn  # a resume finds it by name


def test_catalogue_import_is_lazy():
    import subprocess
    import sys

    code = ("from mlsitter.runtime.definitions import catalogue; import sys; names = catalogue(); "
            "print(len(names), [m for m in sys.modules if m.startswith('mlsitter.processes')])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"{len(BUILTIN)} []"


def test_the_built_in_processes_come_from_entry_points():
    assert set(BUILTIN) == {"ab-test", "automl", "data-validation", "deploy", "distributed-training", "drift", "eda", "evaluation",
                            "experiment-plan", "explain", "feature-store", "features", "integration-test", "lifecycle",
                            "model-selection", "observability", "retraining", "rollback", "scoping", "training"}
    assert all(target.startswith("mlsitter.processes.") for target in BUILTIN.values())


def test_a_process_that_fails_to_load_is_reported_with_its_error(monkeypatch):
    from click.testing import CliRunner

    from mlsitter.cli import main

    broken = {**BUILTIN, "broken-one": "mlsitter.processes.no_such_module:broken"}
    monkeypatch.setattr("mlsitter.runtime.definitions.catalogue", lambda: broken)
    found = registered()
    assert "eda" in found.processes and "broken-one" not in found.processes
    assert "No module named 'mlsitter.processes.no_such_module'" in found.broken["broken-one"]
    result = CliRunner().invoke(main, ["processes"])
    assert result.exit_code == 1
    assert "broken-one" in result.output and "cannot be loaded" in result.output and "eda" in result.output


@pytest.mark.parametrize("name", sorted(BUILTIN))
def test_every_input_of_a_builtin_process_has_a_meaning_and_a_sound_declaration(name):
    from mlsitter.runtime.inputs import declaration_problems, input_specs

    spec = resolve(name)
    typing.get_type_hints(spec.fn, include_extras=True)  # the declarations resolve (else nothing is checked)
    unexplained = [s.name for s in input_specs(spec.fn) if not s.doc.strip()]
    assert not unexplained, f"process {name!r} has inputs without a meaning (Doc): {unexplained}"
    long = [s.name for s in input_specs(spec.fn) if "\n" in s.doc or len(s.doc) > 120]
    assert not long, f"process {name!r}: a meaning is one line of at most 120 characters: {long}"
    assert declaration_problems(spec.fn, name) == []


def test_the_shared_vocabulary_agrees_with_the_ml_tables():
    from mlsitter.ml.metrics import METRICS, get_metric
    from mlsitter.ml.modeling._search_space import check_family, families
    from mlsitter.processes.execution.automl.search import PORTFOLIO
    from mlsitter.processes.vocabulary import GatePolicy, MetricName, ModelFamily, family_spelling
    from mlsitter.runtime.context import ON_FAIL

    assert set(typing.get_args(ModelFamily)) == set(families()) == set(PORTFOLIO)
    assert set(typing.get_args(GatePolicy)) == set(ON_FAIL)
    spellings = set(typing.get_args(MetricName))
    assert set(METRICS) <= spellings
    for name in spellings:  # every declared spelling is one the metric lookup reads
        found = []
        for task in ("classification", "regression"):
            try:
                found.append(get_metric(name, task))
            except Exception:
                pass
        assert found, f"{name!r} is declared but no metric lookup knows it"
    assert family_spelling("LGBM") == check_family("LGBM") == "lightgbm" and family_spelling("svm") == "svm"
