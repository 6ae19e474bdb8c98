"""Start FT-then-PT's PT phase from the matching FT run's final weights instead of training the FT phase again.

FT-then-PT's FT phase is an FT run: same task, data, split, seed, lr/wd, schedule and model. When that FT run has
finished (with the same evaluation epochs, on the same device), its trained tensors, RNG streams and metrics lines
are exactly what the FT phase would produce, so the PT phase starts from them as from a checkpoint taken at the
FT phase's end. The run records the link (``reused`` in config.json and result.json).

A finished run keeps its end state (RNG streams, the names of its trained tensors, its last metrics line) in
``end_state.safetensors`` next to ``trainable.safetensors``, which holds its weights.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from safetensors.torch import load_file

from vptstudy import checkpoint, runs
from vptstudy.plan import RunPlan, plan

END_STATE = "end_state.safetensors"
_SAME = ("optimizer", "base_lr", "lr", "weight_decay", "epochs", "warmup_epochs", "batch_size", "backbone_dropout")


@dataclass(frozen=True)
class Borrowed:
    """A start at the end of phase 0: ``resume`` as a checkpoint would give it, the metrics lines, the link."""

    resume: dict[str, Any]
    metrics: bytes
    link: dict[str, Any]


def save_end_state(run: Path, state: dict[str, Any]) -> None:
    """Keep a finished run's RNG streams and bookkeeping (its weights are in ``trainable.safetensors``)."""
    checkpoint.save(Path(run) / END_STATE, {k: v for k, v in state.items() if k != "model"})


def source_plan(p: RunPlan) -> RunPlan | None:
    """The plan of the run whose end is this run's first phase (FT for FT-then-PT), or None if there is none."""
    from vptstudy.methods import get_method

    phases = get_method(p.cfg.method).phases
    if len(phases) < 2 or phases[0].borrow is None or phases[0].searched:
        return None
    first = p.phases[0]
    src = p.cfg.replace(
        method=phases[0].borrow,
        base_lr=first.base_lr,
        weight_decay=first.weight_decay,
        num_prompts=None,
        prompt_dropout=None,
        method_options=(),
        stop_epoch=None,
    )
    try:
        sp = plan(src)
    except Exception:  # the borrowed method cannot run this config: nothing to reuse
        return None
    if len(sp.phases) != 1 or any(getattr(sp.phases[0], k) != getattr(first, k) for k in _SAME):
        return None
    same = ("input_size", "head_init", "test_subsample", "data_root", "data_fingerprint", "backbone_dropout")
    if any(getattr(sp, k) != getattr(p, k) for k in same):
        return None
    return sp


def start_from(p: RunPlan, device: str, callback: Callable[[str, dict[str, Any]], None]) -> Borrowed | None:
    """The finished source run's end as this run's start, or None (no source, unfinished, or it differs)."""
    sp = source_plan(p)
    if sp is None:
        return None
    run = sp.run_dir
    result = runs.read_result(run)
    if not result or result.get("status") != "ok" or not (run / END_STATE).is_file():
        return None  # unfinished, failed, or kept no end state (--no-save-weights, or an older version)
    try:
        config = json.loads((run / runs.CONFIG).read_text())
        if config.get("resolved", {}).get("device") != device or config.get("reused"):
            return None
        if tuple(config["run"].get("rungs") or ()) != tuple(p.cfg.rungs):
            return None  # it evaluated val at other epochs: its metrics lines would differ
        end = checkpoint.load(run / END_STATE)
        weights = load_file(str(run / runs.TRAINABLE))
    except (OSError, ValueError, KeyError, checkpoint.CheckpointError) as exc:
        callback("warning", {"message": f"cannot reuse {run} ({exc}); training the first phase"})
        return None
    name = p.phases[0].name
    rows = runs.read_metrics(run)
    if len(rows) != p.phases[0].epochs or set(weights) != set(end["trained"]):
        return None
    rows = [{**r, "phase": name} for r in rows]
    phase_params = [{**pp, "phase": name} for pp in end["phase_params"]]
    resume = {
        **{k: end[k] for k in ("shuffle", "rng", "cuda_rng", "trained")},
        "model": weights,
        "phase_index": 0,
        "phase_epoch": p.phases[0].epochs,
        "epoch_global": len(rows),
        "phase_params": phase_params,
        "last_row": rows[-1],
        "elapsed": 0.0,
    }
    metrics = "".join(json.dumps(r, sort_keys=True) + "\n" for r in rows).encode()
    link = {"phase": name, "run_dir": str(run), "identity": sp.identity, "method": sp.cfg.method}
    return Borrowed(resume, metrics, link)
