"""Suspension: a ``BaseException`` so user code's ``except Exception`` cannot swallow it."""

from __future__ import annotations

from typing import Any


class Suspend(BaseException):
    """Raised inside a process to stop it until an answer, a timer or a child run arrives."""

    def __init__(self, waiting: dict[str, Any], wake_at: float | None = None) -> None:
        super().__init__(waiting.get("reason", "waiting"))
        self.waiting = waiting
        self.wake_at = wake_at
