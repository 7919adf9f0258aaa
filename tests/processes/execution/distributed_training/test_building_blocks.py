"""The pieces of distributed-training that need no cluster: patience on the validation loss, the address check
that turns an unreachable RAY_ADDRESS into one line, and the hidden-layer input."""

from __future__ import annotations

import socket

import pytest

from mlsitter.errors import InputError, SpecError
from mlsitter.ml.distributed import check_address, check_convergence
from mlsitter.processes.execution.distributed_training.process import parse_hidden


def test_patience_stops_once_the_validation_loss_stops_improving():
    improving = check_convergence([1.0, 0.8, 0.6, 0.5, 0.4], patience=2, min_delta=0.01)
    assert not improving.converged and improving.recent_improvement == pytest.approx((0.6 - 0.4) / 0.6)
    flat = check_convergence([1.0, 0.6, 0.5, 0.5001, 0.502], patience=2, min_delta=0.01)
    assert flat.converged and flat.best_epoch == 3 and flat.best_loss == 0.5
    assert check_convergence([1.0, 0.9], patience=2, min_delta=0.01).recent_improvement is None  # too few epochs


def test_an_unreachable_ray_address_is_one_clear_line():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed when the block ends: nothing listens there
    with pytest.raises(InputError) as caught:
        check_address(f"127.0.0.1:{port}", timeout_s=1.0)
    text = str(caught.value)
    assert "\n" not in text and f"127.0.0.1:{port}" in text and "ray start --head" in text
    with pytest.raises(InputError, match="is not HOST:PORT"):
        check_address("nowhere")


def test_hidden_layers_must_be_widths():
    assert parse_hidden("64, 32") == (64, 32)
    for bad in ("", "64,x", "0", "5000"):
        with pytest.raises(SpecError, match="hidden"):
            parse_hidden(bad)
