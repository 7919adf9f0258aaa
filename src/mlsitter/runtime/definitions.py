"""``@process`` and ``@task``: thin decorators that register and describe, and return the function.

A process is found by its registered name (installed packages declare theirs as ``mlsitter.processes``
entry points, imported only when used), by ``module:function``, or by ``path/to/file.py:function`` for a
user's own file.
"""

from __future__ import annotations

import functools
import hashlib
import importlib
import importlib.util
import inspect
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar, overload

from mlsitter.errors import UnknownProcessError
from mlsitter.naming import locate, name_of, register

F = TypeVar("F", bound=Callable[..., Any])

_REGISTRY: dict[str, "ProcessSpec"] = {}


@dataclass(frozen=True)
class ProcessSpec:
    """A registered process: its name, phase, description and function."""

    name: str
    fn: Callable[..., Any]
    phase: str | None = None
    description: str = ""

    @property
    def target(self) -> str:
        """How a later resume finds the function again: an installed process by its name, so that moving
        its module never strands a run; any other by ``module:function`` or ``file.py:function``."""
        where = function_target(self.fn)
        return self.name if catalogue().get(self.name) == where else where


@dataclass(frozen=True)
class Catalogue:
    """Every process known by name, and the installed ones that failed to load, with their error."""

    processes: dict[str, ProcessSpec]
    broken: dict[str, str]


@dataclass(frozen=True)
class TaskOptions:
    """Per-task policy: ``retries`` extra attempts, waiting ``backoff * 2**n`` seconds; ``local`` tasks run in
    the runner process whatever the executor (as Temporal's local activities do)."""

    retries: int = 0
    backoff: float = 0.5
    max_backoff: float = 30.0
    local: bool = False

    def delay(self, attempt: int) -> float:
        return min(self.backoff * (2.0 ** (attempt - 1)), self.max_backoff)


DEFAULT_TASK_OPTIONS = TaskOptions()


def process(name: str, *, phase: str | None = None, description: str | None = None) -> Callable[[F], F]:
    """Register ``fn(ctx, **inputs)`` as the process ``name``; the function is returned unchanged."""

    def decorate(fn: F) -> F:
        check_process_shape(fn, name)
        doc = (inspect.getdoc(fn) or "").split("\n\n")[0].replace("\n", " ")
        spec = ProcessSpec(name, fn, phase, description or doc)
        fn.__mlsitter_process__ = spec  # type: ignore[attr-defined]
        _REGISTRY[name] = spec
        return fn

    return decorate


@overload
def task(fn: F) -> F: ...
@overload
def task(*, name: str | None = None, retries: int = 0, backoff: float = 0.5, max_backoff: float = 30.0,
         local: bool = False) -> Callable[[F], F]: ...
def task(fn: Any = None, *, name: str | None = None, retries: int = 0, backoff: float = 0.5,
         max_backoff: float = 30.0, local: bool = False) -> Any:
    """Mark a function as a task with a retry policy; it stays callable on its own.

    ``name``: the step's stable journal name (``"eda.profile"``), so moving the function never breaks a
    waiting run; without it the step is named by its module path.

    ``local=True``: run it in the runner process even on a pool executor. For short, I/O-bound steps (logging
    to a tracking store, registering a model) that would otherwise pay a fresh worker's imports and the
    transfer of their arguments for nothing; still journaled and replayed like any task.
    """
    if retries < 0 or backoff < 0:
        raise ValueError(f"@task needs retries >= 0 and backoff >= 0, got retries={retries!r}, backoff={backoff!r}")
    options = TaskOptions(retries, backoff, max_backoff, local)

    def decorate(f: F) -> F:
        f.__mlsitter_task__ = options  # type: ignore[attr-defined]
        if name is not None:
            register(f, name)
        return f

    return decorate(fn) if fn is not None else decorate


def task_options(fn: Callable[..., Any]) -> TaskOptions:
    return getattr(fn, "__mlsitter_task__", DEFAULT_TASK_OPTIONS)


def step_name(fn: Callable[..., Any]) -> str:
    """The name a step of ``fn`` has in the journal: its stable name, else ``module.qualname``."""
    return name_of(fn) or f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def same_step(recorded: str, current: str) -> bool:
    """Whether a step name read from a journal names the step ``current`` names now: the same text, or
    a module path (as journals before stable names recorded) of a function that now has that name.
    ``parallel`` groups join their steps' names with commas."""
    if recorded == current:
        return True
    old, new = recorded.split(","), current.split(",")
    return len(old) == len(new) and all(o == n or _named_now(o) == n for o, n in zip(old, new))


def _named_now(recorded: str) -> str | None:
    module, _, qual = recorded.rpartition(".")
    while module:
        try:
            return step_name(locate(module, qual))
        except ImportError:
            module, _, head = module.rpartition(".")
            qual = f"{head}.{qual}"
    return None


