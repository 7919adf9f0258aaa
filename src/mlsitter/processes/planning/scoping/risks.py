"""Risk and ethics flags for a project charter, each from a measured fact about the data."""

from __future__ import annotations

from dataclasses import dataclass

from mlsitter.processes.planning.scoping.data_availability import DataAvailability
from mlsitter.ml.data._leakage import LeakageReport
from mlsitter.naming import stable_name


@stable_name("scoping.Risk")
@dataclass
class Risk:
    """One flag: what kind, how severe (high/medium/low) and the evidence."""

    kind: str
    severity: str
    detail: str


def nothing_to_audit(audited: list[str], availability: DataAvailability) -> str:
    """What to say (and ask) when the charter lists no sensitive attribute to audit; '' when it lists one."""
    if audited:
        return ""
    candidates = availability.sensitive_candidates
    listed = "; ".join(f"{c.column} ({c.evidence})" for c in candidates[:8])
    return ("no sensitive attribute was found by name or by value, so the charter lists nothing to audit for fairness"
            + (f"; coded columns that may hold one: {listed}" if candidates else "")
            + ". Reject with 'sensitive: COLUMN' to audit one, or sign off to record that none applies")


def assess_risks(availability: DataAvailability, leakage: LeakageReport | None, drift_span_days: float = 365.0,
                 *, audited: list[str] | None = None) -> list[Risk]:
    """Sensitive attributes (or none to audit), personal data, leakage suspects, small minority class, drift.

    ``audited``: the sensitive attributes the charter lists (default: those found in the data)."""
    risks: list[Risk] = []
    unaudited = nothing_to_audit(availability.sensitive_attributes if audited is None else audited, availability)
    if unaudited:
        risks.append(Risk("fairness", "medium", unaudited))
    if availability.sensitive_attributes:
        risks.append(Risk("fairness", "medium",
                          f"sensitive attributes present: {', '.join(availability.sensitive_attributes)}; "
                          "audit error rates and selection rates across their groups"))
    if availability.sensitive_missing:
        risks.append(Risk("fairness", "high", f"declared fairness attributes {availability.sensitive_missing} are "
                                              "absent, so fairness cannot be audited"))
    if availability.pii:
        risks.append(Risk("privacy", "high", "columns look like personal data: " +
                          ", ".join(f"{p.column} ({p.kind})" for p in availability.pii) +
                          "; excluded from features, handle under data-protection rules"))
    if leakage is not None:
        for finding in leakage.findings:
            risks.append(Risk("leakage", "high" if finding.blocking else "medium", finding.detail))
    if availability.class_counts:
        share = availability.minority_rows / max(sum(availability.class_counts.values()), 1)
        if availability.minority_rows < availability.rows_per_class_needed or share < 0.1:
            risks.append(Risk("class imbalance", "high" if share < 0.05 else "medium",
                              f"smallest class: {availability.minority_rows} rows ({share:.1%}); prefer "
                              "threshold-free or class-balanced metrics and stratified splits"))
    if availability.time_column and availability.time_span_days == availability.time_span_days \
            and availability.time_span_days >= drift_span_days:
        risks.append(Risk("drift", "medium", f"data spans {availability.time_span_days:.0f} days: validate on a "
                                             "time-ordered split and monitor drift after deployment"))
    if availability.target_missing:
        risks.append(Risk("label quality", "low", f"{availability.target_missing} rows have no label"))
    return risks
