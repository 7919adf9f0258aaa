"""The ``lifecycle`` process: the other processes as child runs, in the order of a short YAML chain
(data-validation, eda, features, model-selection, training, evaluation, explain, deploy, then drift over
later traffic and retraining when drift fires). Each child takes what the earlier ones produced; each
child's gates and approvals stay in its own journal and come together in one lifecycle report."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from mlsitter import Context, Doc, Interval, process
from mlsitter.naming import stable_name
from mlsitter.processes.lifecycle.lifecycle import tasks as links
from mlsitter.processes.lifecycle.lifecycle.report import write_lifecycle_report


@stable_name("lifecycle.LifecycleResult")
@dataclass
class LifecycleResult:
    """The chain as it ran: every child, the model it produced, where it serves and the lifecycle report."""

    children: list[dict[str, Any]]
    skipped: list[dict[str, str]]
    model: str
    router: str
    dataset_version: str
    report: str
    retrained: bool = False
    train: str = ""  # the rows the children fitted on
    holdout: str = ""  # the rows no child fitted on (evaluation, explain, deploy's fixtures)


@process("lifecycle", phase="lifecycle",
         description="Validate, explore, design features, select, train, evaluate, explain, deploy, monitor and "
                     "retrain, as child runs chained by a YAML file")
def lifecycle(
    ctx: Context,
    data: Annotated[str, Doc("the labelled table (CSV, Parquet or JSON) the chain starts from")],
    target: Annotated[str, Doc("target column")],
    sensitive: Annotated[list[str] | None, Doc("sensitive attribute columns (evaluation's fairness, explain's probes)")] = None,
    steps: Annotated[str, Doc("YAML file of the chain (default: the bundled steps.yaml; see it for the format)")] = "",
    name: Annotated[str, Doc("dataset name (default: the data file's stem)")] = "",
    model_name: Annotated[str, Doc("registry name of the model (default: <dataset>-<target>)")] = "",
    traffic: Annotated[str, Doc("a later labelled table of served traffic: runs the `when: traffic` steps (drift)")] = "",
    holdout: Annotated[float, Interval(0, 1, closed="neither"), Doc("share of rows held out from every fit; "
                                                                   "evaluation, explain and deploy use it")] = 0.25,
    seed: Annotated[int, Doc("seed of the holdout split")] = 0,
) -> LifecycleResult:
    """Run the chain in ``steps`` on ``data``, each child on what the ones before it produced."""
    chain = ctx.task(links.read_steps, path=steps)
    dataset = name or Path(data).stem.split(".")[0]
    state: dict[str, Any] = {"data": data, "target": target, "name": dataset, "sensitive": list(sensitive or []),
                             "model_name": model_name or f"{dataset}-{target}".replace("_", "-"), "traffic": traffic}
    skipped: list[dict[str, str]] = []
    for step in chain:
        runs, why = links.condition_holds(step.when, state)
        if not runs:
            ctx.log("info", f"step {step.process} not run: {why}")
            skipped.append({"process": step.process, "when": step.when, "why": why})
            continue
        if step.process != "data-validation" and "train" not in state:
            state.update(ctx.task(links.split_holdout, data=state.get("clean", data), target=target, holdout=holdout,
                                  seed=seed, out_dir=str(ctx.workdir / "split")))
        result = ctx.call(step.process, **links.child_inputs(step.process, state, step.inputs))
        state = links.absorb(step.process, result, state)
        ctx.log("info", f"step {step.process} done" + (f" ({why})" if why else ""))
    children = ctx.task(links.collect_chain, run_id=ctx.run_id)
    model = f"{state['model_name']}/{state['version']}" if state.get("version") else ""
    files = ctx.task(write_lifecycle_report, out_dir=str(ctx.workdir), data=data, target=target, children=children,
                     skipped=skipped, model=model, router=state.get("router", ""))
    report = ctx.artifact("lifecycle-report.html", Path(files["html"]))
    ctx.artifact("lifecycle-report.md", Path(files["markdown"]))
    ctx.artifact("lifecycle-report.json", Path(files["json"]))
    rows = [{"process": c.process, "run_id": c.run_id, "status": c.status, "report": c.report} for c in children]
    return LifecycleResult(rows, skipped, model, state.get("router", ""), state.get("dataset_version", ""), report.path,
                           any(c.process == "retraining" for c in children), state.get("train", ""),
                           state.get("holdout", ""))
