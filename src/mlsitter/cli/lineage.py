"""``mlsitter lineage MODEL[@alias|/version]``: model version -> mlsitter run -> dataset version."""

from __future__ import annotations

import json
from typing import Any

import click


@click.command()
@click.argument("model")
@click.option("--json", "as_json", is_flag=True, help="Print the lineage as JSON.")
def lineage(model: str, as_json: bool) -> None:
    """Show where a registered model came from: MODEL, MODEL@ALIAS or MODEL/VERSION (no suffix: latest)."""
    from mlsitter.ml.tracking._registry import lineage as read_lineage

    info = read_lineage(model)
    served = serving_rows(info["model"]["name"])
    if served:
        info["serving"] = served
    if as_json:
        click.echo(json.dumps(info, indent=2, sort_keys=True))
        return
    m, r, d = info["model"], info["run"], info["dataset"]
    aliases = f" [{', '.join(m['aliases'])}]" if m["aliases"] else ""
    metrics = ", ".join(f"{k}={v:.4f}" for k, v in sorted(m["metrics"].items()))
    click.echo(f"model    {m['name']} version {m['version']}{aliases}")
    click.echo(f"         artifact {m['artifact_sha256']}" + (f"; {metrics}" if metrics else ""))
    click.echo(f"  <- run      {r['mlsitter_run_id'] or '(not recorded)'} (process {r['process'] or '?'}, "
               f"MLflow run {r['mlflow_run_id'] or '?'})")
    click.echo(f"              code {r['code_version'] or '(not recorded)'}")
    click.echo(f"  <- dataset  {d['dataset_version'] or '(not recorded)'}")
    upstream = info.get("upstream") or {}
    if upstream.get("feature_pipeline"):
        click.echo(f"  <- features {upstream['feature_pipeline']}")
    if upstream.get("model_selection"):
        click.echo(f"  <- selection {upstream['model_selection']}")
    parent = info.get("parent") or {}
    if parent.get("version"):
        click.echo(f"  <- parent   {parent['version']} (retrained because: {parent.get('trigger') or '(not recorded)'})")
    if served:
        click.echo(f"served ({m['name']}, from the deploy runs' journals)")
        for row in served:
            until = row["until"] or "now"
            click.echo(f"  {row['deployment']:<16} {row['version']:<16} {100 * row['share']:5.1f}%  "
                       f"{row['from']} -> {until}  (run {row['run_id']})")


def serving_rows(name: str) -> list[dict[str, Any]]:
    """Which version of model ``name`` served which share of traffic from when to when (empty when never)."""
    import datetime as dt

    from mlsitter.processes.execution.deploy.history import serving_history
    from mlsitter.runtime import Store

    def when(at: float | None) -> str | None:
        return dt.datetime.fromtimestamp(at, dt.timezone.utc).isoformat(timespec="seconds") if at else None

    return [{"deployment": h.deployment, "version": h.version, "share": h.share, "from": when(h.start),
             "until": when(h.end), "run_id": h.run_id} for h in serving_history(Store(), name)]
