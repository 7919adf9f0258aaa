"""The one grammar of reviewer feedback: every refine loop reads a rejection's text with :func:`parse_feedback`.

Feedback is a list of parts. Parts are separated by newlines, by ``;``, and by a comma that begins a
part with a key the reader knows (``trials: 40, folds: 3``); other commas stay inside a value, where
they separate list items (``drop: duration, pdays``). A leading list marker (``- ``, ``* ``) is not part
of the text. A part is either a *directive*, ``key: value`` or ``key = value``, or free text::

    metric: f1; threshold: 0.7
    drop: duration, pdays
    - keep: age
    mde: 2%
    search_space: {"num_leaves": {"type": "int", "low": 8, "high": 64}}
    Intended use: research only
    please look at the outliers

- A key is one word (letters, digits, ``_`` or ``-``; compared in lower case with ``-`` as ``_``).
  Several words before a colon are prose, kept as free text, unless the reader takes phrase keys
  (the model card's section titles, ``Intended use: ...``).
- A value that begins with ``{`` is a JSON object and runs to its closing brace, separators included.
- A reader names the keys it understands (``allowed``) and other spellings of them (``aliases``). An
  unknown one-word key is refused with a SpecError that lists the known ones (``unknown="raise"``), or
  kept for the reader to judge (``unknown="keep"``).

Each process maps the directives onto its own settings and documents its keys; the grammar is the same
everywhere, so the same text means the same directives in every process that accepts them.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Iterable, Literal, Mapping

from mlsitter.errors import SpecError
from mlsitter.naming import stable_name

_WORD = r"[A-Za-z_][\w-]*"
_MARKER = re.compile(r"^[-*\u2022]\s+")
_WORD_KEY = re.compile(rf"^\s*({_WORD})\s*[:=]\s*")
_PHRASE_KEY = re.compile(rf"^\s*({_WORD}(?:[ \t]+{_WORD})*)\s*[:=]\s*")
_MAX_PHRASE = 40  # longer prose before a colon is a sentence, not a key


@stable_name("ml.handoffs.FeedbackPart")
@dataclass(frozen=True)
class FeedbackPart:
    """One part of the feedback: a directive (``key`` set) or free text (``key`` empty)."""

    key: str
    value: str
    #: the part as written (list marker removed), what a reader shows when it keeps the part as a note
    text: str
    #: the line of the feedback the part is on (0-based)
    line: int

    @property
    def is_directive(self) -> bool:
        return bool(self.key)

    @property
    def is_phrase(self) -> bool:
        """Whether the key is several words (a section title, or prose before a colon)."""
        return " " in self.key


@stable_name("ml.handoffs.Feedback")
@dataclass
class Feedback:
    """Parsed reviewer feedback: directives by key (the last one wins), free comments, and every part in order."""

    directives: dict[str, str] = field(default_factory=dict)
    comments: list[str] = field(default_factory=list)
    parts: list[FeedbackPart] = field(default_factory=list)

    def ordered(self) -> list[FeedbackPart]:
        """The directives in the order they were written (repeated keys included)."""
        return [p for p in self.parts if p.is_directive]

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


def normalize_key(text: str) -> str:
    """A key as readers compare it: lower case, ``-`` as ``_``, single spaces between words."""
    return " ".join(text.split()).lower().replace("-", "_")


def parse_feedback(text: str | None, allowed: Iterable[str] = (), *, aliases: Mapping[str, str] | None = None,
                   unknown: Literal["raise", "keep"] = "raise", phrase_keys: bool = False) -> Feedback:
    """Split feedback into parts (see the module docstring for the grammar).

    ``allowed`` (if given) are the keys this reader understands and ``aliases`` other spellings of them
    (``{"budget": "trials"}``); a comma followed by one of them starts a new part. An unknown one-word key
    raises SpecError listing ``allowed``, or with ``unknown="keep"`` stays a directive for the reader to
    judge. With ``phrase_keys`` a key may be several words (up to 40 characters); otherwise such a part is
    free text."""
    allowed = tuple(allowed)
    spellings = {normalize_key(k): v for k, v in (aliases or {}).items()}
    result = Feedback()
    if not text:
        return result
    for raw, line_no in _split(text, {*allowed, *spellings}):
        part = _read_part(raw, line_no, spellings, phrase_keys)
        if part is None:
            continue
        if part.is_directive and not part.is_phrase and allowed and part.key not in allowed and unknown == "raise":
            written = _WORD_KEY.match(part.text)
            raise SpecError(f"feedback key {written.group(1) if written else part.key!r} is not understood here; "
                            f"use one of {', '.join(allowed)} (e.g. '{allowed[0]}: ...'), separated by ';' or newlines")
        result.parts.append(part)
        if part.is_directive:
            result.directives[part.key] = part.value
        else:
            result.comments.append(part.text)
    return result


def _split(text: str, starters: set[str]) -> list[tuple[str, int]]:
    """The parts of ``text`` with the line each starts on: cut at newlines, at ``;`` and at commas that begin
    a known key, never inside a JSON object value (which may span lines)."""
    parts: list[tuple[str, int]] = []
    start = i = line = 0
    start_line = 0
    while i < len(text):
        ch = text[i]
        if ch == "{" and _opens_value(text[start:i]):
            end = _object_end(text, i)
            line += text.count("\n", i, end)
            i = end
            continue
        if ch == "\n" or ch == ";" or (ch == "," and starters and _starts_known_key(text[i + 1:], starters)):
            parts.append((text[start:i], start_line))
            if ch == "\n":
                line += 1
            start, start_line = i + 1, line
        i += 1
    parts.append((text[start:], start_line))
    return parts


def _opens_value(before: str) -> bool:
    """Whether a ``{`` after ``before`` (the part so far) is the first character of a ``key:`` part's value."""
    return bool(re.fullmatch(rf"\s*(?:[-*\u2022]\s+)?{_WORD}(?:[ \t]+{_WORD})*\s*[:=]\s*", before))


def _object_end(text: str, i: int) -> int:
    """The index just past the JSON object that starts at ``i``; for text that is not JSON, past its
    balanced closing brace (or the end), so a malformed object still stays one value for its reader to refuse."""
    try:
        return json.JSONDecoder().raw_decode(text, i)[1]
    except ValueError:
        pass
    depth, in_string, escaped = 0, False, False
    for j in range(i, len(text)):
        c = text[j]
        if in_string:
            if escaped:
                escaped = False
            elif c == "\\":
                escaped = True
            elif c == '"':
                in_string = False
        elif c == '"':
            in_string = True
        elif c == "{":
            depth += 1
        elif c == "}":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(text)


def _starts_known_key(rest: str, starters: set[str]) -> bool:
    match = _WORD_KEY.match(rest)
    return bool(match) and normalize_key(match.group(1)) in starters


def _read_part(raw: str, line_no: int, aliases: Mapping[str, str], phrase_keys: bool) -> FeedbackPart | None:
    text = _MARKER.sub("", raw.strip()).strip()
    if not text:
        return None
    match = _PHRASE_KEY.match(text)
    if match is None or (" " in match.group(1).strip() and (not phrase_keys or len(match.group(1)) > _MAX_PHRASE)):
        return FeedbackPart("", "", text, line_no)  # prose: no key, or several words before the colon
    key = normalize_key(match.group(1))
    return FeedbackPart(aliases.get(key, key), text[match.end():].strip(), text, line_no)
