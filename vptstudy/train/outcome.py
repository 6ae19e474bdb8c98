"""A run's result (``result.json``): one builder for a finished, a diverged and an out-of-memory run."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vptstudy import runs
from vptstudy.results import RunResult

if TYPE_CHECKING:
    from vptstudy.train.loop import Session
    from vptstudy.train.prepare import Prepared


def build(
    p: Prepared,
    status: str,
    reason: str | None,
    *,
    trained: Iterable[str] = (),
    phase_params: list[dict[str, Any]] | None = None,
    row: dict[str, Any] | None = None,
    start: float | None = None,
    final_test: tuple[float, float] | None = None,
    test_n: int | None = None,
    diverged: bool | None = None,
) -> RunResult:
    """The run's result as it stands: its last metrics ``row`` and ``final_test`` when evaluated."""
    cfg, row, trained = p.cfg, row or {}, set(trained)
    tuned = sum(t.numel() for n, t in p.model.named_parameters() if n in trained)
    total = sum(t.numel() for t in p.model.parameters())
    searched = p.plan.searched
    final = {k: row.get(k) for k in ("train_loss", "train_acc", "val_loss", "val_acc")}
    final |= {"test_loss": final_test[0] if final_test else None, "test_acc": final_test[1] if final_test else None}
    return RunResult(
        task=cfg.task,
        method=cfg.method,
        model=cfg.model,
        seed=cfg.seed,
        split=cfg.split,
        study=cfg.study,
        base_lr=searched.base_lr,
        weight_decay=searched.weight_decay,
        num_prompts=p.plan.num_prompts,
        epochs=len(p.method.phases) * cfg.epochs,
        epochs_done=row.get("epoch", 0),
        trainable_params=tuned,
        total_params=total,
        trainable_pct=100.0 * tuned / total,
        phases=phase_params or [],
        final={**final, "test_n": test_n},
        status=status,
        reason=reason,
        wall_seconds=None if start is None else time.perf_counter() - start,
        run_dir=str(p.run_dir),
        num_classes=p.data.num_classes,
        split_info=p.data.split_info,
        sizes={
            "train": len(p.data.train),
            "val": len(p.data.val) if p.data.val is not None else 0,
            "test": len(p.data.test),
        },
        train_size=cfg.train_size,
        shots=cfg.shots,
        split_seed=cfg.split_seed,
        diverged=diverged,
    )


def of_session(s: Session, status: str, reason: str | None, **kw: Any) -> RunResult:
    """:func:`build` from a training session's bookkeeping."""
    return build(s.p, status, reason, trained=s.trained, phase_params=s.phase_params, row=s.row, start=s.start, **kw)


def write(result: RunResult, run: Path, keep_checkpoint: bool = False) -> dict[str, Any]:
    """``result.json`` (atomically, last), then the checkpoint goes (an out-of-memory run keeps it); the dict."""
    data = result.to_dict()
    runs.atomic_write_json(run / runs.RESULT, data)
    if not keep_checkpoint:
        (run / runs.CHECKPOINT).unlink(missing_ok=True)
    return data
