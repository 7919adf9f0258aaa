"""Encode task results into journal JSON, moving large values into the artifact store.

The core knows JSON values and its own tags: tuples, dicts with non-str keys, non-finite floats, paths,
dates and datetimes, dataclasses (by stable name), :class:`ArtifactRef` and a pickle fallback whose
content-addressed artifact loads only after its hash verifies. Every other type (frames, arrays, figures,
models) is a :class:`ValueHandler` registered with :func:`register_value_handler` or installed through
the ``mlsitter.value_handlers`` entry points, which load on the first value or tag the core does not
know. Decoding gives back the same types, so a replayed process sees what the live one saw.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import math
import pickle
import threading
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import Any

from mlsitter.runtime.artifacts import ArtifactRef, ArtifactStore
from mlsitter.naming import ADDED_LATER, locate, name_of, named
from mlsitter.runtime.canonical import canonical_json

TAG = "$t"
ENTRY_POINT_GROUP = "mlsitter.value_handlers"
CORE_TAGS = frozenset({"float", "tuple", "dict", "ref", "path", "datetime", "date", "dataclass", "pickle"})


@dataclass(frozen=True, slots=True)
class ValueHandler:
    """How one kind of value goes into the journal and back; the codec asks handlers by ``priority``."""

    claims: Callable[[Any], bool]  # cheap, and must not import the value's library
    encode: Callable[[Any, Codec], Any]  # journal JSON (tagged ``tag`` or core forms), or None to decline
    tag: str | None = None  # the tag ``decode`` reads; None for a handler that encodes into core forms
    decode: Callable[[dict[str, Any], Codec], Any] | None = None
    fingerprint: Callable[[Any], Any] | None = None  # a stand-in fingerprinted in turn; else type/shape/columns
    priority: int = 100  # lower is asked first


class _Registry:
    """Value handlers by priority and by tag; installed ones load once, on first need."""

    def __init__(self) -> None:
        self.handlers: tuple[ValueHandler, ...] = ()
        self.by_tag: dict[str, ValueHandler] = {}
        self.broken: dict[str, str] = {}
        self.installed = False
        self.lock = threading.RLock()

    def add(self, handler: ValueHandler, *, replace: bool = False) -> None:
        with self.lock:
            if handler in self.handlers:
                return
            if handler.tag is not None:
                if handler.tag in CORE_TAGS or handler.tag == "":
                    raise ValueError(f"the value tag {handler.tag!r} is reserved by the codec core; "
                                     f"reserved tags are {sorted(CORE_TAGS)}. Choose another tag.")
                held = self.by_tag.get(handler.tag)
                if held is not None and not replace:
                    raise ValueError(f"the value tag {handler.tag!r} is already registered by {held!r}; "
                                     "pass replace=True to take it over.")
                if held is not None:
                    self.handlers = tuple(h for h in self.handlers if h is not held)
                self.by_tag[handler.tag] = handler
            self.handlers = tuple(sorted((*self.handlers, handler), key=lambda h: h.priority))

    def ensure_installed(self) -> None:
        if self.installed:
            return
        with self.lock:
            if self.installed:
                return
            self.installed = True
            from importlib.metadata import entry_points

            for ep in entry_points(group=ENTRY_POINT_GROUP):
                try:
                    loaded = ep.load()
                    for handler in (loaded,) if isinstance(loaded, ValueHandler) else loaded:
                        if not isinstance(handler, ValueHandler):
                            raise TypeError(f"expected a ValueHandler or a sequence of them, got {handler!r}")
                        self.add(handler)
                except Exception as exc:
                    self.broken[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
                    warnings.warn(f"value handler {ep.name!r} ({ep.value}) failed to load: {exc}", stacklevel=2)

    def claiming(self, value: Any) -> Iterable[ValueHandler]:
        self.ensure_installed()
        return (h for h in self.handlers if h.claims(value))

    def for_tag(self, tag: str) -> ValueHandler | None:
        handler = self.by_tag.get(tag)
        if handler is None and not self.installed:
            self.ensure_installed()
            handler = self.by_tag.get(tag)
        return handler


_REGISTRY = _Registry()


def register_value_handler(handler: ValueHandler, *, replace: bool = False) -> ValueHandler:
    """Add a value handler for this session; a tag already held is refused unless ``replace`` is true."""
    _REGISTRY.add(handler, replace=replace)
    return handler


def value_handlers() -> tuple[ValueHandler, ...]:
    """Every value handler in the order they are asked (installed ones included)."""
    _REGISTRY.ensure_installed()
    return _REGISTRY.handlers


def type_name(obj: Any) -> str:
    """``module.qualname`` of the object's type, as the journal records it."""
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


