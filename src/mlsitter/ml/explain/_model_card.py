"""Model cards with the sections of Mitchell et al. 2019 ("Model Cards for Model Reporting"),
assembled from measured results (registry lineage, evaluation, explanations) and rendered to HTML,
Markdown and JSON with :class:`mlsitter.report.Report`.

Reviewer feedback edits the next version. It is read with the one feedback grammar
(:mod:`mlsitter.ml.handoffs._review_feedback`), whose keys here are section titles: ``Section name: text``
replaces the written part of that section with the rest of its line (e.g. ``Intended use: research
only``); any other text becomes a reviewer note under caveats and recommendations.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.ml.handoffs._review_feedback import parse_feedback
from mlsitter.report import Report, ReportFiles
from mlsitter.naming import stable_name

SECTIONS = (
    "Model details",
    "Intended use",
    "Factors",
    "Metrics",
    "Evaluation data",
    "Training data",
    "Quantitative analyses",
    "Ethical considerations",
    "Caveats and recommendations",
)
FAIRNESS_COLUMNS = ["attribute", "dp_ratio", "dp_ratio_low", "dp_ratio_high", "dp_difference", "eo_difference",
                    "eo_difference_low", "eo_difference_high", "eo_ratio"]
_ALIASES = {
    "details": "Model details", "model": "Model details", "intended": "Intended use", "use": "Intended use",
    "factors": "Factors", "metrics": "Metrics", "evaluation": "Evaluation data", "training": "Training data",
    "quantitative": "Quantitative analyses", "analyses": "Quantitative analyses", "ethical": "Ethical considerations",
    "ethics": "Ethical considerations", "caveats": "Caveats and recommendations", "recommendations": "Caveats and recommendations",
}


@stable_name("ml.explain.CardSection")
@dataclass
class CardSection:
    """Written text (editable by reviewers) plus measured bullets and tables (not editable)."""

    text: list[str] = field(default_factory=list)
    bullets: list[str] = field(default_factory=list)
    tables: list[tuple[str, list[dict[str, Any]], list[str]]] = field(default_factory=list)


@stable_name("ml.explain.ModelCard")
@dataclass
class ModelCard:
    """A model card: title plus the nine Mitchell et al. sections, in order."""

    title: str
    version: int = 1
    sections: dict[str, CardSection] = field(default_factory=lambda: {s: CardSection() for s in SECTIONS})
    reviewer_notes: list[str] = field(default_factory=list)


def section_for(key: str) -> str | None:
    """The section a reviewer's ``key`` names (exact title, or a distinctive word of it), else None."""
    k = key.strip().lower()
    for s in SECTIONS:
        if k == s.lower():
            return s
    for word, s in _ALIASES.items():
        if k.startswith(word) or word in k.split():
            return s
    return None


def build_model_card(
    *, title: str, details: dict[str, Any], intended_use: str, out_of_scope: str, factors: list[str],
    metrics: list[dict[str, Any]], evaluation_data: dict[str, Any], training_data: str,
    fairness: list[dict[str, Any]], importance: list[dict[str, Any]], stability: dict[str, Any] | None,
    ethical: list[str], caveats: list[str],
) -> ModelCard:
    """Assemble a card from measured results; every number on it comes from an argument."""
    card = ModelCard(title=title)
    s = card.sections
    s["Model details"].bullets = [f"{k}: {v}" for k, v in details.items() if v not in (None, "")]
    s["Intended use"].text = [intended_use]
    if out_of_scope:
        s["Intended use"].bullets = [f"Out of scope: {out_of_scope}"]
    s["Factors"].text = ["Groups over which performance and fairness were measured (sensitive attributes)."
                         if factors else "No sensitive attributes were given; performance was not broken down by group."]
    s["Factors"].bullets = [f"{f}" for f in factors]
    s["Metrics"].text = ["Point estimates with 95% bootstrap confidence intervals on the evaluation data; "
                         "fairness as demographic parity and equalized odds (difference and ratio, Fairlearn)."]
    s["Metrics"].tables = [("Performance", metrics, ["metric", "value", "ci_low", "ci_high"])] if metrics else []
    s["Evaluation data"].bullets = [f"{k}: {v}" for k, v in evaluation_data.items()]
    s["Training data"].text = [training_data]
    quant = s["Quantitative analyses"]
    if fairness:
        quant.tables.append(("Fairness by sensitive attribute", fairness, FAIRNESS_COLUMNS))
        quant.bullets += [f"Groups of {f['attribute']}: {f['binning']}." for f in fairness if f.get("binning")]
    if importance:
        quant.tables.append(("Global feature importance (mean |SHAP|)", importance, ["feature", "mean |SHAP|"]))
    if stability:
        quant.bullets.append(
            f"Importance ranking stability over {stability.get('n_resamples')} bootstrap resamples: mean Spearman "
            f"{stability.get('mean_spearman', float('nan')):.3f}, top-{stability.get('top_k')} set agreement "
            f"{stability.get('top_k_agreement', float('nan')):.0%}"
        )
    s["Ethical considerations"].bullets = list(ethical)
    s["Caveats and recommendations"].bullets = list(caveats)
    return card


def apply_feedback(card: ModelCard, feedback: str | None) -> ModelCard:
    """Apply a reviewer's feedback to make the next version (see the module docstring for the format)."""
    if not feedback or not feedback.strip():
        return card
    card.version += 1
    loose: list[str] = []
    lines: dict[int, list[Any]] = {}
    for part in parse_feedback(feedback, unknown="keep", phrase_keys=True).parts:
        lines.setdefault(part.line, []).append(part)
    for parts in lines.values():
        # a section's text runs to the end of its line (a ';' in it is prose), or to the next section on it
        section, texts, notes = None, [], []
        for part in parts:
            target = section_for(part.key) if part.is_directive and part.value else None
            if target:
                if section:
                    card.sections[section].text = ["; ".join(texts)]
                section, texts = target, [part.value]
            elif section:
                texts.append(part.text)
            else:
                notes.append(part.text)
        if section:
            card.sections[section].text = ["; ".join(texts)]
        if notes:
            loose.append("; ".join(notes))
    if loose:
        note = " ".join(loose)
        card.reviewer_notes.append(note)
        card.sections["Caveats and recommendations"].bullets.append(f"Reviewer (version {card.version - 1}): {note}")
    return card


def render_model_card(card: ModelCard, out_dir: str | Path, stem: str = "model-card") -> ReportFiles:
    """Write the card as one self-contained HTML file plus Markdown and JSON."""
    report = Report(f"Model card: {card.title}", f"Version {card.version} · sections after Mitchell et al. 2019")
    for name in SECTIONS:
        sec = card.sections[name]
        report.section(name)
        for t in sec.text:
            if t:
                report.text(t)
        if sec.bullets:
            report.bullets(sec.bullets)
        for caption, rows, columns in sec.tables:
            report.heading(caption)
            report.table(rows, columns=columns)
        if not (sec.text or sec.bullets or sec.tables):
            report.note("Nothing was recorded for this section.", "warn")
    report.json_block("version", card.version)
    report.json_block("reviewer_notes", card.reviewer_notes)
    return report.write(out_dir, stem)
