"""The agent adapter: performs ``ctx.external("agent", ...)`` effects by running a configured command.

``MLSITTER_AGENT_COMMAND`` names the command; it reads the request as JSON on stdin and prints its
result as JSON on stdout, which must match the effect's output schema.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
from typing import Any

from mlsitter.errors import MlsitterError


class ExternalEffectError(MlsitterError):
    """An external effect (agent command) failed or returned a result that breaks its schema."""


def agent_command() -> str | None:
    """The configured agent command (``MLSITTER_AGENT_COMMAND``), or None when there is none."""
    return os.environ.get("MLSITTER_AGENT_COMMAND")


def run_agent(command: str, request: dict[str, Any], run_id: str) -> Any:
    """Perform an ``agent`` effect by running ``command`` with the request as JSON on stdin."""
    import jsonschema

    payload = json.dumps({"run_id": run_id, **request})
    timeout = float(os.environ.get("MLSITTER_AGENT_TIMEOUT", "600"))
    try:
        proc = subprocess.run(shlex.split(command), input=payload, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ExternalEffectError(f"agent command {command!r} could not run: {exc}") from None
    if proc.returncode != 0:
        raise ExternalEffectError(f"agent command {command!r} exited with {proc.returncode}: {proc.stderr.strip()[-500:]}")
    try:
        result = json.loads(proc.stdout)
    except json.JSONDecodeError as exc:
        raise ExternalEffectError(f"agent command {command!r} did not print JSON on stdout: {exc}") from None
    try:
        jsonschema.validate(result, request["schema"])
    except jsonschema.ValidationError as exc:
        raise ExternalEffectError(f"agent result does not match the output schema: {exc.message}") from None
    return result
