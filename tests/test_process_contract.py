"""Contract every built-in process keeps (like sklearn's estimator checks): it is found by its name,
declares its phase and purpose, and every input is typed so the CLI can coerce and validate it."""

from __future__ import annotations

import inspect
import typing

import pytest

from mlsitter.processes.catalog import BUILTIN
from mlsitter.runtime.definitions import load_target, resolve

PHASES = {"planning", "execution", "validation", "monitoring"}


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
    assert load_target(spec.target) is spec.fn


def test_catalogue_import_is_lazy():
    import subprocess
    import sys

    code = ("import mlsitter.processes.catalog, sys; "
            "print([m for m in sys.modules if m.startswith('mlsitter.processes.') and m != 'mlsitter.processes.catalog'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
