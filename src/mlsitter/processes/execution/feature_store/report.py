"""The feature-store report: feature views, freshness against each SLA, the offline/online consistency
result, the training set (with the rows that found no value) and the definition history."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from mlsitter.report import Report, ReportFiles


def build_feature_store_report(*, repo: str, definitions: Any, changes: list[str], decision: str | None,
                               materialized: list[Any], freshness: list[Any], consistency: Any,
                               training_set: dict[str, Any] | None, history: list[dict[str, Any]],
                               min_consistency: float) -> Report:
    rep = Report("Feature store", f"project {definitions.project} · definitions {definitions.version}")
    rep.section("Overview")
    rep.metrics({"feature views": len(definitions.views), "features": sum(len(v.features) for v in definitions.views),
                 "definition version": definitions.version, "applied versions": len(history),
                 "consistency %": round(consistency.agreement_pct, 4) if consistency else "n/a"})
    rep.text(f"Feast repo: {repo}")
    rep.section("Feature views")
    rep.table([{"view": v.name, "entities": ", ".join(v.entities), "ttl (s)": v.ttl_seconds or "forever",
                "features": ", ".join(f"{f} ({t})" for f, t in v.features.items()), "online": v.online,
                "freshness SLA (s)": v.freshness_sla_seconds or "-"} for v in definitions.views])
    if changes:
        rep.heading("Changes against the applied definitions")
        rep.bullets(changes)
    if decision:
        rep.note(decision)
    rep.section("Materialization and freshness")
    if materialized:
        rep.table([asdict(m) for m in materialized])
    rep.table([{"view": f.view, "materialized until": f.materialized_until, "newest row": f.newest_row,
                "age (s)": f.age_seconds, "SLA (s)": f.sla_seconds or "-", "within SLA": f.within_sla} for f in freshness])
    for f in freshness:
        if not f.within_sla:
            rep.note(f"view {f.view}: newest materialized row is {f.age_seconds} s old, SLA {f.sla_seconds} s", "fail")
    rep.section("Offline/online consistency")
    if consistency is None:
        rep.text("No online view: nothing to compare.")
    else:
        level = "info" if consistency.agreement_pct >= min_consistency else "fail"
        rep.note(consistency.summary(), level)
        if consistency.examples:
            rep.table([{**m.keys, "feature": m.feature, "offline": m.offline, "online": m.online}
                       for m in consistency.examples])
    if training_set:
        rep.section("Training set")
        rep.metrics({"rows": training_set["rows"], "features": len(training_set["features"]),
                     "dataset version": training_set.get("dataset_version", "")})
        rep.table([{"view": k, "rows without a value": n} for k, n in training_set["rows_without_value"].items()])
    rep.section("Definition history")
    rep.table([{"version": h["version"], "applied at": h["applied_at"], "by": h["applied_by"],
                "changes": "; ".join(h["changes"]) or "-"} for h in reversed(history)])
    return rep


def write_feature_store_report(out_dir: str, **kwargs: Any) -> ReportFiles:
    """The report as HTML, Markdown and JSON in ``out_dir``."""
    return build_feature_store_report(**kwargs).write(out_dir, stem="feature-store-report")
