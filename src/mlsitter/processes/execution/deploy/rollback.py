"""The ``rollback`` process: a deployment put back by a person (``mlsitter rollback MODEL``) is a journaled
run like the deploy that changed it, so the serving history, the audit trail and ``mlsitter verify`` see
who rolled back what, when and why."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

from mlsitter import Context, Doc, process
from mlsitter.naming import stable_name
from mlsitter.runtime import task


@stable_name("deploy.RollbackResult")
@dataclass
class RollbackResult:
    """What the rollback did: the version taken out or put back, and the traffic after it."""

    deployment: str
    action: str  # candidate-removed | previous-champion-restored
    version: str
    shares: dict[str, float]
    reason: str


@task(name="deploy.rollback_now")
def roll_back_now(model: str, deployment: str, reason: str) -> dict[str, Any]:
    """A candidate in canary or shadow is taken out (weight 0, drained, stopped; aliases untouched); without
    one, the previous champion is served again and gets the champion alias back."""
    from mlsitter.errors import InputError
    from mlsitter.ml.serving import CANDIDATE, CHAMPION, ensure_server, live, promote, require_state, rollback
    from mlsitter.ml.tracking import parse_model_ref, resolve_model
    from mlsitter.ml.tracking import promote as move_alias

    name = parse_model_ref(model).name
    deployment = deployment or name
    state = require_state(deployment)
    base = {"deployment": deployment, "reason": reason, "phase": "rolled-back"}
    if live(state, CANDIDATE) is not None:
        done = rollback(state)
        return {**base, "at": done["changed_at"], "shares": done["shares"], "action": "candidate-removed",
                "version": done["stopped"]}
    try:
        previous = resolve_model(f"{name}@previous-champion")
    except InputError:
        raise InputError(f"{name} has no candidate serving and no 'previous-champion' version to go back to") from None
    current = state.servers.get(CHAMPION)
    ensure_server(state, CANDIDATE, name, previous.version)
    done = promote(state)
    move_alias(f"{name}/{previous.version}", "champion")
    if current is not None:
        move_alias(f"{name}/{current.version}", "previous-champion")
    return {**base, "at": done["changed_at"], "shares": done["shares"], "action": "previous-champion-restored",
            "version": f"{name}/{previous.version}"}


@process("rollback", phase="execution",
         description="Roll a deployment back now (candidate out, or the previous champion back), journaled")
def rollback_deployment(
    ctx: Context,
    model: Annotated[str, Doc("the deployed model: NAME, NAME@ALIAS or NAME/VERSION")],
    deployment: Annotated[str, Doc("deployment name (default: the model name)")] = "",
    reason: Annotated[str, Doc("why, for the audit trail")] = "",
) -> RollbackResult:
    """Put ``model``'s deployment back and journal the traffic change."""
    change = ctx.task(roll_back_now, model=model, deployment=deployment, reason=reason)
    ctx.log("warning", f"rolled back {change['deployment']}: {change['action']} {change['version']}; traffic now "
                       f"{change['shares']}" + (f" ({reason})" if reason else ""))
    return RollbackResult(change["deployment"], change["action"], change["version"], change["shares"], reason)
