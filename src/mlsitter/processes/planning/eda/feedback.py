"""Turn a reviewer's rejection feedback into options for the next EDA report.

Feedback is read with the one feedback grammar (:mod:`mlsitter.ml.handoffs._review_feedback`):
directives separated by new lines or ';', each ``key: value`` (or ``key=value``). Recognised keys:

- ``exclude: a, b`` (also ``drop:``) leave columns a and b out of the report;
- ``include: a`` put a previously excluded column back;
- ``sample: 10000`` profile a seeded sample of 10,000 rows (``sample: all`` uses every row).

Any other text is kept as a reviewer note and shown in the next report.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Iterable

from mlsitter.ml.handoffs._review_feedback import parse_feedback
from mlsitter.naming import stable_name

EDA_FEEDBACK_KEYS = ("exclude", "drop", "include", "sample")


@stable_name("eda.ReportOptions")
@dataclass(frozen=True)
class ReportOptions:
    """What the next report covers: excluded columns, row sample size, and the notes it answers."""

    exclude: tuple[str, ...] = ()
    sample: int | None = None
    notes: tuple[str, ...] = field(default=())
    problems: tuple[str, ...] = field(default=())


def _columns(value: str) -> list[str]:
    return [part.strip().strip("'\"`") for part in value.split(",") if part.strip().strip("'\"`")]


def apply_feedback(options: ReportOptions, feedback: str | None) -> ReportOptions:
    """Options after one piece of feedback; a malformed directive becomes a problem shown in the report."""
    if not feedback or not feedback.strip():
        return options
    exclude = list(options.exclude)
    sample = options.sample
    notes = list(options.notes)
    problems = list(options.problems)
    for part in parse_feedback(feedback, allowed=EDA_FEEDBACK_KEYS, unknown="keep").parts:
        key, value = part.key, part.value
        if key in ("exclude", "drop"):
            exclude += [c for c in _columns(value) if c not in exclude]
        elif key == "include":
            exclude = [c for c in exclude if c not in _columns(value)]
        elif key == "sample":
            text = value.replace(",", "").replace("_", "").strip().lower()
            if text in ("all", "none", "0", "off"):
                sample = None
            elif text.isdigit() and int(text) > 0:
                sample = int(text)
            else:
                problems.append(f"sample: expected a positive row count or 'all', got {value!r}; kept {sample or 'all rows'}")
        else:  # free text, or a key the report does not read: a reviewer note
            notes.append(part.text)
    return replace(options, exclude=tuple(exclude), sample=sample, notes=tuple(notes), problems=tuple(problems))


def options_from_feedbacks(base: ReportOptions, feedbacks: Iterable[str | None]) -> ReportOptions:
    """Apply every rejection so far, oldest first (later directives win)."""
    options = base
    for feedback in feedbacks:
        options = apply_feedback(options, feedback)
    return options
