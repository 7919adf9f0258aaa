"""Process inputs: declared by annotations, coerced and checked before a run exists.

A process declares what each input accepts in its annotation; ``typing.Annotated`` adds what a type alone
cannot say::

    @process("training")
    def training(
        ctx: Context,
        folds: Annotated[int, Interval(2, None), Doc("cross-validation folds")] = 5,
        mode: Annotated[Literal["auto", "manual"], Doc("how the budget is chosen")] = "auto",
        families: Annotated[list[Literal["linear", "knn"]] | None, Doc("families to try")] = None,
    ) -> ...

- ``Literal[...]``: the allowed values (of each item, in a list of them).
- :class:`Interval`: the allowed range of a number (of each number, in a list of them).
- :class:`Normalize`: how a text input is compared with its allowed values (case, aliases); the value itself
  reaches the process as given.
- :class:`Check`: a rule beyond type and range (a text that must read as a percentage), said in words.
- :class:`Doc`, or a plain string: the input's one-line meaning, shown by ``mlsitter describe``.

:func:`coerce_inputs` runs in ``Runner.create``, before any run row or journal event exists: an unknown
name, a missing input, a value of the wrong type or outside its declaration is refused with
:class:`~mlsitter.errors.InvalidInputError` (an :class:`~mlsitter.errors.InputError`, exit code 2 from the
CLI), in scikit-learn's words: ``The 'folds' parameter of training must be an int in the range [2, inf).
Got 1 instead.`` :func:`bind_inputs` turns a run's stored inputs back into typed values on every resume and
checks nothing, so a declaration tightened later never strands a run recorded before it.
"""

from __future__ import annotations

import difflib
import inspect
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Callable, Literal, Union

from mlsitter.errors import InputError, InvalidInputError

_MISSING = inspect.Parameter.empty
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}
_CLOSED = ("both", "left", "right", "neither")


# -- declarations ----------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Interval:
    """The range a numeric input may take: ``Annotated[int, Interval(2, 20)]`` (2 to 20, both included).

    ``low``/``high`` of ``None`` leave that side open (minus or plus infinity); ``closed`` says which ends
    belong to the range: ``"both"`` (default), ``"left"``, ``"right"`` or ``"neither"``, as in
    scikit-learn's ``Interval``. On a list input it applies to every number of the list.
    """

    low: float | None = None
    high: float | None = None
    closed: Literal["both", "left", "right", "neither"] = "both"

    def __post_init__(self) -> None:
        if self.closed not in _CLOSED:
            raise ValueError(f"Interval closed must be one of {', '.join(map(repr, _CLOSED))}; got {self.closed!r}")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise ValueError(f"Interval low must be <= high; got low={self.low!r}, high={self.high!r}")

    def __contains__(self, value: object) -> bool:
        if not isinstance(value, (int, float)) or isinstance(value, bool) or math.isnan(value):
            return False
        if self.low is not None and (value < self.low or (value == self.low and self.closed in ("right", "neither"))):
            return False
        if self.high is not None and (value > self.high or (value == self.high and self.closed in ("left", "neither"))):
            return False
        return True

    def __str__(self) -> str:
        left = "[" if self.closed in ("both", "left") and self.low is not None else "("
        right = "]" if self.closed in ("both", "right") and self.high is not None else ")"
        low = "-inf" if self.low is None else f"{self.low!r}"
        high = "inf" if self.high is None else f"{self.high!r}"
        return f"{left}{low}, {high}{right}"


@dataclass(frozen=True, slots=True)
class Check:
    """A rule the (coerced) value must also follow, with what it expects in words:
    ``Annotated[float | str, Check(is_share, "a positive number or a percentage such as '2%'")]``."""

    test: Callable[[Any], bool]
    expected: str


@dataclass(frozen=True, slots=True)
class Doc:
    """An input's one-line meaning: ``Annotated[int, Doc("cross-validation folds")]`` (a plain string works too)."""

    text: str


@dataclass(frozen=True, slots=True)
class Normalize:
    """Compare a text input with its ``Literal`` values through ``fn``: ``Normalize(str.lower)`` accepts
    ``'AUTO'`` for ``'auto'``. The value reaches the process as given (it normalises it itself), so what a
    run records and replays is what the user wrote."""

    fn: Callable[[str], str]


