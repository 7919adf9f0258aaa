"""The ``retraining`` process: check the triggers (a drift result, performance decay on labelled feedback,
new data volume, model age) and journal each with its numbers; on a schedule, sleep on a durable timer
between checks; when one fires, retrain through a child ``training`` run on the new window, compare
champion and challenger on the same fresh holdout (DeLong for ROC AUC, paired bootstrap otherwise),
check fairness with child ``evaluation`` runs, ask a ``production`` approval, then a child ``deploy``."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from mlsitter import Context, Doc, Interval, process
from mlsitter.naming import stable_name
from mlsitter.processes.execution.retraining import tasks as steps
from mlsitter.processes.execution.retraining.report import write_retraining_report

NOT_TRIGGERED, NOT_BETTER, LESS_FAIR, REJECTED, DEPLOYED = ("not-triggered", "challenger-not-better",
                                                            "challenger-less-fair", "rejected", "deployed")


@stable_name("retraining.RetrainingResult")
@dataclass
class RetrainingResult:
    """What the checks found, what was retrained and compared, what was decided, and where the report is."""

    status: str  # not-triggered | challenger-not-better | challenger-less-fair | rejected | deployed | canary-rolled-back
    # | canary-rejected
    reason: str
    triggers: list[dict[str, Any]]
    champion: str
    challenger: str = ""
    dataset_version: str = ""
    comparison: dict[str, Any] = field(default_factory=dict)
    fairness: dict[str, Any] = field(default_factory=dict)
    deploy_status: str = ""
    approved_by: str = ""
    checks: int = 1
    report: str = ""


@process("retraining", phase="execution",
         description="Triggers with their numbers, retrain via training, champion vs challenger with a significance "
                     "test and fairness, production approval, deploy via canary")
def retraining(
    ctx: Context,
    model: Annotated[str, Doc("the champion in the registry: NAME@champion or NAME/VERSION")],
    data: Annotated[str, Doc("the new labelled window since the last training (CSV, Parquet, JSON)")],
    target: Annotated[str, Doc("target column")],
    reference: Annotated[str, Doc("labelled rows the champion was judged on (e.g. a holdout): decay is measured "
                                  "against them")] = "",
    drift: Annotated[str, Doc("a drift run's result as JSON (status, alerts, action) or a .json file; '' for none")] = "",
    metric: Annotated[Literal["roc_auc", "accuracy", "balanced_accuracy", "f1"],
                      Doc("metric of decay and of the comparison (roc_auc: DeLong; others: paired bootstrap)")] = "roc_auc",
    positive: Annotated[str, Doc("positive class of a binary target (default: the last class)")] = "",
    max_decay: Annotated[float, Interval(0, 1), Doc("trigger: the champion's metric on the new window may fall this "
                                                    "far below its recorded test score")] = 0.03,
    min_new_rows: Annotated[int, Interval(1, None), Doc("trigger: this many new labelled rows retrain")] = 100_000,
    max_age_days: Annotated[float, Interval(0, None), Doc("trigger: a champion older than this retrains (0: never)")] = 90.0,
    every: Annotated[str, Doc("schedule: check again after this long when nothing fired ('6h', '7d'; '': once)")] = "",
    max_checks: Annotated[int, Interval(1, None), Doc("scheduled checks at most before the run ends untriggered")] = 1,
    holdout: Annotated[float, Interval(0, 1, closed="neither"), Doc("share of the window held out for the "
                                                                   "champion-challenger comparison")] = 0.3,
    alpha: Annotated[float, Interval(0, 1, closed="neither"), Doc("significance level: the challenger must be "
                                                                  "better at this level")] = 0.05,
    sensitive: Annotated[list[str] | None, Doc("sensitive attributes: the challenger must be no less fair")] = None,
    max_fairness_drop: Annotated[float, Interval(0, 1), Doc("how much worse the challenger's DP ratio or EO "
                                                            "difference may be than the champion's")] = 0.05,
    min_group_size: Annotated[int, Interval(1, None), Doc("groups with fewer holdout rows are left out of the "
                                                          "fairness comparison")] = 30,
    pipeline: Annotated[str, Doc("feature pipeline of features for the child training")] = "",
    selection: Annotated[str, Doc("selection.json of model-selection for the child training")] = "",
    trials: Annotated[int, Interval(1, None), Doc("Optuna trials of the child training")] = 10,
    folds: Annotated[int, Interval(2, None), Doc("CV folds of the child training")] = 3,
    n_resamples: Annotated[int, Interval(100, 100_000), Doc("bootstrap resamples (paired bootstrap)")] = 1000,
    seed: Annotated[int, Doc("seed of the split and the bootstrap")] = 0,
    deployment: Annotated[str, Doc("deployment the challenger canaries into (default: the model name)")] = "",
    deploy_options: Annotated[str, Doc("JSON object of the child deploy's inputs, e.g. '{\"stages\": \"25,100\"}'")] = "",
) -> RetrainingResult:
    """Check the triggers on ``data``; retrain, compare and deploy when one fires."""
    champion = ctx.task(steps.read_champion, model=model, metric=metric)
    champ = f"{champion.name}/{champion.version}"
    checks, fired, triggers = 0, [], []
    while not fired and checks < max_checks:
        if checks:
            ctx.sleep_until(steps.next_check(ctx.now().timestamp(), every))
        checks += 1
        triggers = ctx.task(steps.check_triggers, champion=champion, data=data, target=target, positive=positive,
                            drift=drift, max_decay=max_decay, min_new_rows=min_new_rows, max_age_days=max_age_days,
                            now=ctx.now().timestamp(), reference=reference)
        for t in triggers:
            ctx.log("info", f"check {checks}: trigger {t.name} {'FIRED' if t.fired else 'did not fire'}: {t.why}")
        fired = [t for t in triggers if t.fired]
        if not every:
            break
    rows = [asdict(t) for t in triggers]
    if not fired:
        return finish(ctx, NOT_TRIGGERED, "no trigger fired: " + "; ".join(t.why for t in triggers), rows, champ,
                      checks=checks)
    why = "; ".join(f"{t.name}: {t.why}" for t in fired)
    window = ctx.task(steps.split_window, data=data, target=target, holdout=holdout, seed=seed,
                      out_dir=str(ctx.workdir / "window"))
    trained = ctx.call("training", data=window["train"], target=target, model_name=champion.name, metric=metric,
                       dataset_version=window["dataset_version"], test_data=window["holdout"], trials=trials,
                       folds=folds, seed=seed, **({"pipeline": pipeline} if pipeline else {}),
                       **({"selection": selection} if selection else {}))
    challenger = f"{trained.model_name}/{trained.version}"
    ctx.task(steps.tag_lineage, model=challenger, parent=champ, trigger=why)
    comparison = ctx.task(steps.compare_on_holdout, champion=champ, challenger=challenger, holdout=window["holdout"],
                          target=target, metric=metric, positive=positive, n_resamples=n_resamples, seed=seed)
    better = ctx.gate("challenger-better-p-value", round(comparison.p_value, 6), "<=", alpha, on_fail="warn",
                      checkpoint="model-quality")
    kept = dict(champion=champ, challenger=challenger, dataset_version=window["dataset_version"],
                comparison=asdict(comparison), checks=checks)
    if not better.passed or comparison.difference <= 0:
        return finish(ctx, NOT_BETTER, f"{challenger} is not significantly better than {champ} on {metric}: "
                                       f"{comparison.challenger:.4f} vs {comparison.champion:.4f} ({comparison.test} "
                                       f"p={comparison.p_value:.4g} > {alpha})" if not better.passed else
                      f"{challenger} scores no higher than {champ}", rows, **kept)
    fairness: dict[str, Any] = {}
    if sensitive:
        fairness = compare_fairness(ctx, champ, challenger, window["holdout"], target, list(sensitive), positive,
                                    min_group_size)
        kept["fairness"] = fairness
        fair = [ctx.gate(f"fairness-{k}-not-worse", round(v, 6), ">=", -max_fairness_drop, on_fail="warn",
                         checkpoint="fairness")
                for k, v in fairness["change"].items() if v is not None]
        if not all(g.passed for g in fair):
            return finish(ctx, LESS_FAIR, f"{challenger} is less fair than {champ}: {fairness['change']} "
                                          f"(allowed drop {max_fairness_drop})", rows, **kept)
    answer = ctx.breakpoint(
        f"Deploy the retrained {challenger} as a canary against {champ}?",
        context={"triggers": [r for r in rows if r["fired"]], "comparison": [asdict(comparison)],
                 "fairness": fairness or None, "dataset_version": window["dataset_version"]},
        tags=("production", "retraining"))
    if not answer.approved:
        return finish(ctx, REJECTED, f"deploy rejected by {answer.by}: {answer.feedback or ''}".rstrip(": "), rows,
                      approved_by=answer.by, **kept)
    options = json.loads(deploy_options) if deploy_options else {}
    deployed = ctx.call("deploy", model=challenger, fixtures=window["fixtures"],
                        deployment=deployment or champion.name, **options)
    status = DEPLOYED if deployed.status == "promoted" else f"canary-{deployed.status}"  # the canary decides
    return finish(ctx, status, f"{challenger} through the canary: {deployed.status} ({deployed.reason})", rows,
                  approved_by=answer.by, deploy_status=deployed.status, **kept)


def compare_fairness(ctx: Context, champion: str, challenger: str, holdout: str, target: str, sensitive: list[str],
                     positive: str, min_group_size: int) -> dict[str, Any]:
    """Both models through a child ``evaluation`` on the same holdout; the change of the worst DP ratio and of
    the worst EO difference (positive: the challenger is fairer)."""
    common = dict(data=holdout, target=target, sensitive=sensitive, n_resamples=0, min_group_size=min_group_size,
                  **({"positive_label": positive} if positive else {}))
    worst = {}
    for role, ref in (("champion", champion), ("challenger", challenger)):
        worst[role] = steps.worst_fairness(ctx.call("evaluation", model=ref, **common).fairness)
    a, b = worst["champion"], worst["challenger"]
    change = {"dp_ratio": None if a["dp_ratio"] is None or b["dp_ratio"] is None else b["dp_ratio"] - a["dp_ratio"],
              "eo_difference": None if a["eo_difference"] is None or b["eo_difference"] is None
              else a["eo_difference"] - b["eo_difference"]}
    return {**worst, "change": change}


def finish(ctx: Context, status: str, reason: str, triggers: list[dict[str, Any]], champion: str, **kw: Any) -> RetrainingResult:
    """Log the decision, write the report, return the result."""
    ctx.log("info", f"retraining: {status}: {reason}")
    result = RetrainingResult(status, reason, triggers, champion, **kw)
    files = ctx.task(write_retraining_report, out_dir=str(ctx.workdir), result=asdict(result))
    result.report = ctx.artifact("retraining-report.html", Path(files["html"])).path
    ctx.artifact("retraining-report.json", Path(files["json"]))
    return result
