"""Task results keep their types through the journal (live and on replay), and stored models are safe."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import BaseEstimator

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


# -- digests and journal forms pinned from the codec before handlers moved out of the runtime -------------


@dataclass
class Point:
    x: float
    y: list


class Holder(BaseEstimator):
    """An estimator skops cannot write (a complex parameter), so the codec pickles it."""

    def __init__(self, fn=None):
        self.fn = fn


def _pinned_values():
    import polars as pl
    from sklearn.linear_model import LogisticRegression

    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    X = np.arange(8, dtype=float).reshape(4, 2)
    return {
        "json": {"a": 1, "b": [1.5, None, "x", True]}, "nan": float("nan"), "inf": float("-inf"),
        "tuple": (1, "a"), "intkeys": {1: "one", 2: "two"}, "path": Path("/tmp/x"), "date": dt.date(2024, 1, 2),
        "datetime": dt.datetime(2024, 1, 2, 3, 4, tzinfo=dt.timezone.utc),
        "ref": ArtifactRef(name="r.txt", sha256="ab" * 32, media_type="text/plain", size=3, path="/tmp/r.txt"),
        "dataclass": Point(1.0, [1, 2]),
        "np_int": np.int64(7), "np_float32": np.float32(0.5), "np_float64": np.float64(2.5), "np_bool": np.bool_(True),
        "zero_d": np.array(5), "np_f32_nan": np.float32("nan"), "nat": np.datetime64("NaT"),
        "np_td": np.timedelta64(3, "s"),
        "ndarray": np.arange(6).reshape(2, 3), "obj_array": np.array([1, "a"], dtype=object),
        "frame": frame, "series": pd.Series([1.0, 2.0], name="s"), "mixed_frame": pd.DataFrame({"m": [1, "a"]}),
        "frame_in_tuple": (frame, 3), "polars": pl.DataFrame({"p": [1, 2, 3], "q": ["a", "b", "c"]}),
        "estimator": LogisticRegression().fit(X, np.array([0, 1, 0, 1])), "skops_fail": Holder(fn=1j),
        "object": object(), "fraction": __import__("fractions").Fraction(1, 3),
    }


PINNED_DIGESTS = {  # args_hash({"v": value}) computed with the codec before the handler registry
    "json": "400484f21c90dce3", "nan": "7c4a49aad73c96cb", "inf": "026d8420d969b5ef", "tuple": "f426454308904462",
    "intkeys": "918512b958412b11", "path": "7f97ec05ec2acd37", "date": "00ab97c21eb2af0a",
    "datetime": "3e57df001c86766d", "ref": "2db9777314899a34", "dataclass": "5011ab810fd077dc",
    "np_int": "2790ebfa2520c127", "np_float32": "9193de9a397800de", "np_float64": "985db9a2a849ec75",
    "np_bool": "9175b89688753d73", "zero_d": "b1ca821b929e3814", "np_f32_nan": "7c4a49aad73c96cb",
    "nat": "f6a6b0bd235ec12d", "np_td": "4dbe27b9f3798e7c", "ndarray": "b414c05d34f6b671",
    "obj_array": "f008f7f0dce0e687", "frame": "c0839cbecce290e7", "series": "32d10fb678ae8450",
    "mixed_frame": "0f0ff25c5a8b4c40", "frame_in_tuple": "be05d8cc595ef245", "polars": "a35c532df2b796c1",
    "estimator": "6eed1369e08b3161", "skops_fail": "60f0e796adebaf12", "object": "79735da05e18bd57",
    "fraction": "931aeada1c2448c8",
}

PINNED_FORMS = {  # the journal form (tag and fields; sha256 values vary by library version) before the registry
    "np_int": 7, "np_float32": 0.5, "np_bool": True, "zero_d": 5, "np_f32_nan": {"$t": "float", "v": "nan"},
    "nat": ("pickle", ["$t", "sha256", "type"]), "np_td": ("pickle", ["$t", "sha256", "type"]),
    "ndarray": ("ndarray", ["$t", "sha256", "shape"]), "obj_array": ("pickle", ["$t", "sha256", "type"]),
    "frame": ("frame", ["$t", "rows", "sha256"]), "series": ("series", ["$t", "rows", "sha256"]),
    "mixed_frame": ("pickle", ["$t", "sha256", "type"]), "polars": ("polars", ["$t", "rows", "sha256"]),
    "estimator": ("skops", ["$t", "sha256", "type", "types"]), "skops_fail": ("pickle", ["$t", "sha256", "type"]),
    "fraction": ("pickle", ["$t", "sha256", "type"]),
}


def test_fingerprints_and_journal_forms_are_those_of_the_codec_before_the_registry():
    from mlsitter.runtime.codec import args_hash

    values = _pinned_values()
    assert {name: args_hash({"v": v}) for name, v in values.items()} == PINNED_DIGESTS
    assert args_hash(values) == args_hash({k: values[k] for k in reversed(list(values))})
    codec = Codec(Store().artifacts)
    for name, form in PINNED_FORMS.items():
        encoded = codec.encode(values[name])
        if isinstance(form, tuple):
            assert (encoded["$t"], sorted(encoded)) == form, name
        else:
            assert encoded == form and type(encoded) is type(form), name
    assert codec.encode(values["ndarray"])["shape"] == [2, 3] and codec.encode(values["frame"])["rows"] == 2
    assert codec.encode(values["mixed_frame"])["type"] == "pandas.core.frame.DataFrame"
    back = codec.decode(codec.encode(values["skops_fail"]))
    assert type(back).__name__ == "Holder" and back.fn == 1j


def test_a_handler_registered_at_run_time_roundtrips_its_own_type():
    from mlsitter.runtime.codec import TAG, ValueHandler, fingerprint, register_value_handler

    class Money:
        def __init__(self, cents: int, currency: str) -> None:
            self.cents, self.currency = cents, currency

    handler = ValueHandler(
        claims=lambda v: isinstance(v, Money),
        encode=lambda v, codec: {TAG: "test-money", "cents": v.cents, "cur": codec.encode(v.currency)},
        tag="test-money",
        decode=lambda data, codec: Money(data["cents"], codec.decode(data["cur"])),
        fingerprint=lambda v: [v.cents, v.currency],
    )
    register_value_handler(handler)
    register_value_handler(handler)  # the same handler again is a no-op
    encoded = Codec(Store().artifacts).encode({"price": Money(250, "EUR")})
    assert encoded == {"price": {"$t": "test-money", "cents": 250, "cur": "EUR"}}
    back = roundtrip(Money(250, "EUR"))
    assert isinstance(back, Money) and (back.cents, back.currency) == (250, "EUR")
    assert fingerprint(Money(1, "USD")) == [1, "USD"]
    other = ValueHandler(claims=lambda v: False, encode=lambda v, codec: None, tag="test-money")
    with pytest.raises(ValueError, match="already registered"):
        register_value_handler(other)
    with pytest.raises(ValueError, match="reserved"):
        register_value_handler(ValueHandler(claims=lambda v: False, encode=lambda v, codec: None, tag="pickle"))


def test_installed_handlers_come_from_entry_points_in_the_order_of_the_codec_before():
    from mlsitter.runtime.codec import value_handlers

    tags = [(h.encode.__module__, h.tag) for h in value_handlers() if h.encode.__module__.startswith("mlsitter.")]
    assert tags == [("mlsitter.codecs.numpy", None), ("mlsitter.codecs.pandas", "frame"),
                    ("mlsitter.codecs.pandas", "series"), ("mlsitter.codecs.polars", "polars"),
                    ("mlsitter.codecs.numpy", "ndarray"), ("mlsitter.codecs.matplotlib", None),
                    ("mlsitter.codecs.sklearn", "skops")]


def test_unknown_tag_is_a_clear_error():
    codec = Codec(Store().artifacts)
    with pytest.raises(ValueError, match=r"unknown value tag 'no-such-tag' in the journal"):
        codec.decode({"x": {"$t": "no-such-tag", "v": 1}})


def test_import_mlsitter_loads_no_value_library_nor_handler():
    import subprocess
    import sys

    code = ("import mlsitter, sys; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pandas', 'numpy', 'polars', 'matplotlib', 'sklearn', 'skops') or m.startswith('mlsitter.codecs')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
    code = ("import sys; from mlsitter import Store; from mlsitter.runtime.codec import Codec; "
            "c = Codec(Store().artifacts); c.decode(c.encode({'a': (1, 2.5), 'o': object()})); "
            "print(sorted(m for m in ('pandas', 'numpy', 'polars', 'matplotlib', 'sklearn') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"  # the handlers load on an unknown value, their libraries only on their own values
