"""Process inputs: checked and coerced against the process function's annotations."""

from __future__ import annotations

import inspect
import json
import types
import typing
from pathlib import Path
from typing import Any, Callable, Literal, Union

from mlsitter.errors import InputError

_MISSING = inspect.Parameter.empty
_TRUE = {"1", "true", "yes", "y", "on"}
_FALSE = {"0", "false", "no", "n", "off"}


def input_parameters(fn: Callable[..., Any]) -> list[inspect.Parameter]:
    return list(inspect.signature(fn).parameters.values())[1:]


def describe_type(annotation: Any) -> str:
    if annotation is _MISSING:
        return "any"
    if isinstance(annotation, type):
        return annotation.__name__
    return str(annotation).replace("typing.", "")


def coerce_inputs(fn: Callable[..., Any], raw: dict[str, Any], process: str) -> dict[str, Any]:
    """Validate names, fill defaults and coerce values (strings from the CLI included).

    The result is JSON-serialisable (paths become strings) so it can be journaled; call
    :func:`bind_inputs` to get the typed values the function receives.
    """
    params = input_parameters(fn)
    names = [p.name for p in params]
    unknown = [k for k in raw if k not in names]
    if unknown:
        raise InputError(
            f"process {process!r} has no input {', '.join(map(repr, unknown))}; "
            f"its inputs are: {_signature_text(params) or '(none)'}"
        )
    hints = _hints(fn)
    out: dict[str, Any] = {}
    for p in params:
        if p.name in raw:
            value = _coerce(raw[p.name], hints.get(p.name, p.annotation), p.name, process)
        elif p.default is not _MISSING:
            value = p.default
        else:
            raise InputError(
                f"process {process!r} needs the input {p.name!r} ({describe_type(hints.get(p.name, p.annotation))}); "
                f"pass it as --input {p.name}=VALUE"
            )
        out[p.name] = _to_json(value)
    return out


def bind_inputs(fn: Callable[..., Any], stored: dict[str, Any], process: str) -> dict[str, Any]:
    """The stored JSON inputs, coerced again to the annotated types (paths back to ``Path``)."""
    hints = _hints(fn)
    return {k: _coerce(v, hints.get(k, _MISSING), k, process) if v is not None else None for k, v in stored.items()}


def _hints(fn: Callable[..., Any]) -> dict[str, Any]:
    try:
        return typing.get_type_hints(fn)
    except Exception:
        return {}


def _signature_text(params: list[inspect.Parameter]) -> str:
    parts = []
    for p in params:
        parts.append(p.name if p.default is _MISSING else f"{p.name}={p.default!r}")
    return ", ".join(parts)


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


def _coerce(value: Any, annotation: Any, name: str, process: str) -> Any:
    def fail(expected: str) -> InputError:
        return InputError(f"input {name!r} of process {process!r} must be {expected}; got {value!r}")

    if annotation is _MISSING or annotation is Any:
        return value
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (Union, types.UnionType):
        if value is None or (isinstance(value, str) and value.lower() in ("none", "null", "")):
            if type(None) in args:
                return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(value, arg, name, process)
            except InputError as exc:
                errors.append(exc)
        raise fail(" or ".join(describe_type(a) for a in args if a is not type(None)))
    if origin is Literal:
        for choice in args:
            if value == choice or (isinstance(value, str) and str(choice) == value):
                return choice
        raise fail("one of " + ", ".join(repr(a) for a in args))
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
        return [_coerce(v, item, name, process) for v in value]
    if origin is dict or annotation is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except json.JSONDecodeError:
                raise fail("a JSON object") from None
        if not isinstance(value, dict):
            raise fail("a mapping")
        return value
    if annotation is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise fail("a boolean (true/false)")
    if annotation is int:
        if isinstance(value, bool):
            raise fail("an integer")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                raise fail("an integer") from None
        raise fail("an integer")
    if annotation is float:
        if isinstance(value, bool):
            raise fail("a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise fail("a number") from None
        raise fail("a number")
    if annotation is str:
        if isinstance(value, (str, int, float)) and not isinstance(value, bool):
            return str(value)
        raise fail("a string")
    if annotation is Path or (isinstance(annotation, type) and issubclass(annotation, Path)):
        if isinstance(value, (str, Path)):
            return Path(value)
        raise fail("a path")
    return value
