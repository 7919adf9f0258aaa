"""Columns that look like personal data: names, emails, phone numbers, identifiers, addresses.

Scoping flags them so they are excluded from features and handled under the data-protection rules;
the check looks at both the column name and a sample of its values.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pandas as pd
from mlsitter.naming import stable_name

_EMAIL = re.compile(r"^[\w.+-]+@[\w-]+\.[\w.-]+$")
_PHONE = re.compile(r"^\+?[\d\s().-]{7,20}$")
_PERSON_NAME = re.compile(r"^[A-Z][a-z'-]+,?\s+(?:\(?[A-Z][a-z]*\.?\)?\s*)+")
_NAME_HINTS = {
    "email": ("email", "e-mail", "mail"),
    "phone": ("phone", "mobile", "tel", "fax"),
    "name": ("name", "surname", "firstname", "lastname"),
    "identifier": ("id", "ssn", "passport", "ticket", "account", "iban", "customer", "user"),
    "address": ("address", "street", "zip", "postcode", "postal"),
    "birth date": ("birth", "dob"),
    "ip address": ("ip",),
}


@stable_name("ml.data.PiiFinding")
@dataclass
class PiiFinding:
    """One column that looks like personal data, with the kind and the evidence."""

    column: str
    kind: str
    evidence: str


def _name_kind(column: str) -> str | None:
    tokens = [t for t in re.split(r"[^a-z0-9]+", column.lower()) if t]
    joined = column.lower().replace("_", "").replace("-", "")
    for kind, hints in _NAME_HINTS.items():
        for hint in hints:
            if hint in tokens or (len(hint) > 3 and hint in joined):
                return kind
    return None


def find_pii_columns(frame: pd.DataFrame, sample: int = 500, seed: int = 0) -> list[PiiFinding]:
    """Flag columns by value patterns (email, phone, person name, unique id) or by a telling name."""
    findings: list[PiiFinding] = []
    n = len(frame)
    part = frame.sample(n=min(sample, n), random_state=seed) if n else frame
    for column in frame.columns:
        values = part[column].dropna()
        kind, evidence = None, ""
        if len(values) and (values.dtype == object or pd.api.types.is_string_dtype(values)):
            text = values.astype(str).str.strip()
            for label, pattern in (("email", _EMAIL), ("person name", _PERSON_NAME)):
                share = float(text.str.match(pattern).mean())
                if share >= 0.8:
                    kind, evidence = label, f"{share:.0%} of sampled values match a {label} pattern"
                    break
            if kind is None and _name_kind(str(column)) == "phone":
                share = float(text.str.match(_PHONE).mean())
                if share >= 0.8:
                    kind, evidence = "phone", f"{share:.0%} of sampled values look like phone numbers"
        if kind is None:
            uniq = frame[column].nunique(dropna=True) / max(n, 1)
            integral = pd.api.types.is_integer_dtype(frame[column]) or frame[column].dtype == object
            if n >= 50 and uniq >= 0.98 and integral:
                kind, evidence = "identifier", f"{uniq:.0%} of values are unique"
        if kind is None:
            hinted = _name_kind(str(column))
            if hinted is not None:
                kind, evidence = hinted, f"column name {column!r} suggests {hinted}"
        if kind is not None:
            findings.append(PiiFinding(str(column), kind, evidence))
    return findings
