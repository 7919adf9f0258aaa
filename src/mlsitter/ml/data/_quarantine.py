"""Split a frame into clean rows and quarantined rows, each quarantined row with its reasons."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
from mlsitter.naming import stable_name

REASON_COLUMN = "_quarantine_reason"
ROW_COLUMN = "_row"
SOURCE_COLUMN = "_source"


@stable_name("ml.data.QuarantineSplit")
@dataclass
class QuarantineSplit:
    """Where the clean and quarantined rows were written, and how many of each."""

    clean_path: str
    quarantine_path: str | None
    clean_rows: int
    quarantined_rows: int
    reasons: dict[str, int]


def split_rows(frame: pd.DataFrame, row_reasons: Mapping[int, Sequence[str]],
               sources: Sequence[tuple[str, int]] = ()) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean, quarantined): quarantined keeps the original row number, the reasons joined by '; ',
    and, when ``sources`` gives (name, rows) of stacked sources in order, the source of each row."""
    frame = frame.reset_index(drop=True)
    bad = np.array(sorted(int(i) for i in row_reasons), dtype=np.int64)
    mask = np.zeros(len(frame), dtype=bool)
    mask[bad] = True
    clean = frame.loc[~mask].reset_index(drop=True)
    quarantined = frame.loc[mask].copy()
    quarantined.insert(0, ROW_COLUMN, quarantined.index.to_numpy())
    quarantined[REASON_COLUMN] = ["; ".join(dict.fromkeys(row_reasons[int(i)])) for i in quarantined.index]
    if sources:
        names = np.array([name for name, _ in sources], dtype=object)
        ends = np.cumsum([rows for _, rows in sources])
        quarantined.insert(1, SOURCE_COLUMN, names[np.searchsorted(ends, quarantined.index.to_numpy(), side="right")])
    return clean, quarantined.reset_index(drop=True)


def reason_counts(row_reasons: Mapping[int, Sequence[str]]) -> dict[str, int]:
    """How many rows each distinct reason quarantined (a row may count under several)."""
    counts: dict[str, int] = {}
    for reasons in row_reasons.values():
        for reason in dict.fromkeys(reasons):
            counts[reason] = counts.get(reason, 0) + 1
    return dict(sorted(counts.items(), key=lambda kv: -kv[1]))


def write_split(frame: pd.DataFrame, row_reasons: Mapping[int, Sequence[str]], out_dir: str | Path,
                sources: Sequence[tuple[str, int]] = ()) -> QuarantineSplit:
    """Write ``clean.parquet`` and (when any row failed) ``quarantine.parquet`` into ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    clean, quarantined = split_rows(frame, row_reasons, sources)
    clean_path = out / "clean.parquet"
    clean.to_parquet(clean_path, index=False)
    q_path = None
    if len(quarantined):
        q_path = out / "quarantine.parquet"
        quarantined.to_parquet(q_path, index=False)
    return QuarantineSplit(str(clean_path), str(q_path) if q_path else None, len(clean), len(quarantined), reason_counts(row_reasons))
