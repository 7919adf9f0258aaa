"""pandas frames and series in the journal as Parquet artifacts; what Parquet cannot hold is pickled."""

from __future__ import annotations

import io
from typing import Any

from mlsitter.runtime.codec import TAG, Codec, ValueHandler, type_name

SERIES_COLUMN = "__series__"  # the column name of an unnamed series in its Parquet file


def is_frame(value: Any) -> bool:
    """A pandas DataFrame (the class itself, as the journal has always matched it)."""
    return type_name(value) == "pandas.core.frame.DataFrame"


def is_series(value: Any) -> bool:
    """A pandas Series (the class itself)."""
    return type_name(value) == "pandas.core.series.Series"


def encode_frame(value: Any, codec: Codec) -> dict[str, Any] | None:
    """Write a frame or series as Parquet; decline (so it is pickled) for dtypes Parquet cannot hold."""
    series = is_series(value)
    frame = value.to_frame(name=value.name if value.name is not None else SERIES_COLUMN) if series else value
    buffer = io.BytesIO()
    try:
        frame.to_parquet(buffer, index=True)
    except (ValueError, TypeError, ImportError):  # exotic dtypes Parquet cannot hold
        return None
    ref = codec.artifacts.put_bytes(buffer.getvalue(), "frame.parquet")
    return {TAG: "series" if series else "frame", "sha256": ref.sha256, "rows": int(len(frame))}


def decode_frame(data: dict[str, Any], codec: Codec) -> Any:
    """Read the verified Parquet artifact back as a frame (missing text as NaN)."""
    import pandas as pd

    return missing_as_nan(pd.read_parquet(io.BytesIO(codec.artifacts.read_verified(data["sha256"]))))


def decode_series(data: dict[str, Any], codec: Codec) -> Any:
    """Read the verified Parquet artifact back as the series it was."""
    series = decode_frame(data, codec).iloc[:, 0]
    return series.rename(None) if series.name == SERIES_COLUMN else series


def missing_as_nan(frame: Any) -> Any:
    """Parquet gives missing text cells back as None; pandas readers give NaN. Restore NaN so a
    replayed process sees what the live one saw (imputers treat None and NaN differently)."""
    import numpy as np

    for column in frame.columns[frame.dtypes == object]:
        frame[column] = frame[column].where(frame[column].notna(), np.nan)
    return frame


FRAME = ValueHandler(claims=is_frame, encode=encode_frame, tag="frame", decode=decode_frame, priority=20)
SERIES = ValueHandler(claims=is_series, encode=encode_frame, tag="series", decode=decode_series, priority=21)
