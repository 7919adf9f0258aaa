"""The checkpoints a run journaled: one ``checkpoint-epoch-NNN.pt`` artifact per trained epoch, so the journal
answers "which is the latest checkpoint of that run?" (ray-project/ray#45516) without searching folders."""

from __future__ import annotations

from typing import Any

from mlsitter.runtime import Store

CHECKPOINT_PREFIX = "checkpoint-epoch-"


def checkpoint_name(epoch: int) -> str:
    """The artifact name of epoch ``epoch``'s checkpoint."""
    return f"{CHECKPOINT_PREFIX}{epoch:03d}.pt"


def journaled_checkpoints(run_id: str, store: Store | None = None) -> list[dict[str, Any]]:
    """Every checkpoint artifact ``run_id`` journaled, in epoch order: epoch, path, sha256, seq."""
    store = store or Store()
    run = store.get_run(run_id)
    found: dict[int, dict[str, Any]] = {}
    for event in store.events(run.run_id, types=("artifact.recorded",)):
        name = event.data.get("name", "")
        if name.startswith(CHECKPOINT_PREFIX) and name.endswith(".pt"):
            epoch = int(name[len(CHECKPOINT_PREFIX):-3])
            found[epoch] = {"run_id": run.run_id, "epoch": epoch, "path": event.data["path"],
                            "sha256": event.data["sha256"], "seq": event.seq}
    return [found[e] for e in sorted(found)]


def latest_checkpoint(run_id: str, store: Store | None = None) -> dict[str, Any] | None:
    """The last epoch's checkpoint ``run_id`` journaled (None when it trained no epoch)."""
    found = journaled_checkpoints(run_id, store)
    return found[-1] if found else None
