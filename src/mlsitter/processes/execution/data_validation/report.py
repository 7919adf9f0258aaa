"""The data-validation report: sources, contract and its diff, per-dimension scores with failure
examples, quarantine reasons, dataset version and lineage, and a remediation plan when a gate fails."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any, Sequence

from mlsitter.ml.data._dataset_version import DatasetManifest
from mlsitter.ml.data._quality import QualityAssessment
from mlsitter.ml.data._quarantine import QuarantineSplit
from mlsitter.report import Report, ReportFiles
from mlsitter.ml.data._schema_contract import SchemaDiff

_REMEDIATION = {
    "completeness": "Fill or source the missing values in {cols}; if they are legitimately absent, mark the columns nullable in the contract.",
    "validity": "Fix the failing checks at the source ({checks}); if the new values are legitimate, edit the contract file and rerun.",
    "consistency": "Investigate rows breaking {rules}; correct the upstream logic or the rule.",
    "uniqueness": "Deduplicate upstream (exact duplicates, repeated keys {keys}) or revisit the key definition.",
    "timeliness": "Backfill the missing periods or confirm they are outages; check the pipeline schedule if data is stale.",
}


def dimension_threshold_failures(assessment: QualityAssessment, min_quality: float, min_dimension: float) -> list[str]:
    """Names of what fails its threshold ('overall' and/or dimension names)."""
    failed = [d.name for d in assessment.dimensions if d.score < min_dimension]
    if assessment.overall < min_quality:
        failed.insert(0, "overall")
    return failed


def remediation_plan(assessment: QualityAssessment, failed: Sequence[str]) -> list[str]:
    """One concrete action per failing dimension, filled with the measured specifics."""
    plan = []
    for d in assessment.dimensions:
        if d.name not in failed:
            continue
        cols = ", ".join(list((d.details.get("missing_by_column") or {}).keys())[:6]) or "the affected columns"
        checks = ", ".join(f"{c['column']} {c['check']}" for c in (d.details.get("by_check") or [])[:4]) or "contract checks"
        rules = ", ".join(r["rule"] for r in (d.details.get("rules") or []) if r["failing_rows"]) or "the rules"
        keys = ", ".join(d.details.get("keys") or []) or "(none declared)"
        plan.append(f"{d.name} ({d.score:.2f}): " + _REMEDIATION[d.name].format(cols=cols, checks=checks, rules=rules, keys=keys))
    if "overall" in failed and not plan:
        plan.append("overall score below the threshold: raise the weakest dimensions listed above")
    return plan


def build_validation_report(
    *,
    sources: list[dict[str, Any]],
    failed_sources: list[dict[str, str]],
    contract_path: str,
    contract_created: bool,
    diff: SchemaDiff | None,
    diff_decision: str | None,
    assessment: QualityAssessment,
    split: QuarantineSplit,
    manifest: DatasetManifest,
    lineage: list[str],
    min_quality: float,
    min_dimension: float,
    quarantine_examples: list[dict[str, Any]],
) -> Report:
    failed = dimension_threshold_failures(assessment, min_quality, min_dimension)
    rep = Report("Data validation", f"dataset {manifest.dataset} · version {manifest.version}")
    rep.section("Overview")
    rep.metrics({
        "overall score": round(assessment.overall, 2), "rows in": manifest.rows_in, "clean rows": split.clean_rows,
        "quarantined": split.quarantined_rows, "sources": len(sources), "dataset version": manifest.version,
    })
    if failed:
        rep.note(f"gate failed: {', '.join(failed)} below threshold (overall >= {min_quality}, each dimension >= {min_dimension})", "fail")
    else:
        rep.note(f"all gates pass (overall >= {min_quality}, each dimension >= {min_dimension})")
    rep.section("Sources")
    rep.table([{k: s.get(k) for k in ("name", "format", "rows", "columns", "delimiter", "encoding", "location")} | {"notes": "; ".join(s.get("notes") or [])}
               for s in sources])
    for f in failed_sources:
        rep.note(f"source {f['name']} skipped: {f['error']}", "warn")
    rep.section("Schema contract")
    rep.text(f"Contract file: {contract_path} ({'inferred from this data and saved' if contract_created else 'enforced'}); "
             f"schema sha256 {manifest.schema_sha256[:16]}.")
    if diff is not None and diff.has_changes:
        rep.note(f"schema change ({diff_decision or 'pending'}):", "warn")
        rep.bullets(diff.lines())
    rep.section("Quality dimensions")
    rep.table([{"dimension": d.name, "score": round(d.score, 3), "checked": d.checked, "failing": d.failing,
                "status": "pass" if d.score >= min_dimension else "FAIL", "summary": d.summary[:160]} for d in assessment.dimensions])
    for d in assessment.dimensions:
        if d.examples:
            rep.heading(f"{d.name}: examples")
            rep.table(d.examples[:10])
        if d.name == "validity" and d.details.get("by_check"):
            rep.table(d.details["by_check"], caption="Failing contract checks")
        if d.name == "consistency":
            rep.table(d.details["rules"], caption="Rules")
    rep.section("Quarantine")
    if split.quarantined_rows:
        rep.text(f"{split.quarantined_rows:,} rows written to {split.quarantine_path} with the reason per row.")
        rep.table([{"reason": r, "rows": n} for r, n in split.reasons.items()], max_rows=30, caption="Rows per reason")
        rep.table(quarantine_examples, caption="Quarantined rows (first 10)")
    else:
        rep.text("No row failed: nothing quarantined.")
    rep.section("Dataset version")
    rep.table([{"field": k, "value": str(v)[:120]} for k, v in asdict(manifest).items() if k not in ("sources", "columns", "extra")])
    rep.text("Lineage (newest first): " + " <- ".join(lineage))
    if failed:
        rep.section("Remediation plan")
        rep.bullets(remediation_plan(assessment, failed))
    rep.json_block("dimensions", [{k: v for k, v in asdict(d).items() if k != "details"} | {"details": _slim(d.details)} for d in assessment.dimensions])
    rep.json_block("manifest", asdict(manifest))
    rep.json_block("gate_failures", failed)
    return rep


def _slim(details: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in details.items() if k not in ("row_reasons", "failing_rows")}


def write_validation_report(out_dir: str | Path, **kwargs: Any) -> ReportFiles:
    return build_validation_report(**kwargs).write(out_dir, stem="validation-report")
