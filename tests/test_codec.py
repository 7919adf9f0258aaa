"""Task results keep their types through the journal (live and on replay), and stored models are safe."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlsitter import Store
from mlsitter.runtime.artifacts import ArtifactRef
from mlsitter.runtime.codec import Codec


@dataclass
class Metrics:
    accuracy: float
    folds: list


def roundtrip(value):
    """Encode, write as journal JSON text, read back, decode: what a replay sees."""
    import json

    from mlsitter.runtime.canonical import canonical_json

    codec = Codec(Store().artifacts)
    return codec.decode(json.loads(canonical_json(codec.encode(value))))


def test_plain_and_tagged_values_roundtrip():
    value = {"a": 1, "b": [1.5, None, "x"], "t": (1, 2), "p": Path("/tmp/x"), "d": dt.date(2024, 1, 2),
             "when": dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.timezone.utc), "nan": float("nan"),
             "int_keys": {1: "one"}, "m": Metrics(0.9, [0.8, 1.0]), "np": np.float64(2.5)}
    back = roundtrip(value)
    assert back["t"] == (1, 2) and back["p"] == Path("/tmp/x") and back["d"] == dt.date(2024, 1, 2)
    assert back["when"] == value["when"] and back["int_keys"] == {1: "one"} and back["m"] == Metrics(0.9, [0.8, 1.0])
    assert np.isnan(back["nan"]) and back["np"] == 2.5 and type(back["np"]) is float


def test_frames_series_arrays_go_to_artifacts():
    frame = pd.DataFrame({"x": [1, 2, None], "c": ["a", "b", "c"]}, index=[10, 11, 12])
    series = pd.Series([1.0, 2.0], name="s")
    array = np.arange(6).reshape(2, 3)
    codec = Codec(Store().artifacts)
    encoded = codec.encode({"f": frame, "s": series, "a": array})
    assert encoded["f"]["$t"] == "frame" and len(encoded["f"]["sha256"]) == 64
    back = codec.decode(encoded)
    pd.testing.assert_frame_equal(back["f"], frame)
    pd.testing.assert_series_equal(back["s"], series)
    np.testing.assert_array_equal(back["a"], array)


def test_figure_becomes_png_artifact_ref():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    ax.plot([1, 2, 3])
    ref = roundtrip(fig)
    assert isinstance(ref, ArtifactRef) and ref.media_type == "image/png"
    assert Path(ref.path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_estimator_is_stored_with_skops_and_predicts_the_same():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X = np.random.RandomState(0).rand(40, 3)
    y = (X[:, 0] > 0.5).astype(int)
    model = make_pipeline(StandardScaler(), LogisticRegression()).fit(X, y)
    codec = Codec(Store().artifacts)
    encoded = codec.encode(model)
    assert encoded["$t"] == "skops" and encoded["types"] == []
    np.testing.assert_array_equal(codec.decode(encoded).predict(X), model.predict(X))


def test_tampered_pickle_artifact_is_never_loaded():
    from fractions import Fraction

    codec = Codec(Store().artifacts)
    encoded = codec.encode(Fraction(1, 3))  # no JSON form and not an estimator: pickled
    assert encoded["$t"] == "pickle"
    path = Store().artifacts.find(encoded["sha256"])
    path.chmod(0o644)
    path.write_bytes(path.read_bytes() + b"tamper")
    with pytest.raises(ValueError, match="was modified"):
        codec.decode(encoded)


def test_missing_text_cells_come_back_as_nan_not_none():
    frame = pd.DataFrame({"c": ["a", None, np.nan], "x": [1.0, np.nan, 3.0]})
    back = roundtrip(frame)
    assert back["c"].isna().tolist() == [False, True, True]
    assert all(v is not None for v in back["c"].tolist())  # NaN, as pandas' readers give


def test_argument_fingerprint_is_the_same_live_and_on_replay():
    from mlsitter.runtime.codec import args_hash

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    live = {"frame": frame, "pair": (frame, 3), "model": object()}
    replayed = {"frame": roundtrip(frame), "pair": (roundtrip(frame), 3), "model": object()}
    assert args_hash(live) == args_hash(replayed)
    assert args_hash({"frame": frame}) != args_hash({"frame": frame[["a"]]})
