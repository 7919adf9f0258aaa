"""Plain JSON values from numpy/pandas scalars and containers (for gates, contexts, results)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Mapping


def jsonable(value: Any) -> Any:
    """Convert to JSON-safe values: numpy scalars to Python, NaN/inf to None, dataclasses to dicts."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [jsonable(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return jsonable(dataclasses.asdict(value))
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return jsonable(value.item())
    if hasattr(value, "tolist"):
        return jsonable(value.tolist())
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
