"""Shared helpers of the planning-process tests: small real-data samples written as CSV files, briefs,
and the CLI runner."""

from __future__ import annotations

import json
from pathlib import Path

import yaml
from click.testing import CliRunner

import realdata


def write_sample(frame, path: Path, rows: int, sep: str = ",", seed: int = 0) -> Path:
    """A random sample of ``rows`` rows of a real dataset, as a CSV file with a header."""
    sample = frame.sample(n=min(rows, len(frame)), random_state=seed)
    sample.to_csv(path, index=False, sep=sep)
    return path


def bank_csv(tmp_path: Path, rows: int = 3000) -> Path:
    return write_sample(realdata.bank(), tmp_path / "bank.csv", rows, sep=";")


def titanic_csv(tmp_path: Path) -> Path:
    return write_sample(realdata.titanic(), tmp_path / "titanic.csv", 891)


def german_csv(tmp_path: Path) -> Path:
    return write_sample(realdata.german_credit(), tmp_path / "german.csv", 1000)


def adult_csv(tmp_path: Path, rows: int = 3000) -> Path:
    return write_sample(realdata.adult(), tmp_path / "adult.csv", rows)


def bike_csv(tmp_path: Path, rows: int = 3000) -> Path:
    return write_sample(realdata.bike_hour(), tmp_path / "bike.csv", rows)


def write_yaml(path: Path, data: dict) -> Path:
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def cli(*args: str):
    """Invoke the mlsitter CLI in-process; returns (exit code, parsed --json output or raw text)."""
    from mlsitter.cli import main

    result = CliRunner().invoke(main, list(args), catch_exceptions=False)
    try:
        return result.exit_code, json.loads(result.stdout)
    except json.JSONDecodeError:
        return result.exit_code, result.stdout + (result.stderr if result.stderr_bytes else "")


def plain(result):
    """A result as `--json` prints it: dataclasses may come wrapped as {"$t": "dataclass", "v": {...}}."""
    if isinstance(result, dict) and result.get("$t") == "dataclass":
        return result["v"]
    return result
