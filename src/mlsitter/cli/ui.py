"""``mlsitter ui``: serve the web dashboard over the store the CLI uses (FastAPI loads only when it runs)."""

from __future__ import annotations

import socket
import threading

import click


@click.command("ui")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to bind. Keep 127.0.0.1 unless others must reach it (they still need the token; "
                   "there is no TLS).")
@click.option("--port", default=8765, show_default=True, type=click.IntRange(0, 65535), help="TCP port (0: any free one).")
@click.option("--token", default=None, envvar="MLSITTER_UI_TOKEN",
              help="Access token for API calls and the login form (default: a random one, printed at start).")
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another host name browsers may use to reach the dashboard (repeatable); requests naming "
                   "any other Host are refused.")
@click.option("--resume-on-answer/--no-resume-on-answer", default=True, show_default=True,
              help="Continue a run in the background as soon as its question is answered in the dashboard.")
@click.option("--user", default=None, help="Name claimed (claimed_by, as dashboard:<user>) on answers given with the "
              "shared token (default: user@host); named users log in with their own password.")
@click.option("--due-interval", default=5.0, show_default=True, type=click.FloatRange(min=0),
              help="With --resume-on-answer: seconds between looks for runs answered elsewhere or whose timer "
                   "is due, which the dashboard then resumes (0: never).")
@click.option("--recover/--no-recover", default=False, show_default=True,
              help="With --resume-on-answer: the background resumer also resumes runs whose runner died "
                   "(at most --max-recoveries times each), as `mlsitter worker --recover` does.")
@click.option("--max-recoveries", default=3, show_default=True, type=click.IntRange(min=1))
def ui(host: str, port: int, token: str | None, allow_hosts: tuple[str, ...], resume_on_answer: bool,
       user: str | None, due_interval: float, recover: bool, max_recoveries: int) -> None:
    """Start the web dashboard: runs, run timelines, reports and the approval inbox."""
    from mlsitter.errors import InputError

    try:
        import uvicorn

        from mlsitter.dashboard import create_app
        from mlsitter.dashboard.security import new_token
        from mlsitter.dashboard.serve import exposure_warning, listen
        from mlsitter.dashboard.sessions import LOGIN_CODE_TTL
    except ImportError as exc:
        raise InputError(f"the dashboard needs the ui extra ({exc.name} is missing): pip install 'mlsitter[ui]'") from None
    from mlsitter.runtime import Store

    if token is not None and len(token) < 8:
        raise InputError("--token must be at least 8 characters long")
    warning = exposure_warning(host)
    if warning:
        click.echo(warning, err=True)
    given_token, token = token, token or new_token()
    wildcard = host in ("0.0.0.0", "::")
    names = [*allow_hosts, *([socket.gethostname()] if wildcard else [host])]
    try:
        sock = listen(host, port)
    except OSError as exc:
        raise InputError(f"cannot listen on {host}:{port}: {exc.strerror}; choose another --port or --host") from None
    bound = sock.getsockname()[1]
    store = Store()
    from mlsitter.runtime.runner import RecoveryPolicy

    app = create_app(store, token, resume_on_answer=resume_on_answer, user=user, allowed_hosts=names,
                     recover=RecoveryPolicy(max_recoveries) if recover else None)
    cfg = app.state.dashboard
    click.echo(f"mlsitter dashboard for {store.home}")
    click.echo(f"  open: {cfg.login_url(bound, cfg.sessions.new_login_code())}  "
               f"(works once, within {LOGIN_CODE_TTL:g} s)")
    click.echo(f"  later logins: {cfg.login_url(bound)} (paste the API token)")
    if warning:
        others = [n for n in names if n not in ("0.0.0.0", "::")]
        shown = ", ".join(f"http://{f'[{n}]' if ':' in n else n}:{bound}/login" for n in others)
        click.echo(f"  from other machines: {shown} (paste the API token; --allow-host NAME adds a name)")
    click.echo("  API token: " + (token if given_token is None else "the one given with --token / MLSITTER_UI_TOKEN")
               + "  (send it as Authorization: Bearer TOKEN)")
    click.echo("  answers continue runs " + ("in the background" if resume_on_answer else
                                              "only on `mlsitter resume` (--no-resume-on-answer)"))
    stop = threading.Event()
    if resume_on_answer and due_interval > 0:
        cfg.resumer.watch(due_interval, stop)
        click.echo(f"  every {due_interval:g} s it also resumes runs answered elsewhere and timers that are due"
                   + (", and runs whose runner died" if recover else ""))
    click.echo("  stop with Ctrl-C")
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    try:
        uvicorn.Server(config).run(sockets=[sock])
    finally:
        stop.set()
