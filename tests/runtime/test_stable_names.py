"""A step's journal name and a stored value's type tag survive moving the code: stable names are journaled,
and journals that recorded module paths resume after the module moved (``mlsitter.naming.MOVED_MODULES``)."""

from __future__ import annotations

import dataclasses
import json
import pickle
import sys
import textwrap
from pathlib import Path

import pytest

import mlsitter
from mlsitter import naming
from mlsitter.errors import NonDeterminismError

RECORDED_FIELDS = Path(__file__).with_name("journaled_fields.json")

OLD = '''
from dataclasses import dataclass


@dataclass
class Result:
    value: int


class Thing:
    def __init__(self, n):
        self.n = n


def square(x: int) -> Result:
    return Result(x * x)
'''

NEW = '''
from dataclasses import dataclass

from mlsitter import task
from mlsitter.naming import stable_name


@stable_name("case.Result")
@dataclass
class Result:
    value: int


class Thing:
    def __init__(self, n):
        self.n = n


@task(name="case.square")
def square(x: int) -> Result:
    return Result(x * x)
'''

PROCESS = '''
import importlib
import os

from mlsitter import Context, process


@process("moving-case")
def moving_case(ctx: Context, x: int = 3) -> dict:
    code = importlib.import_module(os.environ["CASE_MODULE"])
    first = ctx.task(code.square, x=x)
    ctx.breakpoint("Go on?")
    second = ctx.task(code.square, x=first.value)
    return {"first": first.value, "second": second.value, "type": type(first).__module__}
'''


@pytest.fixture
def code_dir(tmp_path, monkeypatch):
    folder = tmp_path / "code"
    folder.mkdir()
    (folder / "moving_case.py").write_text(textwrap.dedent(PROCESS))
    monkeypatch.syspath_prepend(str(folder))
    yield folder
    for name in ("case_old", "case_new"):
        sys.modules.pop(name, None)
    for name in ("case.Result", "case.square"):
        naming._BY_NAME.pop(name, None)


def move_code(folder, monkeypatch):
    """What a refactor does: the old module is gone, the new one names its task and type."""
    (folder / "case_old.py").unlink()
    sys.modules.pop("case_old", None)
    (folder / "case_new.py").write_text(textwrap.dedent(NEW))
    monkeypatch.setitem(naming.MOVED_MODULES, "case_old", "case_new")
    monkeypatch.setenv("CASE_MODULE", "case_new")


def test_a_run_waiting_before_a_move_finishes_after_it(code_dir, monkeypatch):
    (code_dir / "case_old.py").write_text(textwrap.dedent(OLD))
    monkeypatch.setenv("CASE_MODULE", "case_old")
    handle = mlsitter.run(str(code_dir / "moving_case.py:moving-case"), x=3)
    assert handle.status == "waiting"
    store = mlsitter.Store()
    steps = [e.data for e in store.events(handle.run_id) if e.type == "step.started"]
    assert steps[0]["name"] == "case_old.square"

    move_code(code_dir, monkeypatch)
    mlsitter.approve(handle.run_id)
    done = mlsitter.resume(handle.run_id)
    assert done.status == "completed", done
    assert done.result == {"first": 9, "second": 81, "type": "case_new"}
    names = [e.data["name"] for e in store.events(handle.run_id) if e.type == "step.started"]
    assert names == ["case_old.square", "case.square"]  # new steps carry the stable name
    tags = [e.data["result"] for e in store.events(handle.run_id) if e.type == "step.completed"]
    assert tags[0]["cls"] == "case_old:Result" and tags[1]["cls"] == "case.Result"
    assert store.verify(handle.run_id).ok


def test_a_changed_step_is_still_a_non_determinism_error(code_dir, monkeypatch):
    (code_dir / "case_old.py").write_text(textwrap.dedent(OLD) + "\n\ndef cube(x):\n    return x ** 3\n")
    monkeypatch.setenv("CASE_MODULE", "case_old")
    handle = mlsitter.run(str(code_dir / "moving_case.py:moving-case"), x=2)
    (code_dir / "moving_case.py").write_text(textwrap.dedent(PROCESS).replace("code.square, x=x", "code.cube, x=x"))
    for name in [m for m in sys.modules if m.startswith("mlsitter_user_")]:
        del sys.modules[name]  # the process file changed: load it afresh
    mlsitter.approve(handle.run_id)
    with pytest.raises(NonDeterminismError, match="recorded task 'case_old.square'.*asks for task 'case_old.cube'"):
        mlsitter.resume(handle.run_id)
    assert mlsitter.get(handle.run_id).status != "completed"


def test_objects_pickled_under_an_old_module_path_load_from_the_new_one(code_dir, monkeypatch):
    (code_dir / "case_old.py").write_text(textwrap.dedent(OLD))
    import case_old

    data = pickle.dumps(case_old.Thing(7))
    move_code(code_dir, monkeypatch)
    thing = pickle.loads(data)
    assert type(thing).__module__ == "case_new" and thing.n == 7


def test_one_name_per_object_and_one_object_per_name():
    def first():
        return 1

    def second():
        return 2

    naming.register(first, "case.only")
    try:
        with pytest.raises(ValueError, match="belongs to"):
            naming.register(second, "case.only")
        with pytest.raises(ValueError, match="already named"):
            naming.register(first, "case.other")
        with pytest.raises(ValueError, match="without spaces"):
            naming.register(second, "has space")
    finally:
        naming._BY_NAME.pop("case.only", None)


def built_in_dataclasses() -> list[type]:
    """Each dataclass defined in ml/ and processes/ (the types a built-in step journals)."""
    import importlib
    import inspect
    import pkgutil

    import mlsitter.ml
    import mlsitter.processes

    found = []
    for package in (mlsitter.ml, mlsitter.processes):
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            module = importlib.import_module(info.name)
            for value in vars(module).values():
                if inspect.isclass(value) and dataclasses.is_dataclass(value) and value.__module__ == info.name:
                    found.append(value)
    return found


def test_every_built_in_task_and_result_type_has_a_stable_name():
    """Each function a built-in process runs as a step, and each dataclass in ml/ and processes/, is named."""
    unnamed = [f"{cls.__module__}.{cls.__qualname__}" for cls in built_in_dataclasses() if naming.name_of(cls) is None]
    assert not unnamed, unnamed


def test_a_field_added_to_a_journaled_type_is_marked_added_later():
    """Runs journaled a type's fields as recorded in journaled_fields.json; a field added since must be
    ``metadata=ADDED_LATER`` with a default (else the argument hashes of waiting runs change and they cannot
    resume), and a recorded field must stay (else old journals no longer decode)."""
    recorded = json.loads(RECORDED_FIELDS.read_text())
    problems = []
    for cls in built_in_dataclasses():
        name = naming.name_of(cls)
        fields = {f.name: f for f in dataclasses.fields(cls)}
        if name not in recorded:
            problems.append(f"new journaled type {name}: add to {RECORDED_FIELDS.name}: {json.dumps(name)}: "
                            f"{json.dumps(list(fields))}")
            continue
        for gone in sorted(set(recorded[name]) - set(fields)):
            problems.append(f"{name}.{gone} was removed; journals that hold it would no longer decode")
        for added in [f for n, f in fields.items() if n not in recorded[name]]:
            has_default = added.default is not dataclasses.MISSING or added.default_factory is not dataclasses.MISSING
            if not (has_default and added.metadata.get("mlsitter_added_later")):
                problems.append(f"{name}.{added.name} was added after runs journaled {name}: give it a default and "
                                "metadata=ADDED_LATER")
    assert not problems, "\n".join(problems)
