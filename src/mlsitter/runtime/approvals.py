"""Approval rules as code: who may answer a tagged breakpoint, how many must approve, and for how long.

The rules live in a YAML file of the project, ``$MLSITTER_APPROVALS`` or ``./mlsitter-approvals.yaml``::

    version: 3
    roles: [approver, release-manager]
    rules:
      production: {roles: [release-manager], approvers: 2, starter_may_approve: false, valid_for: 24h}

A run binds the file it starts with: its version, its sha256 and the parsed rules are journaled
(``approvals.bound``) when the run is created, with the identity of its starter, so the run is judged by
the rules it started with even if the file changes while it waits (the change is detected and reported).
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mlsitter.errors import ApprovalRefusedError, SpecError
from mlsitter.runtime.identity import Identity
from mlsitter.runtime.users import NAME

APPROVALS_ENV = "MLSITTER_APPROVALS"
DEFAULT_FILE = "mlsitter-approvals.yaml"
BOUND_EVENT = "approvals.bound"
PARTIAL_EVENT = "breakpoint.approval"
_RULE_FIELDS = {"roles", "approvers", "starter_may_approve", "valid_for"}
_TOP_FIELDS = {"version", "roles", "rules"}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhd])\s*$")
_UNIT = {"s": 1, "m": 60, "h": 3600, "d": 86400}


@dataclass(frozen=True)
class Rule:
    """What one breakpoint tag requires of its answers."""

    tag: str
    roles: tuple[str, ...]
    approvers: int = 1
    starter_may_approve: bool = True
    valid_for: float | None = None
    """Seconds an approval counts towards the quorum (None: until the breakpoint is answered)."""

    def as_dict(self) -> dict[str, Any]:
        return {"roles": list(self.roles), "approvers": self.approvers,
                "starter_may_approve": self.starter_may_approve, "valid_for": self.valid_for}


@dataclass(frozen=True)
class ApprovalRules:
    """A parsed, validated approvals file: its version, declared roles, rules per tag, and content hash."""

    version: str
    roles: tuple[str, ...]
    rules: dict[str, Rule]
    sha256: str
    source: str

    def for_tags(self, tags: list[str] | tuple[str, ...]) -> list[Rule]:
        return [self.rules[t] for t in tags if t in self.rules]

    def as_dict(self) -> dict[str, Any]:
        return {"version": self.version, "sha256": self.sha256, "source": self.source, "roles": list(self.roles),
                "rules": {t: r.as_dict() for t, r in self.rules.items()}}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ApprovalRules":
        rules = {t: Rule(t, tuple(r["roles"]), int(r["approvers"]), bool(r["starter_may_approve"]), r["valid_for"])
                 for t, r in data["rules"].items()}
        return cls(str(data["version"]), tuple(data["roles"]), rules, data["sha256"], data["source"])


def approvals_path() -> Path:
    named = os.environ.get(APPROVALS_ENV)
    if named:
        return Path(named).expanduser()
    try:
        return Path.cwd() / DEFAULT_FILE
    except FileNotFoundError:  # the working directory was removed: there is no project file to read
        return Path(os.devnull).with_name(DEFAULT_FILE)


def load_rules(path: Path | None = None) -> ApprovalRules | None:
    """The approvals file at ``path`` (default: the lookup above), validated; None when there is none.

    A file named by ``$MLSITTER_APPROVALS`` must exist; any problem is a :class:`SpecError` naming the field."""
    named = path is not None or bool(os.environ.get(APPROVALS_ENV))
    path = path or approvals_path()
    if not path.exists():
        if named:
            raise SpecError(f"approvals file {path} does not exist ({APPROVALS_ENV} or the path given names it)")
        return None
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise SpecError(f"approvals file {path} cannot be read: {exc.strerror}") from None
    return parse_rules(raw, str(path.resolve()))


def parse_rules(raw: bytes, source: str) -> ApprovalRules:
    import yaml

    where = f"approvals file {source}"
    try:
        data = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        raise SpecError(f"{where} is not valid YAML: {exc}") from None
    _fields(data, _TOP_FIELDS, where)
    version = data.get("version")
    if not isinstance(version, (int, str)) or isinstance(version, bool) or str(version).strip() == "":
        raise SpecError(f"{where}: 'version' is required (a number or a name, e.g. 3 or '2026-12-a'), got {version!r}")
    roles = data.get("roles")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) and NAME.match(r) for r in roles):
        raise SpecError(f"{where}: 'roles' must be a non-empty list of role names, got {roles!r}")
    rules_data = data.get("rules")
    if not isinstance(rules_data, dict) or not rules_data:
        raise SpecError(f"{where}: 'rules' must map breakpoint tags to rules, got {rules_data!r}")
    rules = {str(tag): _rule(str(tag), spec, tuple(roles), where) for tag, spec in rules_data.items()}
    return ApprovalRules(str(version), tuple(roles), rules, hashlib.sha256(raw).hexdigest(), source)


def _rule(tag: str, spec: Any, declared: tuple[str, ...], where: str) -> Rule:
    at = f"{where}, rule {tag!r}"
    _fields(spec, _RULE_FIELDS, at)
    roles = spec.get("roles")
    if not isinstance(roles, list) or not roles or not all(isinstance(r, str) for r in roles):
        raise SpecError(f"{at}: 'roles' must be a non-empty list of role names, got {roles!r}")
    for role in roles:
        if role not in declared:
            raise SpecError(f"{at}: unknown role {role!r}; the file declares {', '.join(declared)}")
    approvers = spec.get("approvers", 1)
    if not isinstance(approvers, int) or isinstance(approvers, bool) or approvers < 1:
        raise SpecError(f"{at}: 'approvers' must be a whole number >= 1, got {approvers!r}")
    may = spec.get("starter_may_approve", True)
    if not isinstance(may, bool):
        raise SpecError(f"{at}: 'starter_may_approve' must be true or false, got {may!r}")
    return Rule(tag, tuple(roles), approvers, may, _duration(spec.get("valid_for"), at))


def _fields(data: Any, allowed: set[str], at: str) -> None:
    """A mapping whose keys are all among ``allowed``, else an error naming the first unknown one."""
    expected = ", ".join(sorted(allowed))
    if not isinstance(data, dict):
        raise SpecError(f"{at}: expected a mapping with {expected}")
    unknown = set(data) - allowed
    if unknown:
        raise SpecError(f"{at}: unknown field {sorted(unknown)[0]!r}; expected {expected}")


def _duration(value: Any, at: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return float(value)
    match = _DURATION.match(value) if isinstance(value, str) else None
    if not match or float(match.group(1)) <= 0:
        raise SpecError(f"{at}: 'valid_for' must be a positive duration such as 90s, 30m, 24h or 7d, got {value!r}")
    return float(match.group(1)) * _UNIT[match.group(2)]


@dataclass(frozen=True)
class Approval:
    """A journaled approval of a governed breakpoint (partial until the quorum is reached)."""

    user: str
    at: float
    option: str | None = None


@dataclass
class Verdict:
    """What the rules make of an answer: the approvals that count with it, and how many are needed."""

    rules: list[Rule]
    counted: list[Approval] = field(default_factory=list)
    needed: int = 1

    @property
    def satisfied(self) -> bool:
        return len(self.counted) >= self.needed


def judge(rules: list[Rule], *, who: Identity, roles: tuple[str, ...], approved: bool, option: str | None,
          starter: str | None, earlier: list[Approval], now: float, run_id: str) -> Verdict:
    """Check an answer against every rule of the breakpoint's tags; refuse it naming the first rule it breaks."""
    for rule in rules:
        if not set(roles) & set(rule.roles):
            has = f"has roles {', '.join(roles)}" if roles else "has no roles"
            raise ApprovalRefusedError(
                f"rule '{rule.tag}.roles' refused the answer of {who.user} ({who.auth}): it needs one of the "
                f"roles {', '.join(rule.roles)}, and {who.user} {has} in the users file")
    if not approved:  # anyone with the role may reject, the starter too: a rejection never ships anything
        return Verdict(rules)
    needed = max(r.approvers for r in rules)
    for rule in rules:
        if not rule.starter_may_approve and starter is not None and who.user == starter:
            raise ApprovalRefusedError(
                f"rule '{rule.tag}.starter_may_approve' refused the approval of {who.user}: {who.user} started run "
                f"{run_id}, and separation of duties asks someone else to approve it")
    valid = min((r.valid_for for r in rules if r.valid_for is not None), default=None)
    counted = [a for a in earlier if valid is None or now - a.at <= valid]
    if any(a.user == who.user for a in counted):
        rule = max(rules, key=lambda r: r.approvers)
        raise ApprovalRefusedError(
            f"rule '{rule.tag}.approvers' refused the approval of {who.user}: {who.user} already approved; it needs "
            f"{needed} distinct approvers ({len(counted)} so far)")
    chosen = {a.option for a in counted}
    if counted and chosen != {option}:
        raise ApprovalRefusedError(
            f"the earlier approvals of this breakpoint chose option {sorted(map(str, chosen))[0]!r}; approve the "
            f"same option, or reject with feedback")
    return Verdict(rules, [*counted, Approval(who.user, now, option)], needed)


