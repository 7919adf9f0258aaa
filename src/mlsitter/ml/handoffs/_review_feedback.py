"""The small, explicit syntax a reviewer uses when rejecting an attempt, so feedback changes the next one.

Feedback is ``key: value`` pairs separated by newlines or ``;``; list values are comma-separated::

    metric: f1; threshold: 0.7
    drop: duration, pdays
    keep: age
    mde: 0.02

Text that is not ``key: value`` is kept as a free comment. Each process documents the keys it reads
and rejects unknown ones with a SpecError that lists them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

_PAIR = re.compile(r"^\s*([A-Za-z_][\w-]*)\s*[:=]\s*(.*?)\s*$")


@stable_name("ml.handoffs.Feedback")
@dataclass
class Feedback:
    """Parsed reviewer feedback: directives by key, and free comments."""

    directives: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)

    def get_list(self, key: str) -> list[str]:
        value = self.directives.get(key, "")
        return [v.strip() for v in value.split(",") if v.strip()]

    def get_float(self, key: str) -> float | None:
        if key not in self.directives:
            return None
        try:
            return float(self.directives[key].rstrip("%")) / (100.0 if self.directives[key].endswith("%") else 1.0)
        except ValueError:
            raise SpecError(f"feedback '{key}' must be a number, got {self.directives[key]!r}") from None

    def get_int(self, key: str) -> int | None:
        value = self.get_float(key)
        return None if value is None else int(round(value))


def parse_feedback(text: str | None, allowed: tuple[str, ...] = ()) -> Feedback:
    """Split feedback into directives and comments; ``allowed`` (if given) restricts directive keys."""
    result = Feedback()
    if not text:
        return result
    for part in re.split(r"[;\n]", text):
        if not part.strip():
            continue
        match = _PAIR.match(part)
        key = match.group(1).lower().replace("-", "_") if match else ""
        if match and (not allowed or key in allowed):
            result.directives[key] = match.group(2)
        elif match and allowed:
            raise SpecError(f"feedback key {match.group(1)!r} is not understood here; use one of "
                            f"{', '.join(allowed)} (e.g. '{allowed[0]}: ...'), separated by ';' or newlines")
        else:
            result.comments.append(part.strip())
    return result
