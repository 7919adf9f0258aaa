"""Conversions between pandas and polars frames, so ml/ functions accept either."""

from __future__ import annotations

from typing import Any

import pandas as pd
import polars as pl


def as_polars(frame: Any) -> pl.DataFrame:
    """A polars frame from a polars or pandas frame (object columns of mixed types become strings)."""
    if isinstance(frame, pl.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        return frame.collect()
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas or polars DataFrame, got {type(frame).__name__}")
    frame = frame.reset_index(drop=True)
    frame.columns = [str(c) for c in frame.columns]
    try:
        return pl.from_pandas(frame)
    except (TypeError, ValueError, pl.exceptions.PolarsError):
        fixed = frame.copy()
        for col in fixed.columns:
            if fixed[col].dtype == object:
                fixed[col] = fixed[col].map(lambda v: v if v is None or (isinstance(v, float) and v != v) else str(v))
        return pl.from_pandas(fixed)


def as_pandas(frame: Any) -> pd.DataFrame:
    """A pandas frame from a pandas or polars frame."""
    if isinstance(frame, pd.DataFrame):
        return frame
    if isinstance(frame, pl.LazyFrame):
        frame = frame.collect()
    if isinstance(frame, pl.DataFrame):
        return frame.to_pandas()
    raise TypeError(f"expected a pandas or polars DataFrame, got {type(frame).__name__}")


def sample_rows(frame: pl.DataFrame, n: int | None, seed: int = 0) -> pl.DataFrame:
    """At most ``n`` rows drawn without replacement (seeded); the frame itself when it is small enough."""
    if n is None or n <= 0 or frame.height <= n:
        return frame
    return frame.sample(n=n, seed=seed)
