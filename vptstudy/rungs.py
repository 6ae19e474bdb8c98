"""What a tuning run evaluates and where it may stop: rung epochs, the stop marker and the divergence rule.

A tuning run (split ``tune``) is judged on val only: selection reads the last epoch's val top-1 and successive
halving (:mod:`vptstudy.halving`) reads it at the rung epochs. So a tuning run evaluates val at those epochs only,
and test never; a final run keeps a val/test curve at every epoch (the overfitting analysis reads it).

Rungs are given in epochs of the study's 100-epoch schedule and scale with ``--epochs`` like the warm-ups do
(10 and 30 of 100 are 1 and 3 of 10). They apply to every phase's own epochs, so FT-then-PT's FT phase evaluates
exactly where an FT run does (its weights can then be reused, :mod:`vptstudy.reuse`). A run asked to stop at a
rung (``RunConfig.stop_epoch``, a global epoch) writes a checkpoint and ``stopped.json`` and no ``result.json``:
it stays resumable, and a later run of the same folder (a later rung, or ``--search grid``) continues it.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vptstudy.atomic import atomic_write_bytes
from vptstudy.config import RunConfig

RECIPE_EPOCHS = 100  # rungs are epochs of the study's schedule (as vptstudy.plan.RECIPE_EPOCHS)
DEFAULT_RUNGS = (10, 30)  # chosen from benchmarks/halving.py (docs/performance.md)
DEFAULT_ETA = 3
DIVERGENCE_FACTOR = 3.0  # after warm-up, a train loss above this times the phase's first-epoch loss: diverged
STOPPED = "stopped.json"


def rung_epochs(rungs: tuple[int, ...], epochs: int) -> tuple[int, ...]:
    """Rungs (epochs of a 100-epoch schedule) as epochs of an ``epochs``-epoch phase: sorted, distinct, each at
    least 1 and below ``epochs`` (the last epoch is no rung: the run is complete there)."""
    scaled = {max(1, r * epochs // RECIPE_EPOCHS) for r in rungs}
    return tuple(sorted(e for e in scaled if e < epochs))


def evaluates_val(cfg: RunConfig, phase_epoch: int, epoch_global: int, epochs: int) -> bool:
    """Whether the end of ``phase_epoch`` (1-based) evaluates val: every epoch of a final run; for a tuning run
    the rung epochs, the phase's last epoch and the epoch the run is asked to stop at."""
    if cfg.split != "tune":
        return True
    rungs = rung_epochs(cfg.rungs or DEFAULT_RUNGS, epochs)
    return phase_epoch == epochs or phase_epoch in rungs or epoch_global == cfg.stop_epoch


def evaluates_test(cfg: RunConfig) -> bool:
    """Tuning runs are judged on val: nothing reads their test accuracy, so they never evaluate test."""
    return cfg.split != "tune"


def divergence(
    cfg: RunConfig, train_loss: float, first_loss: float | None, phase_epoch: int, warmup_epochs: int
) -> str | None:
    """Why a tuning run has diverged at this epoch, or None: a non-finite loss (any run), or after warm-up a train
    loss above ``DIVERGENCE_FACTOR`` times the phase's first-epoch loss."""
    if not math.isfinite(train_loss):
        return f"non-finite training loss ({train_loss})"
    if cfg.split != "tune" or first_loss is None or phase_epoch <= max(1, warmup_epochs):
        return None
    if train_loss > DIVERGENCE_FACTOR * first_loss:
        return f"training loss {train_loss:.4g} above {DIVERGENCE_FACTOR:g} x the first epoch's {first_loss:.4g}"
    return None


def mark_stopped(run: Path, row: dict[str, Any]) -> dict[str, Any]:
    """Record that the run stopped at a rung after ``row`` (its last metrics line); the record."""
    record = {"status": "stopped", "epoch": row["epoch"], "val_acc": row.get("val_acc"), "run_dir": str(run)}
    atomic_write_bytes(Path(run) / STOPPED, (json.dumps(record, sort_keys=True) + "\n").encode())
    return record


def read_stopped(run: Path) -> dict[str, Any] | None:
    """The stop record of a run paused at a rung (None when it is not paused)."""
    try:
        record = json.loads((Path(run) / STOPPED).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def clear_stopped(run: Path) -> None:
    (Path(run) / STOPPED).unlink(missing_ok=True)
