"""Associations and leaks judged on their evidence (issue 24): a bias-corrected Cramér's V with its
support, leak suspects shown below the threshold, additive relations to the target, contracts that
type dates as dates and refuse unusable files."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mlsitter.errors import SpecError
from mlsitter.ml.data._correlation import category_codes, compute_associations, cramers_v
from mlsitter.ml.data._profiling import profile_frame
from mlsitter.ml.data._schema_contract import infer_contract, load_contract, save_contract
from mlsitter.ml.data._target_analysis import analyze_target
from mlsitter.ml.io._frames import as_polars
from mlsitter.ml.io._table_reader import parse_date_columns


def test_a_sparse_column_filled_in_seven_rows_drives_no_strong_association():
    rng = np.random.default_rng(0)
    n = 1460
    quality = rng.choice(["Ex", "Gd", "TA"], n)
    pool = np.full(n, None, dtype=object)
    filled = rng.choice(n, 7, replace=False)
    pool[filled] = [{"Ex": "big", "Gd": "mid", "TA": "small"}[q] for q in quality[filled]]  # a perfect relation on 7 rows
    frame = pd.DataFrame({"quality": quality, "pool": pool, "garage": np.where(quality == "Ex", "yes", rng.choice(["yes", "no"], n))})
    kinds = profile_frame(frame).kinds
    assoc = compute_associations(frame, kinds)
    i, j = assoc.categorical.index("quality"), assoc.categorical.index("pool")
    assert assoc.cramers_support[i][j] == 7 and assoc.min_support == 50
    assert not any({"quality", "pool"} == {h["a"], h["b"]} for h in assoc.high_pairs)
    assert assoc.cramers_v[i][j] == pytest.approx(1.0)  # a perfect relation stays 1.0; its support is what is missing
    strong = pd.DataFrame({"x": quality, "y": pd.Series(quality).map({"Ex": "a", "Gd": "b", "TA": "c"})})
    pair = compute_associations(strong, {"x": "categorical", "y": "categorical"}).high_pairs[0]
    assert pair["value"] == pytest.approx(1.0) and pair["support"] == n


def _plain_v(a: np.ndarray, b: np.ndarray) -> float:
    """The textbook (uncorrected) Cramér's V: sqrt(chi2 / (n (min(r, c) - 1)))."""
    table = pd.crosstab(a, b).to_numpy().astype(float)
    expected = table.sum(1, keepdims=True) * table.sum(0, keepdims=True) / table.sum()
    return float(np.sqrt(((table - expected) ** 2 / expected).sum() / (table.sum() * (min(table.shape) - 1))))


def test_cramers_v_is_bias_corrected():
    rng = np.random.default_rng(1)
    a, b = rng.integers(0, 4, 40), rng.integers(0, 5, 40)  # independent columns, few rows
    assert _plain_v(a, b) > 0.25 and cramers_v(a, 4, b, 5) < _plain_v(a, b) - 0.1
    a = rng.integers(0, 4, 20_000)
    b = np.where(rng.random(20_000) < 0.6, a, rng.integers(0, 4, 20_000))  # a real association, many rows
    assert cramers_v(a, 4, b, 4) == pytest.approx(_plain_v(a, b), abs=0.002) and cramers_v(a, 4, b, 4) > 0.6


def _trips(n: int = 1000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    fare = rng.gamma(2, 8, n).round(2)
    tip = (fare * rng.uniform(0, 0.25, n)).round(2)
    tolls = np.where(rng.random(n) < 0.1, 6.55, 0.0)
    return pd.DataFrame({"fare": fare, "tip": tip, "tolls": tolls, "total": (fare + tip + tolls).round(2),
                         "distance": (fare / 2.5 + rng.normal(0, 4, n)).round(2), "passengers": rng.integers(1, 5, n)})


def test_a_total_that_adds_the_target_is_a_leak_and_near_misses_are_listed():
    trips = _trips()
    result = analyze_target(trips, "fare", profile_frame(trips).kinds)
    total = next(p for p in result.features if p.feature == "total")
    assert total.single_feature_score < 0.9  # alone it passes just under the near-perfect threshold
    assert "total" in result.leak_suspects and "linear combination" in total.leak
    assert set(result.leak_suspects) == {"total", "tip", "tolls"}
    shown = {s["feature"]: s for s in result.suspects}
    assert shown["total"]["flagged"] and shown["total"]["threshold"] == 0.9
    assert shown["distance"] == {"feature": "distance", "score": pytest.approx(0.5, abs=0.2), "threshold": 0.9,
                                 "flagged": False, "reason": shown["distance"]["reason"]}
    assert "below 0.9" in shown["distance"]["reason"]
    honest = analyze_target(trips.drop(columns=["total"]), "fare", profile_frame(trips.drop(columns=["total"])).kinds)
    assert honest.leak_suspects == [] and honest.suspects[0]["feature"] == "distance"


def test_contract_types_dates_as_datetimes_and_refuses_unusable_files(tmp_path):
    frame = parse_date_columns(pd.DataFrame({"month": ["2020-01", "2020-02", "2020-03"], "units": [3, 4, 5]}))
    path = save_contract(infer_contract(frame), tmp_path / "contract.yaml")
    assert load_contract(path).columns["month"].dtype.type == np.dtype("datetime64[ns]")
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"PK\x03\x04\x00\x00\xff\xfe" * 8)
    with pytest.raises(SpecError, match=r"is a binary file \(NUL byte at offset 4\); expected a pandera schema as YAML or JSON"):
        load_contract(binary)
    latin = tmp_path / "latin.yaml"
    latin.write_bytes("columns:\n  caf\xe9: {}\n".encode("latin-1"))
    with pytest.raises(SpecError, match=r"is not UTF-8 text \(byte 0xe9"):
        load_contract(latin)
    empty = tmp_path / "empty.yaml"
    empty.write_text("schema_type: dataframe\napi: pandas\ncolumns: {}\nname: nothing\n")
    with pytest.raises(SpecError, match=r"declares no columns, so it would accept any data"):
        load_contract(empty)
