"""``mlsitter ui``: serve the web dashboard over the store the CLI uses (FastAPI loads only when it runs)."""

from __future__ import annotations

import socket
import threading

import click


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Keep 127.0.0.1 unless others must reach it (they still need the token).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free one).")
@click.option("--token", default=None, envvar="MLSITTER_UI_TOKEN",
              help="Access token every page and API call needs (default: a random one, printed at start).")
@click.option("--resume-on-answer/--no-resume-on-answer", default=True, show_default=True,
              help="Continue a run in the background as soon as its question is answered in the dashboard.")
@click.option("--user", default=None, help="Name journaled with answers as dashboard:<user> (default: user@host).")
@click.option("--due-interval", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="With --resume-on-answer: seconds between looks for runs answered elsewhere or whose timer "
                   "is due, which the dashboard then resumes (0: never).")
def ui(host: str, port: int, token: str | None, resume_on_answer: bool, user: str | None, due_interval: float) -> None:
    """Start the web dashboard: runs, run timelines, reports and the approval inbox."""
    from mlsitter.errors import InputError

    try:
        import uvicorn

        from mlsitter.dashboard import create_app
        from mlsitter.dashboard.security import new_token
    except ImportError as exc:
        raise InputError(f"the dashboard needs the ui extra ({exc.name} is missing): pip install 'mlsitter[ui]'") from None
    from mlsitter.runtime import Store

    if token is not None and len(token) < 8:
        raise InputError("--token must be at least 8 characters long")
    token = token or new_token()
    store = Store()
    app = create_app(store, token, resume_on_answer=resume_on_answer, user=user)
    sock = _bind(host, port)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    click.echo(f"mlsitter dashboard for {store.home}")
    click.echo(f"  open: http://{shown}:{bound}/?token={token}")
    click.echo("  answers continue runs " + ("in the background" if resume_on_answer else
                                              "only on `mlsitter resume` (--no-resume-on-answer)"))
    stop = threading.Event()
    if resume_on_answer and due_interval > 0:
        app.state.dashboard.resumer.watch(due_interval, stop)
        click.echo(f"  every {due_interval:g} s it also resumes runs answered elsewhere and timers that are due")
    click.echo("  stop with Ctrl-C")
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        stop.set()


def _bind(host: str, port: int) -> socket.socket:
    """Bind before printing, so the printed URL names the real port (also for --port 0)."""
    from mlsitter.errors import InputError

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host") from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock
