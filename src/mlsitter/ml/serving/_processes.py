"""Servers as their own OS processes: started in a new session (so they outlive the run that started
them, and their whole group can be stopped), recorded with pid and process start time (so a reused pid
is never mistaken for them), waited on until ready, and stopped gracefully."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from mlsitter.errors import InputError, MlsitterError
from mlsitter.naming import stable_name


class PortInUseError(InputError):
    """The port a server should listen on is taken."""


class ServerStartError(MlsitterError):
    """A server process exited or never became ready; the message carries the end of its log."""


@stable_name("ml.serving.ServerRecord")
@dataclass(frozen=True)
class ServerRecord:
    """A started server: enough to find it again after the starter died, and to stop it."""

    role: str  # champion | candidate | router
    pid: int
    started: float  # the process start time the OS reports (pid reuse check)
    host: str
    port: int
    model: str = ""
    version: int = 0
    log: str = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def label(self) -> str:
        return f"{self.model}/{self.version}" if self.model else self.role

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def check_port_free(host: str, port: int) -> None:
    """Raise PortInUseError when nothing can listen on ``host:port``."""
    if not 0 <= int(port) <= 65535:
        raise InputError(f"port {port} is out of range; expected 0-65535")
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind((host, int(port)))
        except OSError as exc:
            raise PortInUseError(f"port {port} on {host} is in use ({exc.strerror}); choose another port or stop "
                                 "what listens there") from None


def free_port(host: str = "127.0.0.1") -> int:
    """A port the OS reports free now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((host, 0))
        return int(probe.getsockname()[1])


def process_start_time(pid: int) -> float:
    """The start time of process ``pid`` in clock ticks since boot (Linux ``/proc``); 0.0 when unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    return float(stat.rsplit(")", 1)[1].split()[19])


def is_alive(record: ServerRecord) -> bool:
    """Whether the recorded process still runs (the same process: its start time matches)."""
    try:
        os.kill(record.pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    state = Path(f"/proc/{record.pid}/stat")
    if state.exists() and state.read_text().rsplit(")", 1)[1].split()[0] == "Z":
        return False
    return not record.started or process_start_time(record.pid) == record.started


def _tail(path: str, lines: int = 15) -> str:
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace").strip().splitlines()
    except OSError:
        return ""
    return "\n".join(text[-lines:])


def start_process(args: list[str], *, role: str, host: str, port: int, log: str | Path, model: str = "",
                  version: int = 0, ready_path: str = "/ready", timeout: float = 180.0) -> ServerRecord:
    """Start ``python -m mlsitter.ml.serving ARGS`` in its own session and wait until ``ready_path`` answers 200.

    A process that exits first, or is not ready in ``timeout`` seconds, raises ServerStartError with the
    end of its log; it is stopped whatever interrupts the wait."""
    check_port_free(host, port)
    Path(log).parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "mlsitter.ml.serving", *args], stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    record = ServerRecord(role, proc.pid, process_start_time(proc.pid), host, port, model, version, str(log))
    try:
        _wait_until_ready(proc, record, ready_path, timeout)
    except BaseException:  # not ready, or interrupted (Ctrl-C, a test's timeout): nobody else knows its pid yet
        stop_process(record)
        raise
    return record


def _wait_until_ready(proc: subprocess.Popen[bytes], record: ServerRecord, ready_path: str, timeout: float) -> None:
    """Poll ``ready_path`` until it answers 200; ServerStartError with the log's end if the process exits first
    or ``timeout`` s pass."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        code = proc.poll()
        if code is not None:
            raise ServerStartError(f"the {record.role} server ({record.label}) exited with code {code} before it "
                                   f"was ready; its log {record.log} ends with:\n{_tail(record.log)}")
        try:
            if httpx.get(record.url + ready_path, timeout=2.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise ServerStartError(f"the {record.role} server ({record.label}) was not ready on {record.url} "
                                   f"within {timeout:.0f} s; its log {record.log} ends with:\n{_tail(record.log)}")
        time.sleep(0.2)


def stop_process(record: ServerRecord, timeout: float = 15.0) -> bool:
    """Stop the recorded server's process group: SIGTERM (in-flight requests finish), SIGKILL after
    ``timeout`` s. False when it was already gone."""
    if not is_alive(record):
        return False
    try:
        os.killpg(record.pid, signal.SIGTERM)
    except ProcessLookupError:
        return False
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            done, _ = os.waitpid(record.pid, os.WNOHANG)  # our own child: reap it
        except ChildProcessError:
            done = 0
        if done or not is_alive(record):
            return True
        time.sleep(0.05)
    try:
        os.killpg(record.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    return True


def run_uvicorn(app: Any, host: str, port: int) -> None:
    """Serve ``app`` with uvicorn on ``host:port`` (quiet access log; graceful shutdown on SIGTERM)."""
    import uvicorn

    uvicorn.run(app, host=host, port=int(port), log_level="warning", access_log=False, timeout_graceful_shutdown=10)