@dataclass(frozen=True)
class InputSpec:
    """One declared input of a process: its name, annotation, default and meaning."""

    name: str
    annotation: Any
    default: Any = _MISSING
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is _MISSING

    @property
    def type_text(self) -> str:
        """Readable for a table: ``int in [2, 20]``, ``one of 'a', 'b'``, ``list of str``, ``path``."""
        return _type_text(self.annotation, _Marks())

    @property
    def expected(self) -> str:
        """What a value must be, as an error message says it: ``an int in the range [2, 20]``."""
        return _expected(self.annotation, _Marks())

    @property
    def declared(self) -> bool:
        """Whether the annotation restricts values beyond their type (a ``Literal`` or an ``Interval``)."""
        return _is_declared(self.annotation)

    @property
    def choices(self) -> list[Any] | None:
        """The allowed values when the input (or each item of it) is a ``Literal``."""
        found = _find(self.annotation, lambda a: typing.get_origin(a) is Literal)
        return list(typing.get_args(found)) if found is not None else None

    @property
    def interval(self) -> Interval | None:
        return _marks_of(self.annotation).interval


def input_parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())[1:]


def input_specs(fn: Callable[..., Any]) -> list[InputSpec]:
    """Every input of the process function ``fn`` (after ``ctx``), with its declaration and meaning."""
    hints = _hints(fn)
    specs = []
    for p in input_parameters(fn):
        annotation = hints.get(p.name, p.annotation)
        specs.append(InputSpec(p.name, annotation, p.default, _doc_of(annotation)))
    return specs


def describe_type(annotation: Any) -> str:
    return _type_text(annotation, _Marks())


def declaration_problems(fn: Callable[..., Any], process: str) -> list[str]:
    """What is wrong with how ``fn`` declares its inputs: a default its own declaration refuses, an
    ``Interval`` on an input that holds no number, a ``Normalize`` without ``Literal`` values."""
    problems = []
    for spec in input_specs(fn):
        if not spec.required and spec.default is not None:
            try:
                _coerce(spec.default, spec.annotation, _Marks(), check=True)
            except _Mismatch:
                problems.append(f"the default {spec.default!r} of {spec.name!r} is refused by its own declaration "
                                f"({spec.expected})")
        marks = _marks_of(spec.annotation)
        if marks.interval is not None and _find(spec.annotation, lambda a: a in (int, float)) is None:
            problems.append(f"{spec.name!r} declares an Interval but holds no int or float")
        if marks.normalize is not None and spec.choices is None:
            problems.append(f"{spec.name!r} declares Normalize but no Literal values")
    return [f"process {process!r}: {p}" for p in problems]


