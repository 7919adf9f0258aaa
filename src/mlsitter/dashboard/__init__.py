"""The local web dashboard (``mlsitter ui``): runs, timelines, reports and the approval inbox.

Needs the ``ui`` extra (FastAPI, uvicorn, Jinja2); nothing here is imported by ``import mlsitter``.
"""

from __future__ import annotations

from mlsitter.dashboard.app import create_app

__all__ = ["create_app"]
