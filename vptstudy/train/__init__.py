"""Training one run: :func:`fit` (lifecycle), the loop, the checkpointed :class:`TrainState`, the result.

- ``prepare``: the run made ready (plan, data, model) and its ``config.json``;
- ``lifecycle``: fit decides finished / paused / busy before loading anything, then claims, starts or resumes;
- ``state``: :class:`TrainState`, the checkpoint's content, saved and read in one place;
- ``loop``: evaluate, step, epoch, phase;
- ``finish`` and ``outcome``: the run's end and its ``result.json``.
"""

from vptstudy.train.lifecycle import fit, train_prepared
from vptstudy.train.loop import checkpoint_due, evaluate, train_epoch, train_step
from vptstudy.train.prepare import Prepared

__all__ = ["Prepared", "checkpoint_due", "evaluate", "fit", "train_epoch", "train_prepared", "train_step"]