# -- coercion and checks ---------------------------------------------------------------------------
def coerce_inputs(fn: Callable[..., Any], raw: dict[str, Any], process: str) -> dict[str, Any]:
    """Check names, fill defaults, coerce values (strings from the CLI included) and check each against
    its declaration; the first input that does not fit raises :class:`InvalidInputError`.

    The result is JSON-serialisable (paths become strings) so it can be journaled; call
    :func:`bind_inputs` to get the typed values the function receives.
    """
    specs = input_specs(fn)
    names = [s.name for s in specs]
    unknown = [k for k in raw if k not in names]
    if unknown:
        close = difflib.get_close_matches(unknown[0], names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise InvalidInputError(
            f"process {process!r} has no input {', '.join(map(repr, unknown))}{hint}; "
            f"its inputs are: {_signature_text(specs) or '(none)'}"
        )
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.name in raw:
            value = check_input(spec, raw[spec.name], process)
        elif not spec.required:
            value = spec.default
        else:
            raise InputError(
                f"process {process!r} needs the input {spec.name!r} ({spec.type_text}); "
                f"pass it as --input {spec.name}=VALUE"
            )
        out[spec.name] = _to_json(value)
    return out


def check_input(spec: InputSpec, value: Any, process: str) -> Any:
    """``value`` coerced to ``spec``'s type and checked against its declaration, else InvalidInputError."""
    try:
        return _coerce(value, spec.annotation, _Marks(), check=True)
    except _Mismatch as mismatch:
        if spec.declared:
            try:
                shown = _coerce(value, spec.annotation, _Marks(), check=False)
            except _Mismatch:
                shown = value
            raise InvalidInputError(f"The {spec.name!r} parameter of {process} must be {spec.expected}. "
                                    f"Got {shown!r} instead.") from None
        raise InvalidInputError(f"The {spec.name!r} parameter of {process} must be {mismatch.expected}; "
                                f"got {mismatch.value!r} instead.") from None


def bind_inputs(fn: Callable[..., Any], stored: dict[str, Any], process: str) -> dict[str, Any]:
    """The stored JSON inputs, coerced again to the annotated types (paths back to ``Path``); nothing is
    checked, so a run recorded before a declaration changed still resumes."""
    hints = _hints(fn)
    out: dict[str, Any] = {}
    for k, v in stored.items():
        if v is None:
            out[k] = None
            continue
        try:
            out[k] = _coerce(v, hints.get(k, _MISSING), _Marks(), check=False)
        except _Mismatch:
            out[k] = v
    return out


@dataclass(frozen=True)
class _Marks:
    """The ``Annotated`` markers in force at one level of an annotation (they apply to what it contains)."""

    interval: Interval | None = None
    normalize: Normalize | None = None

    def add(self, metadata: tuple[Any, ...]) -> _Marks:
        interval, normalize = self.interval, self.normalize
        for m in metadata:
            if isinstance(m, Interval):
                interval = m
            elif isinstance(m, Normalize):
                normalize = m
        return _Marks(interval, normalize)


class _Mismatch(Exception):
    """A value that does not fit (part of) an annotation: what was expected there and what came."""

    def __init__(self, expected: str, value: Any) -> None:
        super().__init__(expected)
        self.expected = expected
        self.value = value


def _coerce(value: Any, annotation: Any, marks: _Marks, *, check: bool) -> Any:
    def fail(expected: str) -> _Mismatch:
        return _Mismatch(expected, value)

    if annotation is _MISSING or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is Annotated:
        result = _coerce(value, args[0], marks.add(tuple(annotation.__metadata__)), check=check)
        rule = _check_of(annotation)
        if check and rule is not None and result is not None and not rule.test(result):
            raise fail(rule.expected)
        return result
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, marks, check=check)
            except _Mismatch:
                continue
        raise fail(" or ".join(_expected(a, marks) for a in args if a is not type(None)))
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        if isinstance(value, str) and marks.normalize is not None and marks.normalize.fn(value) in args:
            return value
        if not check:
            return value
        raise fail(_expected(annotation, marks))
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    value = json.loads(text)
                except json.JSONDecodeError:
                    raise fail("a JSON list or comma-separated values") from None
            else:
                value = [v.strip() for v in text.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            raise fail("a list")
        item = args[0] if args else _MISSING
        return [_coerce(v, item, marks, check=check) for v in value]
    if origin is dict or annotation is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise fail("a JSON object") from None
        if not isinstance(value, dict):
            raise fail("a mapping")
        if len(args) == 2 and args[1] is not Any:
            return {k: _coerce(v, args[1], marks, check=check) for k, v in value.items()}
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise fail("a boolean (true/false)")
    if annotation is int:
        number: int | float
        if isinstance(value, bool):
            raise fail("an integer")
        if isinstance(value, int):
            number = value
        elif isinstance(value, float) and value.is_integer():
            number = int(value)
        elif isinstance(value, str):
            try:
                number = int(value.strip())
            except ValueError:
                raise fail("an integer") from None
        else:
            raise fail("an integer")
        return _in_range(number, marks, check, fail)
    if annotation is float:
        if isinstance(value, bool):
            raise fail("a number")
        if isinstance(value, (int, float)):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value.strip())
            except ValueError:
                raise fail("a number") from None
        else:
            raise fail("a number")
        return _in_range(number, marks, check, fail)
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise fail("a string")
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        if isinstance(value, (str, Path)):
            return Path(value)
        raise fail("a path")
    return value


def _in_range(number: float, marks: _Marks, check: bool, fail: Callable[[str], _Mismatch]) -> Any:
    if check and marks.interval is not None and number not in marks.interval:
        raise fail(f"in the range {marks.interval}")
    return number


