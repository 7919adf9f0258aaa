"""Processes whose gates and approvals serve compliance checkpoints (a parent, a child, a production gate)."""

from __future__ import annotations

from mlsitter import Context, process


@process("audit-validation")
def audit_validation(ctx: Context, dp_ratio: float = 0.91) -> dict:
    """A child run: a fairness gate, and a model card whose approval serves two checkpoints."""
    ctx.gate("fairness-sex-dp-ratio", dp_ratio, ">=", 0.8, on_fail="warn", checkpoint="fairness")
    card = ctx.artifact("model-card.json", {"model": "m-1", "intended_use": "ranking loan reviews"})
    ctx.breakpoint("Model card complete?", artifacts=[card], checkpoint=("explainability", "independent-validation"))
    return {"dp_ratio": dp_ratio}


@process("audited-release")
def audited_release(ctx: Context, quality: float = 0.97, latency_ms: float = 41.5) -> dict:
    """Data quality, a child validation run, an untagged gate, then a governed production approval."""
    ctx.gate("data-quality", quality, ">=", 0.9, checkpoint="data-quality")
    ctx.call("audit-validation")
    ctx.gate("rows-loaded", 891, ">", 0)
    ctx.gate("latency-p99-ms", latency_ms, "<=", 50.0, checkpoint="deployment")
    answer = ctx.breakpoint("Ship m-1 to production?", tags=("production",), options=("ship", "hold"))
    return {"shipped": answer.approved and answer.option == "ship"}


@process("mislabelled")
def mislabelled(ctx: Context) -> dict:
    ctx.gate("x", 1, "==", 1, checkpoint="fairnes")
    return {}


def wait_for(path: str) -> str:
    """Block (at most 20 s) until ``path`` exists: keeps a run executing while a test looks at it."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + 20
    while not Path(path).exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return path


@process("held")
def held(ctx: Context, flag: str) -> dict:
    ctx.task(wait_for, path=flag)
    return {}
