"""A run's result (``result.json``): built from its session, written last, the checkpoint then removed."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vptstudy import runs

if TYPE_CHECKING:
    from vptstudy.train.loop import Session


def build(
    s: Session,
    final_test: tuple[float, float] | None,
    status: str,
    reason: str | None,
    test_n: int | None = None,
    diverged: bool = False,
) -> dict[str, Any]:
    """The result of the session's run as it stands (its last metrics row, and ``final_test`` if evaluated)."""
    p, row = s.p, s.row
    cfg = p.cfg
    tuned = sum(t.numel() for n, t in p.model.named_parameters() if n in s.trained)
    total = sum(t.numel() for t in p.model.parameters())
    searched = p.plan.searched
    final = {
        "train_loss": row.get("train_loss"),
        "train_acc": row.get("train_acc"),
        "val_loss": row.get("val_loss"),
        "val_acc": row.get("val_acc"),
        "test_loss": final_test[0] if final_test else None,
        "test_acc": final_test[1] if final_test else None,
        "test_n": test_n,
    }
    result = {
        "task": cfg.task,
        "method": cfg.method,
        "model": cfg.model,
        "seed": cfg.seed,
        "split": cfg.split,
        "study": cfg.study,
        "base_lr": searched.base_lr,
        "weight_decay": searched.weight_decay,
        "num_prompts": p.plan.num_prompts,
        "epochs": len(p.method.phases) * cfg.epochs,
        "epochs_done": row.get("epoch", 0),
        "trainable_params": tuned,
        "total_params": total,
        "trainable_pct": 100.0 * tuned / total,
        "phases": s.phase_params,
        "final": final,
        "status": status,
        "reason": reason,
        "wall_seconds": time.perf_counter() - s.start,
        "run_dir": str(p.run_dir),
        "num_classes": p.data.num_classes,
        "split_info": p.data.split_info,
        "sizes": {
            "train": len(p.data.train),
            "val": len(p.data.val) if p.data.val is not None else 0,
            "test": len(p.data.test),
        },
        "train_size": cfg.train_size,
        "shots": cfg.shots,
        "split_seed": cfg.split_seed,
    }
    return {**result, "diverged": True} if diverged else result


def write(result: dict[str, Any], run: Path) -> None:
    """``result.json`` (atomically, last), then the checkpoint goes: the run is over."""
    runs.atomic_write_json(run / runs.RESULT, result)
    (run / runs.CHECKPOINT).unlink(missing_ok=True)
