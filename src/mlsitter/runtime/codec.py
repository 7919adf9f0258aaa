"""Encode task results into journal JSON, moving large values into the artifact store.

JSON values stay inline. Frames go to Parquet, arrays to ``.npy``, figures to PNG (returned as an
:class:`ArtifactRef`), scikit-learn estimators to skops (a format that loads only the recorded types),
dataclasses, tuples, paths and datetimes are tagged, and anything else is pickled into a
content-addressed artifact that is loaded only after its hash verifies. Decoding
gives back the same types, so a replayed process sees what the live one saw.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import io
import math
import pickle
from pathlib import Path, PurePath
from typing import Any

from mlsitter.runtime.artifacts import ArtifactRef, ArtifactStore
from mlsitter.naming import locate, name_of, named
from mlsitter.runtime.canonical import canonical_json

TAG = "$t"


def _type_name(obj: Any) -> str:
    t = type(obj)
    return f"{t.__module__}.{t.__qualname__}"


def _is_frame(obj: Any) -> bool:
    return _type_name(obj) in ("pandas.core.frame.DataFrame", "pandas.core.series.Series")


def _is_polars(obj: Any) -> bool:
    return type(obj).__module__.startswith("polars") and type(obj).__name__ == "DataFrame"


def _is_ndarray(obj: Any) -> bool:
    return _type_name(obj) == "numpy.ndarray"


def _is_figure(obj: Any) -> bool:
    return _type_name(obj) == "matplotlib.figure.Figure"


def _is_estimator(obj: Any) -> bool:
    return any(c.__module__.startswith("sklearn.") and c.__name__ == "BaseEstimator" for c in type(obj).__mro__)


def _numpy_scalar(obj: Any) -> Any:
    if type(obj).__module__ == "numpy" and hasattr(obj, "item") and getattr(obj, "ndim", None) == 0:
        return obj.item()
    return None


class Codec:
    """Encoder/decoder bound to one artifact store."""

    def __init__(self, artifacts: ArtifactStore) -> None:
        self.artifacts = artifacts

    # -- encode ---------------------------------------------------------------------------------
    def encode(self, value: Any) -> Any:
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
        scalar = _numpy_scalar(value)
        if scalar is not None:
            return self.encode(scalar)
        if _is_frame(value):
            return self._encode_frame(value)
        if _is_polars(value):
            buffer = io.BytesIO()
            value.write_parquet(buffer)
            ref = self.artifacts.put_bytes(buffer.getvalue(), "frame.parquet")
            return {TAG: "polars", "sha256": ref.sha256, "rows": value.height}
        if _is_ndarray(value) and value.dtype != object:
            import numpy as np

            buffer = io.BytesIO()
            np.save(buffer, value, allow_pickle=False)
            ref = self.artifacts.put_bytes(buffer.getvalue(), "array.npy")
            return {TAG: "ndarray", "sha256": ref.sha256, "shape": list(value.shape)}
        if _is_figure(value):
            from mlsitter.figures import figure_to_png

            ref = self.artifacts.put_bytes(figure_to_png(value), "figure.png")
            return {TAG: "ref", **dataclasses.asdict(ref)}
        if _is_estimator(value):
            encoded = self._encode_skops(value)
            if encoded is not None:
                return encoded
        return self._encode_pickle(value)

    def _encode_skops(self, value: Any) -> dict[str, Any] | None:
        """Estimators go to the skops format, which loads without executing pickle opcodes."""
        try:
            import skops.io as sio

            data = sio.dumps(value)
            types = sio.get_untrusted_types(data=data)
        except Exception:  # skops missing or the object holds something it cannot write
            return None
        ref = self.artifacts.put_bytes(data, "model.skops")
        return {TAG: "skops", "sha256": ref.sha256, "type": _type_name(value), "types": types}

    def _encode_frame(self, value: Any) -> dict[str, Any]:
        import pandas as pd

        is_series = isinstance(value, pd.Series)
        frame = value.to_frame(name=value.name if value.name is not None else "__series__") if is_series else value
        buffer = io.BytesIO()
        try:
            frame.to_parquet(buffer, index=True)
        except (ValueError, TypeError, ImportError):  # exotic dtypes Parquet cannot hold
            return self._encode_pickle(value)
        ref = self.artifacts.put_bytes(buffer.getvalue(), "frame.parquet")
        return {TAG: "series" if is_series else "frame", "sha256": ref.sha256, "rows": int(len(frame))}

    def _encode_pickle(self, value: Any) -> dict[str, Any]:
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as exc:
            raise TypeError(
                f"a task returned a {_type_name(value)}, which cannot be stored: {exc}. Return JSON values, "
                "dataclasses, frames, arrays, figures or picklable objects."
            ) from None
        ref = self.artifacts.put_bytes(data, "object.pkl")
        return {TAG: "pickle", "sha256": ref.sha256, "type": _type_name(value)}

    # -- decode ---------------------------------------------------------------------------------
    def decode(self, value: Any) -> Any:
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
        if tag in ("frame", "series"):
            import pandas as pd

            frame = _missing_as_nan(pd.read_parquet(io.BytesIO(self.artifacts.read_verified(value["sha256"]))))
            if tag == "series":
                series = frame.iloc[:, 0]
                return series.rename(None) if series.name == "__series__" else series
            return frame
        if tag == "polars":
            import polars as pl

            return pl.read_parquet(io.BytesIO(self.artifacts.read_verified(value["sha256"])))
        if tag == "ndarray":
            import numpy as np

            return np.load(io.BytesIO(self.artifacts.read_verified(value["sha256"])), allow_pickle=False)
        if tag == "skops":
            import skops.io as sio

            # Only the types recorded (in the hash-chained journal) when the model was written are allowed.
            return sio.loads(self.artifacts.read_verified(value["sha256"]), trusted=value["types"])
        if tag == "pickle":
            # Only files this store wrote and whose hash still matches are ever unpickled.
            return pickle.loads(self.artifacts.read_verified(value["sha256"]))
        raise ValueError(f"unknown value tag {tag!r} in the journal")


def _dataclass_type(tagged: dict[str, Any]) -> Any:
    """The class a dataclass tag names: by stable name, else by ``module:qualname`` (following moves)."""
    cls = named(tagged["cls"])
    if cls is None:
        module, _, qual = tagged.get("at", tagged["cls"]).partition(":")
        cls = locate(module, qual)
    return cls


def _missing_as_nan(frame: Any) -> Any:
    """Parquet gives missing text cells back as None; pandas readers give NaN. Restore NaN so a
    replayed process sees what the live one saw (imputers treat None and NaN differently)."""
    import numpy as np

    for column in frame.columns[frame.dtypes == object]:
        frame[column] = frame[column].where(frame[column].notna(), np.nan)
    return frame


def fingerprint(value: Any) -> Any:
    """A cheap stand-in of an argument for the determinism hash, equal live and on replay.

    JSON values count in full; frames and arrays by type, shape and column names (not their cells,
    which would cost a pass over the data); other objects by type.
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
                "v": {f.name: fingerprint(getattr(value, f.name)) for f in dataclasses.fields(value)}}
    scalar = _numpy_scalar(value)
    if scalar is not None:
        return fingerprint(scalar)
    shape = getattr(value, "shape", None)
    out: dict[str, Any] = {"type": type(value).__name__, "shape": list(shape) if shape is not None else None}
    columns = getattr(value, "columns", None)
    if columns is not None:
        out["columns"] = [str(c) for c in columns]
    return out


def args_hash(kwargs: dict[str, Any]) -> str:
    text = canonical_json(fingerprint(kwargs))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]