def check_process_shape(fn: Callable[..., Any], name: str) -> None:
    """A process takes ``ctx`` first, then named inputs; no ``*args``/``**kwargs``."""
    if not callable(fn):
        raise TypeError(f"@process({name!r}) must decorate a function, got {fn!r}")
    params = list(inspect.signature(fn).parameters.values())
    if not params:
        raise TypeError(f"process {name!r} ({step_name(fn)}) must take the context as its first parameter")
    bad = [p.name for p in params[1:] if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD, p.POSITIONAL_ONLY)]
    if bad:
        raise TypeError(f"process {name!r} has inputs that cannot be named: {', '.join(bad)}; use plain keyword inputs")


def function_target(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None)
    qual = fn.__qualname__
    mod = sys.modules.get(module or "")
    origin = getattr(mod, "__mlsitter_file__", None)
    if origin:
        return f"{origin}:{qual}"
    main_file = getattr(mod, "__file__", None) if module == "__main__" else None
    if main_file:
        return f"{Path(main_file).resolve()}:{qual}"
    return f"{module}:{qual}"


ENTRY_POINT_GROUP = "mlsitter.processes"


@functools.cache
def catalogue() -> dict[str, str]:
    """Installed processes, name -> ``module:function``, from the ``mlsitter.processes`` entry points of
    every installed package (mlsitter's own and any other); nothing is imported."""
    from importlib.metadata import entry_points

    return {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}


def registered() -> Catalogue:
    """Every process known by name (installed ones plus those registered in this session), importing each
    installed one; one that fails to import is reported with its error instead of hiding the others."""
    specs = dict(_REGISTRY)
    broken: dict[str, str] = {}
    for name, target in catalogue().items():
        if name not in specs:
            try:
                specs[name] = spec_for(load_target(target), name)
            except Exception as exc:
                broken[name] = f"{target}: {type(exc).__name__}: {exc}"
    return Catalogue(specs, broken)


def known_names() -> list[str]:
    return sorted(set(catalogue()) | set(_REGISTRY))


def resolve(name_or_target: str | Callable[..., Any]) -> ProcessSpec:
    """Find a process by registered name, ``module:function`` or ``file.py:function``."""
    if callable(name_or_target):
        return spec_for(name_or_target)
    text = str(name_or_target)
    if text in _REGISTRY:
        return _REGISTRY[text]
    installed = catalogue()
    if text in installed:
        return spec_for(load_target(installed[text]), text)
    if ":" in text:
        return spec_for(load_target(text))
    known = ", ".join(known_names()) or "none yet"
    raise UnknownProcessError(
        f"unknown process {text!r}. Known processes: {known}. "
        "For your own process pass 'path/to/file.py:function' or 'package.module:function'."
    )


def spec_for(fn: Callable[..., Any], name: str | None = None) -> ProcessSpec:
    spec = getattr(fn, "__mlsitter_process__", None)
    if spec is None:
        label = name or fn.__name__.replace("_", "-")
        check_process_shape(fn, label)
        return ProcessSpec(label, fn, None, (inspect.getdoc(fn) or "").split("\n\n")[0])
    assert isinstance(spec, ProcessSpec)
    return spec


def load_target(target: str, *, prefer_process: bool = True) -> Callable[..., Any]:
    """Import ``module:qualname`` or ``path.py:qualname`` and return the object; with
    ``prefer_process`` a name registered by ``@process`` in that module wins over an attribute."""
    location, sep, qual = target.rpartition(":")
    if not sep or not location or not qual:
        raise UnknownProcessError(f"{target!r} is not 'module:function' or 'path/to/file.py:function'")
    if location.endswith(".py") or "/" in location or "\\" in location:
        module = _load_file(Path(location))
    else:
        try:
            module = importlib.import_module(location)
        except ImportError as exc:
            raise UnknownProcessError(f"cannot import module {location!r} for process {target!r}: {exc}") from None
    found = _process_named(module, qual) if prefer_process else None
    if found is not None:
        return found
    try:
        obj = locate(module.__name__, qual)
    except ImportError:
        raise UnknownProcessError(f"{location} has no function {qual!r} (looked for process {target!r})") from None
    if not callable(obj):
        raise UnknownProcessError(f"{target!r} is not a function")
    return obj  # type: ignore[no-any-return]  # callable() narrows to a callable of unknown signature


def _process_named(module: Any, name: str) -> Callable[..., Any] | None:
    """A function of ``module`` registered with ``@process(name)`` (so 'file.py:my-name' works)."""
    for value in vars(module).values():
        spec = getattr(value, "__mlsitter_process__", None)
        if isinstance(spec, ProcessSpec) and spec.name == name and callable(value):
            return value  # type: ignore[no-any-return]
    return None


def _load_file(path: Path) -> Any:
    path = path.expanduser().resolve()
    if not path.is_file():
        raise UnknownProcessError(f"process file {str(path)!r} does not exist")
    main = sys.modules.get("__main__")
    main_file = getattr(main, "__file__", None)
    if main_file and Path(main_file).resolve() == path:
        return main  # the running script itself: do not execute it a second time
    name = "mlsitter_user_" + hashlib.sha256(str(path).encode()).hexdigest()[:12]
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise UnknownProcessError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    module.__mlsitter_file__ = str(path)  # type: ignore[attr-defined]
    sys.modules[name] = module
    sys.path.insert(0, str(path.parent))
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise UnknownProcessError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    finally:
        sys.path.remove(str(path.parent))
    return module
