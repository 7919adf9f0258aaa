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
def serve(model: str, host: str, port: int, role: str, log_dir: str, sample: float) -> None:
    """Serve MODEL (NAME@ALIAS, NAME/VERSION or NAME) from the registry, its hash checked: /predict, /feedback,
    /health, /ready, /metrics. Stops on Ctrl-C or SIGTERM after in-flight requests finish."""
    from mlsitter.ml.serving import serve_model, serving_home
    from mlsitter.ml.tracking import parse_model_ref

    name = parse_model_ref(model).name
    folder = log_dir or str(serving_home() / name / "log")
    click.echo(f"serving {model} on http://{host}:{port} (prediction log: {folder})", err=True)
    serve_model(model, host=host, port=port, role=role, log_dir=folder, sample=sample)


@click.command()
@click.argument("model")
@click.option("--deployment", default="", help="Deployment name (default: the model name).")
def rollback(model: str, deployment: str) -> None:
    """Roll MODEL's deployment back now: a candidate in canary or shadow is taken out (weight 0, drained,
    stopped; aliases untouched); without one, the previous champion is served again and gets the champion
    alias back (the version rolled back from becomes the previous champion)."""
    from mlsitter.errors import InputError
    from mlsitter.ml.serving import CANDIDATE, CHAMPION, ensure_server, live, load_state, promote
    from mlsitter.ml.serving import rollback as take_out
    from mlsitter.ml.tracking import parse_model_ref, resolve_model
    from mlsitter.ml.tracking import promote as move_alias

    name = parse_model_ref(model).name
    state = load_state(deployment or name)
    if state is None:
        raise InputError(f"no deployment named {deployment or name!r}; deploy it first (mlsitter run deploy ...)")
    if live(state, CANDIDATE) is not None:
        done = take_out(state)
        click.echo(f"rolled back {done['stopped']}: traffic now {done['shares']}")
        return
    try:
        previous = resolve_model(f"{name}@previous-champion")
    except InputError:
        raise InputError(f"{name} has no candidate serving and no 'previous-champion' version to go back to") from None
    current = state.servers.get(CHAMPION)
    ensure_server(state, CANDIDATE, name, previous.version)
    done = promote(state)
    move_alias(f"{name}/{previous.version}", "champion")
    if current is not None:
        move_alias(f"{name}/{current.version}", "previous-champion")
    click.echo(f"rolled back to {name}/{previous.version}: traffic now {done['shares']}")
