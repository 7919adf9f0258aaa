"""Train/test split for planning: time-ordered when a time column is given (the test set is the
latest rows, as in production), else random and stratified for classification."""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
from sklearn.model_selection import train_test_split

from mlsitter.errors import InputError
from mlsitter.naming import stable_name


@stable_name("ml.data.Split")
@dataclass
class Split:
    """The two parts and how they were made."""

    train: pd.DataFrame
    test: pd.DataFrame
    kind: str  # "time" | "stratified" | "random"


def split_train_test(frame: pd.DataFrame, target: str, test_size: float = 0.2, time_column: str = "",
                     stratify: bool = True, seed: int = 0) -> Split:
    """Hold out ``test_size`` of the rows: the latest ones for a time split (rows without a time stay in
    neither part), else a random share."""
    if not 0 < test_size < 1:
        raise InputError(f"test_size must be between 0 and 1, got {test_size}")
    if time_column:
        times = pd.to_datetime(frame[time_column], errors="coerce")
        if times.isna().all():
            raise InputError(f"time column {time_column!r} has no values that parse as dates")
        ordered = times.sort_values(kind="stable")
        cut_time = ordered.iloc[int(round(len(ordered) * (1 - test_size)))]
        # cut on a timestamp, not a row count: rows sharing the cut's timestamp all go to test
        train, test = frame[times < cut_time], frame[times >= cut_time]
        return Split(train.reset_index(drop=True), test.reset_index(drop=True), "time")
    labels = frame[target] if stratify and frame[target].nunique() <= 50 else None
    train, test = train_test_split(frame, test_size=test_size, random_state=seed, stratify=labels)
    return Split(train.reset_index(drop=True), test.reset_index(drop=True),
                 "stratified" if labels is not None else "random")
