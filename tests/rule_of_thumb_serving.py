"""A real model server around a small real classifier (the Titanic rule of thumb: women survive), without the
registry or scikit-learn, so tests of what watches servers start one in a second: in a thread of the test
(``schema``/``WomenSurvive`` with ModelService), or as its own OS process (``python rule_of_thumb_serving.py``),
optionally failing on the records of men, as a bad candidate does."""

from __future__ import annotations

import argparse
import sys
from typing import Any

FIELDS = (("Pclass", "long", True), ("Sex", "string", True), ("Age", "double", False), ("SibSp", "long", True),
          ("Parch", "long", True), ("Fare", "double", True), ("Embarked", "string", False))


def schema() -> Any:
    from mlsitter.ml.serving import FieldSpec, InputSchema

    return InputSchema(tuple(FieldSpec(name, kind, required) for name, kind, required in FIELDS))


class WomenSurvive:
    """Predicts survival for women (score 0.74) and not for men (0.19)."""

    classes_ = [0, 1]

    def predict(self, frame: Any) -> Any:
        return (frame["Sex"] == "female").astype(int).to_numpy()

    def predict_proba(self, frame: Any) -> Any:
        import numpy as np

        female = (frame["Sex"] == "female").to_numpy()
        return np.column_stack([np.where(female, 0.26, 0.81), np.where(female, 0.74, 0.19)])


class FailsOnMen(WomenSurvive):
    """Raises on any batch holding a man's record (the server then fails just those requests)."""

    def predict(self, frame: Any) -> Any:
        if (frame["Sex"] == "male").any():
            raise ValueError("cannot score men")
        return super().predict(frame)


def main(argv: list[str] | None = None) -> int:
    """Serve version ``--version`` of ``titanic`` on 127.0.0.1:``--port`` until SIGTERM."""
    from mlsitter.ml.serving import ModelService, ServedModel, create_app
    from mlsitter.ml.serving._processes import run_uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--role", required=True)
    parser.add_argument("--log-dir", required=True)
    parser.add_argument("--fails-on-men", action="store_true")
    args = parser.parse_args(argv)
    model = FailsOnMen() if args.fails_on_men else WomenSurvive()
    served = ServedModel("titanic", args.version, "sha", schema(), model)
    run_uvicorn(create_app(ModelService(served, role=args.role, log_dir=args.log_dir)), "127.0.0.1", args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
