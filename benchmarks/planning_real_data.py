"""Planning processes end to end on the full real datasets: wall time and the figures each measured.

Runs scoping (bank marketing, 41,188 rows), features (bank, with the charter), model-selection (bank,
10,000-row sample, 5-fold x 2 CV, all candidates, with the charter and the feature pipeline) and
experiment-plan (bank conversion rate), each with ``approve="auto"`` in a temporary MLSITTER_HOME.

    .venv/bin/python benchmarks/planning_real_data.py
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def main() -> None:
    home = tempfile.mkdtemp(prefix="mlsitter-bench-")
    os.environ["MLSITTER_HOME"] = home
    import realdata
    import yaml

    import mlsitter

    bank = str(realdata.path("bank_marketing/bank-additional-full.csv"))
    brief = Path(home) / "brief.yaml"
    brief.write_text(yaml.safe_dump({
        "name": "bank-term-deposit", "objective": "Find clients likely to subscribe to a term deposit",
        "decision": "Which clients the call centre phones next", "target": "y", "positive_class": "yes",
        "success_metric": {"name": "roc_auc", "threshold": 0.75},
        "constraints": {"max_latency_ms": 50, "interpretability": "preferred", "fairness_attributes": ["age", "marital"]},
    }))

    def timed(name, **inputs):
        start = time.perf_counter()
        run = mlsitter.run(name, approve="auto", seed=0, **inputs)
        took = time.perf_counter() - start
        if run.status != "completed":
            raise SystemExit(f"{name} ended {run.status}: {run.error}")
        print(f"{name:16s} {took:7.1f} s")
        return run.result

    scope = timed("scoping", brief=str(brief), data=bank)
    print(f"  availability {scope.availability_score}, feasibility {scope.feasibility_score}, "
          f"estimate roc_auc {scope.estimate:.4f}, excluded {list(scope.excluded_columns)}")
    feats = timed("features", data=bank, charter=scope.charter)
    print(f"  {len(feats.selected_columns)} columns -> {feats.output_features} features, CV roc_auc "
          f"{feats.quality:.4f}, {feats.selection_rounds} rounds, skewed features {feats.skewed_features}")
    select = timed("model-selection", data=bank, charter=scope.charter, pipeline=feats.pipeline, sample_rows=10000)
    print(f"  recommended {select.recommended} ({select.metric} {select.recommended_score:.4f}), best {select.best}")
    for c in sorted(select.candidates, key=lambda c: -c["mean"]):
        p = "" if c["p_vs_best"] is None else f"p vs best {c['p_vs_best']:.3f}"
        print(f"    {c['name']:14s} {c['mean']:.4f} [{c['ci_low']:.4f}, {c['ci_high']:.4f}] {p:18s} "
              f"latency {c['latency_ms']:.2f} ms, size {c['size_mb']:.2f} MB")
    plan = timed("experiment-plan", charter=scope.charter, data=bank, mde=0.01, daily_traffic=2000)
    print(f"  baseline {plan.baseline:.4f}, n per group {plan.n_control:,}, {plan.days_needed} days")


if __name__ == "__main__":
    main()
