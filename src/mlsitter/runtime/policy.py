"""Approval policies: who may answer a breakpoint when no person has."""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlsitter.errors import InputError

MODES = ("manual", "auto", "gates-passed")


@dataclass(frozen=True)
class ApprovalPolicy:
    """``manual`` asks a person; ``auto`` approves every breakpoint; ``gates-passed`` approves only
    while every gate so far passed. Breakpoints tagged with a name in ``protected`` (``production``)
    are never approved by policy unless the policy names the tag: ``auto+production``."""

    mode: str = "manual"
    allowed_tags: frozenset[str] = frozenset()
    protected: frozenset[str] = frozenset({"production"})

    @classmethod
    def parse(cls, text: str | None) -> "ApprovalPolicy":
        text = (text or "manual").strip()
        mode, *tags = text.split("+")
        if mode not in MODES:
            raise InputError(
                f"unknown approval policy {text!r}; expected one of {', '.join(MODES)}, optionally with "
                "protected tags it may approve, e.g. 'auto+production'"
            )
        return cls(mode, frozenset(t for t in tags if t))

    def __str__(self) -> str:
        return "+".join([self.mode, *sorted(self.allowed_tags)])

    def protect(self, tags: frozenset[str]) -> "ApprovalPolicy":
        """This policy with ``tags`` protected too (the tags an approvals file governs)."""
        return replace(self, protected=self.protected | tags)

    def approves(self, tags: tuple[str, ...] | list[str], all_gates_passed: bool) -> bool:
        """True when this policy answers the breakpoint itself (approved)."""
        if self.mode == "manual":
            return False
        if any(t in self.protected and t not in self.allowed_tags for t in tags):
            return False
        if self.mode == "gates-passed":
            return all_gates_passed
        return True
