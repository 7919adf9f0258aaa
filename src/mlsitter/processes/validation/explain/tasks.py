"""Task functions of the ``explain`` process: SHAP, permutation importance, PDP/ICE, counterfactual
probes, ranking stability, the explanation report and the model card."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mlsitter.errors import DataError
from mlsitter.ml.evaluation._scored_data import LABEL, Y_TRUE, ScoredData, load_quiet, read_scored
from mlsitter.naming import stable_name
from mlsitter.runtime import task


@stable_name("explain.ShapSummary")
@dataclass
class ShapSummary:
    """Global and local SHAP results; the values themselves are saved in ``values_path`` (npz)."""

    explainer: str
    n_rows: int
    importance: list[dict[str, Any]]
    raw_importance: list[dict[str, Any]]
    local: list[dict[str, Any]]
    figures: dict[str, str]
    values_path: str
    base_value: float


@task(name="explain.run_shap")
def run_shap(model: str, scored: ScoredData, max_rows: int, rows: list[int], n_local: int, seed: int, out_dir: str) -> ShapSummary:
    """SHAP with the fitting explainer; beeswarm, dependence and waterfall plots; local explanations."""
    from mlsitter.ml.explain._explainers import (
        beeswarm_figure, dependence_figure, explain_with_shap, local_explanations, waterfall_figure,
    )
    from mlsitter.report import figure_png

    est = load_quiet(model)
    f = read_scored(scored)
    X = f[scored.feature_columns]
    bad = [r for r in rows if not 0 <= r < len(X)]
    if bad:
        raise DataError(f"rows {bad} are outside the data (0..{len(X) - 1})")
    expl = explain_with_shap(est, X, max_rows=max_rows, seed=seed)
    out = Path(out_dir)
    figures = {"beeswarm": str(out / "shap-beeswarm.png")}
    Path(figures["beeswarm"]).write_bytes(figure_png(beeswarm_figure(expl)))
    raw = expl.importance(grouped=False)
    for i, name in enumerate(raw["feature"].head(3)):
        path = out / f"shap-dependence-{i + 1}.png"
        path.write_bytes(figure_png(dependence_figure(expl, name)))
        figures[f"dependence: {name}"] = str(path)
    position = {int(r): p for p, r in enumerate(expl.row_index)}
    wanted = [position[r] for r in rows if r in position]
    if len(wanted) < len(rows):  # chosen rows outside the SHAP sample: explain them on their own
        extra = explain_with_shap(est, X.iloc[[r for r in rows if r not in position]], max_rows=len(rows), seed=seed)
        local = local_explanations(extra, list(range(len(extra.values))))
        for item, r in zip(local, [r for r in rows if r not in position]):
            item["row"] = r
        local += local_explanations(expl, wanted)
    else:
        picks = wanted or list(np.random.default_rng(seed).choice(len(expl.values), size=min(n_local, len(expl.values)), replace=False))
        local = local_explanations(expl, [int(p) for p in picks])
        if picks:
            path = out / "shap-waterfall.png"
            path.write_bytes(figure_png(waterfall_figure(expl, int(picks[0]))))
            figures[f"waterfall: row {int(expl.row_index[int(picks[0])])}"] = str(path)
    names, grouped = expl.grouped_values()
    values_path = out / "shap-values.npz"
    np.savez_compressed(values_path, grouped=grouped, names=np.array(names, dtype=object), rows=expl.row_index)
    return ShapSummary(expl.explainer, len(expl.values), expl.importance().to_dict("records"), raw.head(30).to_dict("records"),
                       local, figures, str(values_path), expl.base_value)


def _scoring(task: str) -> str:
    return {"binary": "roc_auc", "regression": "r2"}.get(task, "accuracy")


def _model_labels(scored: ScoredData, frame: Any) -> np.ndarray:
    if scored.task == "regression":
        return frame[Y_TRUE].to_numpy(float)
    return frame[LABEL].to_numpy(dtype=object)


@task(name="explain.run_permutation_importance")
def run_permutation_importance(model: str, scored: ScoredData, max_rows: int, seed: int) -> list[Any]:
    """Permutation importance on up to ``max_rows`` rows (5 repeats)."""
    from mlsitter.ml.explain._feature_effects import permutation_importances

    est = load_quiet(model)
    f = read_scored(scored)
    if len(f) > max_rows:
        f = f.sample(n=max_rows, random_state=seed)
    y = _model_labels(scored, f)
    if scored.task != "regression":  # labels as the model's own class objects (e.g. ints read back as text)
        lookup = {str(c): c for c in est.classes_}
        y = np.array([lookup[str(v)] for v in y], dtype=object if any(isinstance(c, str) for c in est.classes_) else None)
    return permutation_importances(est, f[scored.feature_columns], y, scoring=_scoring(scored.task), seed=seed)


@task(name="explain.run_partial_dependence")
def run_partial_dependence(model: str, scored: ScoredData, features: list[str], max_rows: int, seed: int, out_dir: str) -> dict[str, Any]:
    """PDP + ICE for the top features on up to ``max_rows`` rows."""
    from mlsitter.ml.explain._feature_effects import partial_dependence_figure
    from mlsitter.report import figure_png

    est = load_quiet(model)
    f = read_scored(scored)
    if len(f) > max_rows:
        f = f.sample(n=max_rows, random_state=seed)
    fig, curves = partial_dependence_figure(est, f[scored.feature_columns], features, seed=seed)
    path = Path(out_dir) / "pdp-ice.png"
    path.write_bytes(figure_png(fig))
    return {"curves": curves, "figure": str(path)}


@task(name="explain.run_counterfactuals")
def run_counterfactuals(model: str, scored: ScoredData, rows: list[int], features: list[str]) -> list[Any]:
    """Smallest single-feature changes that flip the decision for the chosen rows (classifiers)."""
    from mlsitter.ml.explain._counterfactuals import counterfactual_probes

    est = load_quiet(model)
    f = read_scored(scored)
    return counterfactual_probes(est, f[scored.feature_columns], rows, features)


@task(name="explain.run_stability")
def run_stability(values_path: str, n_resamples: int, top_k: int, seed: int) -> Any:
    """Bootstrap rank stability of the global importance (mean |SHAP| per original column)."""
    from mlsitter.ml.explain._importance_stability import rank_stability

    data = np.load(values_path, allow_pickle=True)
    return rank_stability(np.abs(data["grouped"]), n_resamples=n_resamples, top_k=top_k, seed=seed)


@task(name="explain.pick_rows")
def pick_rows(n_rows: int, rows: list[int], n_local: int, seed: int) -> list[int]:
    """The rows to explain locally: the chosen ones, else a seeded sample."""
    if rows:
        return list(rows)
    rng = np.random.default_rng(seed)
    return sorted(int(r) for r in rng.choice(n_rows, size=min(n_local, n_rows), replace=False))


@task(name="explain.read_evaluation_summary")
def read_evaluation_summary(path: str) -> dict[str, Any]:
    """The ``evaluation-summary.json`` an ``evaluation`` run wrote (metrics, fairness, gates)."""
    p = Path(path)
    if not p.is_file():
        raise DataError(f"evaluation summary {path!r} does not exist; pass the evaluation-summary.json of an evaluation run")
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise DataError(f"evaluation summary {path!r} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "metrics" not in data:
        raise DataError(f"evaluation summary {path!r} has no 'metrics'; expected the evaluation-summary.json of an evaluation run")
    return data


@task(name="explain.registry_details")
def registry_details(model: str) -> dict[str, Any]:
    """Lineage of a registered model (name, version, aliases, run, dataset and code version, metrics)."""
    from mlsitter.ml.tracking._registry import resolve_model

    found = resolve_model(model)
    return {"registered name": found.name, "version": found.version, "aliases": ", ".join(found.aliases),
            "trained by run": found.mlsitter_run_id, "dataset version": found.dataset_version,
            "code version": found.code_version, "MLflow run": found.mlflow_run_id, "artifact sha256": found.artifact_sha256,
            **{f"registry metric {k}": v for k, v in found.metrics.items()}}


@stable_name("explain.CardInputs")
@dataclass
class CardInputs:
    """Everything the model card is assembled from (all measured or given by the user)."""

    title: str
    details: dict[str, Any]
    intended_use: str
    out_of_scope: str
    factors: list[str]
    metrics: list[dict[str, Any]]
    evaluation_data: dict[str, Any]
    training_data: str
    fairness: list[dict[str, Any]]
    importance: list[dict[str, Any]]
    stability: dict[str, Any] | None
    ethical: list[str] = field(default_factory=list)
    caveats: list[str] = field(default_factory=list)


@task(name="explain.write_model_card")
def write_model_card(inputs: CardInputs, feedbacks: list[str], out_dir: str) -> dict[str, Any]:
    """Build the card, apply every rejection's feedback in order, and render version N."""
    from dataclasses import asdict

    from mlsitter.ml.explain._model_card import apply_feedback, build_model_card, render_model_card

    card = build_model_card(**asdict(inputs))
    for text in feedbacks:
        card = apply_feedback(card, text)
    folder = Path(out_dir) / f"model-card-v{card.version}"
    files = render_model_card(card, folder)
    return {"version": card.version, "html": str(files.html), "markdown": str(files.markdown), "json": str(files.json),
            "intended_use": card.sections["Intended use"].text, "reviewer_notes": card.reviewer_notes}


