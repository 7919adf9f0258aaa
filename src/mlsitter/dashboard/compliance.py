"""The compliance page of a run (checkpoints by CRISP-DM phase, evidence, who approved) and its signed bundle."""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, Request
from fastapi.responses import RedirectResponse, Response

from mlsitter.dashboard.app import Dashboard, dashboard
from mlsitter.dashboard.links import run_url
from mlsitter.dashboard.pages import _page

router = APIRouter(include_in_schema=False)
#: The badge class (the run page's gate colours) of each checkpoint, gate or approval outcome.
BADGES = {"passed": "out-pass", "approved": "out-pass", "failed": "out-fail", "rejected": "out-fail",
          "warned": "out-warn", "pending": "st-waiting", "partial": "st-waiting", "overridden": "out-overridden",
          "no evidence": "st-cancelled"}


@router.get("/runs/{run_id}/compliance")
def compliance_page(request: Request, run_id: str, cfg: Dashboard = Depends(dashboard)) -> Response:
    from mlsitter.runtime.compliance import build_record, journals

    runs = journals(cfg.store, run_id)
    root = next(iter(runs))
    if root != run_id:  # a unique prefix: go to the full id
        return RedirectResponse(f"{run_url(root)}/compliance", status_code=303)
    return _page(cfg, request, "compliance.html", record=build_record(runs, root), badges=BADGES)


@router.get("/runs/{run_id}/compliance/bundle")
def compliance_bundle(run_id: str, cfg: Dashboard = Depends(dashboard)) -> Response:
    """The signed bundle (zip), made now from the store; `mlsitter compliance verify FILE` checks it offline."""
    from mlsitter.runtime.bundle import export_bundle

    run = cfg.store.get_run(run_id)
    with tempfile.TemporaryDirectory(prefix="mlsitter-bundle-") as tmp:
        info = export_bundle(cfg.store, run.run_id, Path(tmp) / "bundle.zip")
        data = Path(info.path).read_bytes()
    name = f"compliance-{run.run_id}.zip"
    return Response(data, media_type="application/zip",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})
