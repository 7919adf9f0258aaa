"""``mlsitter serve MODEL`` (one registered model version behind FastAPI/uvicorn) and ``mlsitter rollback
MODEL`` (take a deployment's candidate out, or put the previous champion back)."""

from __future__ import annotations

import click


@click.command()
@click.argument("model")
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--port", default=8000, show_default=True, type=int, help="Port to listen on.")
@click.option("--role", default="champion", show_default=True, help="Role written in the prediction log.")
@click.option("--log-dir", default="", help="Prediction and feedback logs (default: the deployment's log folder).")
@click.option("--sample", default=1.0, show_default=True, type=click.FloatRange(0, 1),
              help="Share of requests written to the prediction log.")
@click.option("--log-max-mb", default=64.0, show_default=True, type=click.FloatRange(0),
              help="Rotate the prediction log at this size (0: never by size).")
@click.option("--log-max-hours", default=0.0, show_default=True, type=click.FloatRange(0),
              help="Rotate the prediction log this long after it was opened (0: never by age).")
@click.option("--log-keep", default=0, show_default=True, type=click.IntRange(0),
              help="Rotated prediction-log files kept; older ones are deleted (0: all are kept).")
def serve(model: str, host: str, port: int, role: str, log_dir: str, sample: float, log_max_mb: float,
          log_max_hours: float, log_keep: int) -> None:
    """Serve MODEL (NAME@ALIAS, NAME/VERSION or NAME) from the registry, its hash checked: /predict, /feedback,
    /health, /ready, /metrics. Stops on Ctrl-C or SIGTERM after in-flight requests finish."""
    from mlsitter.ml.serving import LogRotation, serve_model, serving_home
    from mlsitter.ml.tracking import parse_model_ref

    name = parse_model_ref(model).name
    folder = log_dir or str(serving_home() / name / "log")
    click.echo(f"serving {model} on http://{host}:{port} (prediction log: {folder})", err=True)
    rotation = LogRotation(int(log_max_mb * 1024 * 1024), log_max_hours * 3600, log_keep)
    serve_model(model, host=host, port=port, role=role, log_dir=folder, sample=sample, rotation=rotation)


@click.command()
@click.argument("model")
@click.option("--deployment", default="", help="Deployment name (default: the model name).")
@click.option("--reason", default="", help="Why, for the audit trail.")
def rollback(model: str, deployment: str, reason: str) -> None:
    """Roll MODEL's deployment back now: a candidate in canary or shadow is taken out (weight 0, drained,
    stopped; aliases untouched); without one, the previous champion is served again and gets the champion
    alias back (the version rolled back from becomes the previous champion). Journaled as a ``rollback`` run."""
    import mlsitter
    from mlsitter.ml.serving import require_state
    from mlsitter.ml.tracking import parse_model_ref

    require_state(deployment or parse_model_ref(model).name)  # refused before a run is created
    run = mlsitter.run("rollback", model=model, deployment=deployment, reason=reason)
    if run.status != "completed":
        raise click.ClickException(f"rollback run {run.run_id} {run.status}: {run.error}")
    done = run.result
    what = f"rolled back {done.version}" if done.action == "candidate-removed" else f"rolled back to {done.version}"
    click.echo(f"{what}: traffic now {done.shares} (run {run.run_id})")
