"""The dashboard's listening socket and the names it answers to (used by ``mlsitter ui``, tests, benchmarks)."""

from __future__ import annotations

import contextlib
import ipaddress
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any


def listen(host: str, port: int, backlog: int = 128) -> socket.socket:
    """A bound, listening TCP socket for uvicorn's ``sockets=``; raises OSError when the address is taken.

    The socket is created with ``IPPROTO_TCP``: asyncio sets TCP_NODELAY only on accepted sockets whose
    protocol says TCP, and without it every response on a kept-alive connection waits ~40 ms (Nagle's
    algorithm meeting the client's delayed ACK).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.bind((host, port))
        sock.listen(backlog)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


@contextlib.contextmanager
def running(app: Any, sock: socket.socket, *, loop: str = "auto", http: str = "auto",
            timeout: float = 20.0) -> Iterator[Any]:
    """uvicorn serving ``app`` on ``sock`` in a daemon thread for the ``with`` block (tests, benchmarks).

    Yields the ``uvicorn.Server`` once it accepts connections; stops it and closes ``sock`` on exit.
    """
    import uvicorn

    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", access_log=False, loop=loop, http=http))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the dashboard server (loop {loop}, http {http}) did not start")
            time.sleep(0.02)
        yield server
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()


def is_loopback(host: str) -> bool:
    """True for an address or name that only this machine can reach (127.0.0.0/8, ::1, localhost)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def exposure_warning(host: str) -> str | None:
    """What to tell the user when ``--host`` makes the dashboard reachable from other machines, else None."""
    if is_loopback(host):
        return None
    where = "every network interface" if host in ("0.0.0.0", "::", "") else host
    return (f"WARNING: --host {host} makes the dashboard reachable from the network ({where}), not only from "
            "this machine. Anyone who can reach it and has the access token can read every run and approve or "
            "reject them. The token is the only protection, and it travels without TLS (plain HTTP), so anyone "
            "on the network path can read it. Prefer the default 127.0.0.1 with an SSH tunnel "
            "(ssh -L 8765:127.0.0.1:8765 host).")
