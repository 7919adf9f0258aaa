"""Convergence by patience on the validation loss: training stops once the loss has not improved by a
relative ``min_delta`` for ``patience`` epochs."""

from __future__ import annotations

from dataclasses import dataclass

from mlsitter.naming import stable_name


@stable_name("ml.distributed.Convergence")
@dataclass
class Convergence:
    """Whether the validation loss has stopped improving, and by how much it still improved lately."""

    converged: bool
    best_epoch: int  # 1-based
    best_loss: float
    recent_improvement: float | None  # relative drop of the best loss over the last ``patience`` epochs
    reason: str


def check_convergence(val_losses: list[float], patience: int, min_delta: float) -> Convergence:
    """Converged when the best loss of the last ``patience`` epochs is no more than ``min_delta`` (relative)
    below the best before them."""
    if not val_losses:
        return Convergence(False, 0, float("inf"), None, "no epoch trained yet")
    best_epoch = min(range(len(val_losses)), key=val_losses.__getitem__) + 1
    best = val_losses[best_epoch - 1]
    if len(val_losses) <= patience:
        return Convergence(False, best_epoch, best, None,
                           f"{len(val_losses)} epoch(s) trained, patience needs more than {patience}")
    before, recent = min(val_losses[:-patience]), min(val_losses[-patience:])
    improvement = (before - recent) / abs(before) if before else before - recent
    converged = improvement <= min_delta
    reason = (f"validation loss improved {improvement:.2%} over the last {patience} epoch(s) "
              f"({'<=' if converged else '>'} {min_delta:.2%})")
    return Convergence(converged, best_epoch, best, improvement, reason)