def probe_scope(probed: list[str] | None, rows: list[int] | None, task: str) -> str:
    """What the counterfactual probes tried, so a 'nothing flips' line is never read beyond what was tried."""
    if task != "binary":
        return f"Counterfactual probes need a binary classifier; this model's task is {task}, so none were run."
    if not probed:
        return "No feature was probed: the top features are not columns of the data the model reads."
    return (f"Probed features (the top features by mean |SHAP|, then the sensitive attributes the model takes): "
            f"{', '.join(probed)}; rows {', '.join(str(r) for r in rows or [])}.")


@task(name="explain.write_explain_report")
def write_explain_report(*, out_dir: str, model: Any, scored: ScoredData, shap: ShapSummary, permutation: list[Any],
                         pdp: dict[str, Any], probes: list[Any], stability: Any, gates: list[dict[str, Any]],
                         probed: list[str] | None = None, rows: list[int] | None = None) -> dict[str, str]:
    """The explanation report: importance (SHAP and permutation), plots, local explanations, probes, stability."""
    from mlsitter.report import Report

    rep = Report(f"Explanations: {Path(model.source).name}", f"{model.description} · {shap.explainer} SHAP explainer · "
                 f"{shap.n_rows:,} rows explained · target {scored.target!r}")
    if model.warning:
        rep.section("Model source").note(model.warning, "warn")
    rep.section("Gates").gates(gates)
    rep.section("Global importance")
    rep.table([{"feature": r["feature"], "mean |SHAP|": r["mean_abs_shap"]} for r in shap.importance], caption="mean |SHAP| per original column")
    rep.table([{"feature": p.feature, "importance": p.importance_mean, "sd": p.importance_std} for p in permutation],
              caption="Permutation importance (drop in score when shuffled)")
    for name, path in shap.figures.items():
        rep.figure(Path(path).read_bytes(), caption=name, name=Path(path).name)
    rep.section("Partial dependence and ICE")
    rep.figure(Path(pdp["figure"]).read_bytes(), caption="PDP (average) and ICE (individual rows)", name="pdp-ice.png")
    rep.section("Local explanations")
    for item in shap.local:
        rep.heading(f"Row {item['row']}: output {item['output']:.4f} (base {item['base_value']:.4f})")
        rep.table(item["contributions"])
    rep.section("Counterfactual probes")
    rep.text(probe_scope(probed, rows, scored.task))
    if probes:
        rep.table([{"row": p.row, "feature": p.feature, "from": p.original, "to": p.changed_to, "change": p.change,
                    "score before": p.original_score, "score after": p.new_score} for p in probes])
    elif probed:
        rep.text(f"No single change of one of {', '.join(probed)} flips the decision of the probed rows.")
    rep.section("Stability of the importance ranking")
    rep.metrics({"mean Spearman": stability.mean_spearman, "5th pct Spearman": stability.p05_spearman,
                 f"top-{stability.top_k} agreement": stability.top_k_agreement, "resamples": stability.n_resamples})
    files = rep.write(out_dir, "explain-report")
    return {"html": str(files.html), "markdown": str(files.markdown), "json": str(files.json)}
