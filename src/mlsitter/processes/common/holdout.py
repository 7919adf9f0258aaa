"""A seeded, stratified holdout written beside the run (``lifecycle`` and ``retraining`` both cut one)."""

from __future__ import annotations

from pathlib import Path
from typing import Any


def write_holdout_split(frame: Any, target: str, holdout: float, seed: int, out_dir: str, prefix: str = "") -> dict[str, str]:
    """Split ``frame`` (stratified on a target with at most 20 classes of 2+ rows) and write the train and
    holdout tables, plus fixture rows (holdout without the target) for a deploy's smoke predictions."""
    from sklearn.model_selection import train_test_split

    counts = frame[target].value_counts()
    stratify = frame[target] if len(counts) <= 20 and counts.min() >= 2 else None
    train, test = train_test_split(frame, test_size=holdout, random_state=seed, stratify=stratify)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {k: str(out / f"{prefix}{k}.csv") for k in ("train", "holdout", "fixtures")}
    train.to_csv(paths["train"], index=False)
    test.to_csv(paths["holdout"], index=False)
    test.drop(columns=[target]).head(50).to_csv(paths["fixtures"], index=False)
    return paths