def bound_rules(data: dict[str, Any] | None) -> ApprovalRules | None:
    """The rules an ``approvals.bound`` event journaled (None: the run has no approvals file)."""
    if not data or not data.get("rules"):
        return None
    return ApprovalRules.from_dict(data["rules"])


def describe(rules: ApprovalRules, tags: list[str] | tuple[str, ...]) -> str:
    """The rules that govern a breakpoint with ``tags``, as a page shows them ('' when none governs it), e.g.
    ``production (version 1): one of release-manager, 2 distinct approvers, not the run's starter, valid 24h``."""
    parts = []
    for rule in rules.for_tags(tags):
        terms = [f"one of {', '.join(rule.roles)}" if rule.roles else "any user",
                 f"{rule.approvers} distinct approvers" if rule.approvers > 1 else "1 approver"]
        if not rule.starter_may_approve:
            terms.append("not the run's starter")
        if rule.valid_for is not None:
            terms.append(f"valid {_span(rule.valid_for)}")
        parts.append(f"{rule.tag} (version {rules.version}): {', '.join(terms)}")
    return "; ".join(parts)


def _span(seconds: float) -> str:
    """A duration as the file spells them (90m, 24h, 7d): the largest unit that divides it, days from two on."""
    for unit in ("d", "h", "m"):
        if seconds >= _UNIT[unit] * (2 if unit == "d" else 1) and seconds % _UNIT[unit] == 0:
            return f"{seconds / _UNIT[unit]:g}{unit}"
    return f"{seconds:g}s"


def drift(bound: ApprovalRules) -> str | None:
    """A sentence when the bound file now differs from what the run started with (edited, removed, unreadable)."""
    path = Path(bound.source)
    try:
        now = hashlib.sha256(path.read_bytes()).hexdigest()
    except FileNotFoundError:
        now = "missing"
    except OSError:
        now = "unreadable"
    if now == bound.sha256:
        return None
    state = "was removed" if now == "missing" else ("cannot be read" if now == "unreadable" else
                                                    f"changed (sha256 now {now[:12]})")
    return (f"the approvals file {path} {state} since this run started; the run keeps the version it started with "
            f"(version {bound.version}, sha256 {bound.sha256[:12]}); new runs use the file as it is now")


def now_ts() -> float:
    return _dt.datetime.now(_dt.timezone.utc).timestamp()