class Codec:
    """Encoder/decoder bound to one artifact store."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    # -- encode ---------------------------------------------------------------------------------
    def encode(self, value: Any) -> Any:
        """Journal JSON for ``value``; large values go to the artifact store."""
        if value is None or isinstance(value, (bool, int, str)):
            return value
        if isinstance(value, float):
            return float(value) if math.isfinite(value) else {TAG: "float", "v": repr(float(value))}
        if isinstance(value, list):
            return [self.encode(v) for v in value]
        if isinstance(value, tuple) and not hasattr(value, "_fields"):
            return {TAG: "tuple", "v": [self.encode(v) for v in value]}
        if isinstance(value, dict):
            if all(isinstance(k, str) for k in value) and TAG not in value:
                return {k: self.encode(v) for k, v in value.items()}
            return {TAG: "dict", "v": [[self.encode(k), self.encode(v)] for k, v in value.items()]}
        if isinstance(value, ArtifactRef):
            return {TAG: "ref", **dataclasses.asdict(value)}
        if isinstance(value, PurePath):
            return {TAG: "path", "v": str(value)}
        if isinstance(value, _dt.datetime):
            return {TAG: "datetime", "v": value.isoformat()}
        if isinstance(value, _dt.date):
            return {TAG: "date", "v": value.isoformat()}
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            cls = type(value)
            where = f"{cls.__module__}:{cls.__qualname__}"
            tagged: dict[str, Any] = {TAG: "dataclass", "cls": name_of(cls) or where}
            if tagged["cls"] != where:
                tagged["at"] = where  # where to import it from when no module has registered the name yet
            tagged["v"] = {f.name: self.encode(getattr(value, f.name)) for f in dataclasses.fields(value) if f.init}
            return tagged
        for handler in _REGISTRY.claiming(value):
            encoded = handler.encode(value, self)
            if encoded is not None:
                return encoded
        return self.encode_pickle(value)

    def encode_pickle(self, value: Any) -> dict[str, Any]:
        """The fallback: a pickle artifact, loaded on decode only after its hash verifies."""
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                f"a task returned a {type_name(value)}, which cannot be stored: {exc}. Return JSON values, "
                "dataclasses, frames, arrays, figures or picklable objects."
            ) from None
        ref = self.artifacts.put_bytes(data, "object.pkl")
        return {TAG: "pickle", "sha256": ref.sha256, "type": type_name(value)}

    # -- decode ---------------------------------------------------------------------------------
    def decode(self, value: Any) -> Any:
        """The value that ``encode`` was given, from its journal JSON."""
        if isinstance(value, list):
            return [self.decode(v) for v in value]
        if not isinstance(value, dict):
            return value
        tag = value.get(TAG)
        if tag is None:
            return {k: self.decode(v) for k, v in value.items()}
        if tag == "float":
            return float(value["v"])
        if tag == "tuple":
            return tuple(self.decode(v) for v in value["v"])
        if tag == "dict":
            return {self.decode(k): self.decode(v) for k, v in value["v"]}
        if tag == "ref":
            return ArtifactRef(**{k: value[k] for k in ("name", "sha256", "media_type", "size", "path")})
        if tag == "path":
            return Path(value["v"])
        if tag == "datetime":
            return _dt.datetime.fromisoformat(value["v"])
        if tag == "date":
            return _dt.date.fromisoformat(value["v"])
        if tag == "dataclass":
            return _dataclass_type(value)(**{k: self.decode(v) for k, v in value["v"].items()})
        if tag == "pickle":
            # Only files this store wrote and whose hash still matches are ever unpickled.
            return pickle.loads(self.artifacts.read_verified(value["sha256"]))
        handler = _REGISTRY.for_tag(tag) if isinstance(tag, str) else None
        if handler is None or handler.decode is None:
            broken = "; ".join(f"{n} ({why})" for n, why in sorted(_REGISTRY.broken.items()))
            hint = f" (value handlers that failed to load: {broken})" if broken else ""
            raise ValueError(f"unknown value tag {tag!r} in the journal{hint}")
        return handler.decode(value, self)


def _dataclass_type(tagged: dict[str, Any]) -> Any:
    """The class a dataclass tag names: by stable name, else by ``module:qualname`` (following moves)."""
    cls = named(tagged["cls"])
    if cls is None:
        module, _, qual = tagged.get("at", tagged["cls"]).partition(":")
        cls = locate(module, qual)
    return cls


def _unset_later_field(f: dataclasses.Field[Any], value: Any) -> bool:
    """A field added to a journaled type later (``metadata=ADDED_LATER``) that still holds its default: it is
    left out of the hash, which then equals the one runs recorded before the field existed."""
    if not all(f.metadata.get(k) == v for k, v in ADDED_LATER.items()):
        return False
    current = getattr(value, f.name)
    if f.default is not dataclasses.MISSING:
        return bool(current == f.default)
    if f.default_factory is not dataclasses.MISSING:
        return bool(current == f.default_factory())
    return False


def fingerprint(value: Any) -> Any:
    """A cheap stand-in of an argument for the determinism hash, equal live and on replay.

    JSON values count in full; frames and arrays by type, shape and column names (not their cells,
    which would cost a pass over the data); other objects by type, unless their handler says otherwise.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else repr(float(value))
    if isinstance(value, (list, tuple)):
        return [fingerprint(v) for v in value]
    if isinstance(value, dict):
        return {str(k): fingerprint(v) for k, v in value.items()}
    if isinstance(value, (PurePath, _dt.date)):
        return str(value)
    if isinstance(value, ArtifactRef):
        return {"ref": value.sha256}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {"dc": type(value).__qualname__,
                "v": {f.name: fingerprint(getattr(value, f.name)) for f in dataclasses.fields(value)
                      if not _unset_later_field(f, value)}}
    handler = next(iter(_REGISTRY.claiming(value)), None)
    if handler is not None and handler.fingerprint is not None:
        return fingerprint(handler.fingerprint(value))
    shape = getattr(value, "shape", None)
    out: dict[str, Any] = {"type": type(value).__name__, "shape": list(shape) if shape is not None else None}
    columns = getattr(value, "columns", None)
    if columns is not None:
        out["columns"] = [str(c) for c in columns]
    return out


def args_hash(kwargs: dict[str, Any]) -> str:
    """The determinism hash of a step's arguments (their fingerprints, canonical JSON, sha256)."""
    text = canonical_json(fingerprint(kwargs))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
