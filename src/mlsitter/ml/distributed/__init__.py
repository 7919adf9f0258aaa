"""Distributed training: a tabular MLP in torch trained data-parallel on Ray Train (gloo), with a checkpoint
per epoch, recovery from worker failures, patience on the validation loss and a measured epoch probe.

The modules are private; their public names are re-exported here (listed in ``__init__.pyi``) and imported on
first use, so ``import mlsitter.ml.distributed`` imports neither torch nor ray."""

import lazy_loader as _lazy

__getattr__, __dir__, __all__ = _lazy.attach_stub(__name__, __file__)