# -- how declarations read -------------------------------------------------------------------------
def _type_text(annotation: Any, marks: _Marks) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is _MISSING or annotation is Any:
        return "any"
    if origin is Annotated:
        return _type_text(args[0], marks.add(tuple(annotation.__metadata__)))
    if origin in (Union, types.UnionType):
        text = " or ".join(_type_text(a, marks) for a in args if a is not type(None))
        return text + " or None" if type(None) in args else text
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in args)
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        if not args:
            return "list"
        item = _type_text(args[0], marks)
        return f"list of ({item})" if " " in item else f"list of {item}"
    if origin is dict or annotation is dict:
        if len(args) != 2:
            return "mapping"
        key, value = _type_text(args[0], marks), _type_text(args[1], marks)
        return f"mapping of {key} to ({value})" if " " in value else f"mapping of {key} to {value}"
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        return "path"
    if isinstance(annotation, type):
        name = annotation.__name__
        if annotation in (int, float) and marks.interval is not None:
            return f"{name} in {marks.interval}"
        return name
    return str(annotation).replace("typing.", "")


def _expected(annotation: Any, marks: _Marks) -> str:
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if annotation is _MISSING or annotation is Any:
        return "any value"
    if origin is Annotated:
        rule = _check_of(annotation)
        return rule.expected if rule is not None else _expected(args[0], marks.add(tuple(annotation.__metadata__)))
    if origin in (Union, types.UnionType):
        parts = [_expected(a, marks) for a in args if a is not type(None)] + (["None"] if type(None) in args else [])
        return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " or " + parts[-1]
    if origin is Literal:
        kinds = {type(a) for a in args}
        kind = "a str" if kinds == {str} else "an int" if kinds == {int} else "a value"
        return f"{kind} among {{{', '.join(repr(a) for a in args)}}}"
    if origin in (list, tuple, set, frozenset) or annotation in (list, tuple):
        return "a list of " + _strip_article(_expected(args[0], marks)) if args else "a list"
    if origin is dict or annotation is dict:
        if len(args) == 2:
            return f"a mapping of {_strip_article(_expected(args[0], marks))} to {_strip_article(_expected(args[1], marks))}"
        return "a mapping"
    if annotation is bool:
        return "a bool"
    if annotation in (int, float):
        kind = "an int" if annotation is int else "a float"
        return f"{kind} in the range {marks.interval}" if marks.interval is not None else kind
    if annotation is str:
        return "a str"
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        return "a path"
    return f"a {_type_text(annotation, marks)}"


def _strip_article(text: str) -> str:
    for article in ("a ", "an "):
        if text.startswith(article):
            return text[len(article):]
    return text


def _check_of(annotation: Any) -> Check | None:
    return next((m for m in getattr(annotation, "__metadata__", ()) if isinstance(m, Check)), None)


def _is_declared(annotation: Any) -> bool:
    if _find(annotation, lambda a: typing.get_origin(a) is Literal or _check_of(a) is not None) is not None:
        return True
    return _marks_of(annotation).interval is not None


def _marks_of(annotation: Any) -> _Marks:
    """Every marker anywhere in ``annotation`` (an input carries one Interval and one Normalize at most)."""
    marks = _Marks()
    stack = [annotation]
    while stack:
        a = stack.pop()
        if typing.get_origin(a) is Annotated:
            marks = marks.add(tuple(a.__metadata__))
        if typing.get_origin(a) is not Literal:
            stack.extend(typing.get_args(a))
    return marks


def _find(annotation: Any, match: Callable[[Any], bool]) -> Any:
    """The first part of ``annotation`` (itself included, depth first) that ``match`` accepts, else None."""
    stack = [annotation]
    while stack:
        a = stack.pop()
        if match(a):
            return a
        if typing.get_origin(a) is not Literal:
            stack.extend(reversed(typing.get_args(a)))
    return None


def _doc_of(annotation: Any) -> str:
    if typing.get_origin(annotation) is not Annotated:
        return ""
    for m in annotation.__metadata__:
        if isinstance(m, Doc):
            return m.text
        if isinstance(m, str):
            return m
    return ""


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn, include_extras=True)
    except Exception:
        return {}


def _signature_text(specs: list[InputSpec]) -> str:
    return ", ".join(s.name if s.required else f"{s.name}={s.default!r}" for s in specs)


def _to_json(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, tuple):
        return [_to_json(v) for v in value]
    if isinstance(value, list):
        return [_to_json(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _to_json(v) for k, v in value.items()}
    return value
