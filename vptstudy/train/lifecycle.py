"""fit(): one run from its plan to its run directory. Finished, paused or busy is decided from the run directory
before any data is loaded or model built; then the run is claimed, started (or resumed) and trained.

Every value comes from the run's plan (:func:`vptstudy.plan.plan`). Per phase: the method prepares the model
(prompts, trainable parameters), then the phase's epochs of SGD or AdamW at its scaled lr and batch size, its
linear warm-up then cosine decay to 0 (per step), weight decay on weight matrices and prompts but not on biases,
norms, position embeddings or CLS/register tokens. Each epoch evaluates val and (a fixed subsample of) test and
appends a line to ``metrics.jsonl``; the end evaluates the whole test set, saves the trained tensors and writes
``result.json`` last.
"""

from __future__ import annotations

import contextlib
import shutil
from typing import Any

import torch

from vptstudy import checkpoint, damaged, loggers, reuse, rungs, runs
from vptstudy.config import RunConfig
from vptstudy.errors import RunFailed
from vptstudy.plan import RunPlan, as_plan
from vptstudy.train import outcome, state
from vptstudy.train.finish import finish
from vptstudy.train.loop import open_session, run_phase
from vptstudy.train.prepare import Callback, Prepared, prepare, quiet, write_config
from vptstudy.train.state import TrainState


def fit(run: RunConfig | RunPlan, callback: Callback = quiet) -> dict[str, Any]:
    """Train one run and return its result (also written to ``result.json``).

    A complete run is not trained again (its stored result is returned); a partial one resumes from its last
    checkpoint (see :func:`checkpoint_due`); a run another live worker has claimed returns ``{"status": "busy"}``.
    Raises :class:`UserError` for bad input (nothing written) and :class:`RunFailed` when training diverges
    (``result.json`` then records ``status: failed`` and the reason).
    """
    planned = as_plan(run)
    done = _already_done(planned, callback)
    if done is not None:
        return done
    p = prepare(planned, callback)
    if not runs.claim(p.run_dir):
        callback("busy", {"run_dir": str(p.run_dir)})
        return {"status": "busy", "run_dir": str(p.run_dir)}
    try:
        return _fit_claimed(p, callback)
    finally:
        runs.release(p.run_dir)


def _finished(run_dir: Any) -> bool:
    """A stat: ``result.json`` is there and ``runs.damage`` finds nothing wrong (a damaged run is rerun)."""
    return runs.is_complete(run_dir) and not runs.damage(run_dir)


def _already_done(planned: RunPlan, callback: Callback) -> dict[str, Any] | None:
    """The stored result of a finished run, or the stop record of a run paused at (or past) this rung; else None."""
    run_dir = planned.run_dir
    if _finished(run_dir):
        with contextlib.suppress(OSError):  # a finished run in a read-only archive is read, never changed
            runs.clear_stale_claim(run_dir)  # a worker killed after result.json left its lock and checkpoint
            (run_dir / runs.CHECKPOINT).unlink(missing_ok=True)
        result = runs.read_result(run_dir) or {}
        callback("skip", {"run_dir": str(run_dir), "result": result})
        return result
    stop_epoch = planned.cfg.stop_epoch
    stopped = rungs.read_stopped(run_dir) if stop_epoch else None
    if stopped and stopped.get("epoch", 0) >= stop_epoch and (run_dir / runs.CHECKPOINT).is_file():
        return stopped  # paused at this rung (or a later one) already
    return None


def _fit_claimed(p: Prepared, callback: Callback) -> dict[str, Any]:
    """Under our claim: start or resume the run and train it, recording an out-of-memory as a failed run."""
    cfg = p.cfg
    if _finished(p.run_dir):  # another worker finished it meanwhile
        return runs.read_result(p.run_dir) or {}
    _set_aside_damage(p, callback)
    resume = state.read(p.run_dir, callback)
    if resume is not None and cfg.stop_epoch is not None and resume.epoch_global >= cfg.stop_epoch:
        # already past this rung (a later rung or a grid run trained on): nothing to train or write here
        return rungs.read_stopped(p.run_dir) or {"status": "stopped", "epoch": resume.epoch_global}
    rungs.clear_stopped(p.run_dir)
    resume = _start(p, callback) if resume is None else _resume(p, resume, callback)
    epoch = resume.epoch_global if resume else 0
    runs.append_jsonl(
        p.run_dir / runs.ATTEMPTS, {"event": "start" if resume is None else "resume", "epoch": epoch, **runs.owner()}
    )
    tracking = loggers.track(cfg.logger, p.run_dir, cfg.study, callback, epoch)
    try:
        return train_run(p, tracking or callback, resume)
    except torch.OutOfMemoryError as exc:
        reason = f"out of memory: {str(exc).splitlines()[0]}"
        outcome.write(outcome.build(p, "failed", reason), p.run_dir, keep_checkpoint=True)
        raise RunFailed(reason, str(p.run_dir)) from exc
    finally:
        if tracking is not None:
            tracking.close()


def _start(p: Prepared, callback: Callback) -> TrainState | None:
    """A fresh start: clear leftovers, write ``config.json``; the borrowed start of a reused run, else None."""
    for leftover in p.run_dir.iterdir():
        if leftover.name not in {runs.LOCK, checkpoint.REJECTED}:
            shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
    borrowed = reuse.start_from(p.plan, str(p.device), callback)
    write_config(p, borrowed)
    if borrowed is None:
        return None
    runs.atomic_write_bytes(p.run_dir / runs.METRICS, borrowed.metrics)
    callback("reuse", {"run_dir": str(p.run_dir), "from": borrowed.link["run_dir"]})
    return TrainState.from_dict(borrowed.resume)


def _resume(p: Prepared, resume: TrainState, callback: Callback) -> TrainState:
    runs.truncate_metrics(p.run_dir, resume.epoch_global)
    callback("resume", {"run_dir": str(p.run_dir), "epoch": resume.epoch_global})
    return resume


def _set_aside_damage(p: Prepared, callback: Callback) -> None:
    """Under our claim: move damaged run files (and the result and checkpoint that go with them) to
    ``<run>/rejected/``, so the run trains again from scratch; one warning names what was wrong."""
    run = p.run_dir
    found = runs.damage(run)
    if not found:
        return
    moved = damaged.set_aside([e.path for e in found] + [run / runs.RESULT, run / runs.CHECKPOINT])
    callback(
        "warning",
        {
            "message": "; ".join(e.listing for e in found)
            + f"; moved {len(moved)} file(s) to {run / damaged.REJECTED}; training again"
        },
    )


def train_prepared(p: Prepared, callback: Callback = quiet) -> dict[str, Any]:
    """Train a prepared run from scratch into ``p.run_dir``: fit()'s own loop without its claim or config.json."""
    p.run_dir.mkdir(parents=True, exist_ok=True)
    return train_run(p, callback)


def train_run(p: Prepared, callback: Callback, resume: TrainState | None = None) -> dict[str, Any]:
    """Every phase (from ``resume`` if given), then the run's end; the stop record if it pauses at its rung."""
    resume = resume.named_for(p.model) if resume is not None else None
    s = open_session(p, callback, resume)
    for index, (phase, php) in enumerate(zip(p.method.phases, p.plan.phases, strict=True)):
        stopped = run_phase(s, index, phase, php, resume)
        if stopped is not None:
            return stopped
    return finish(s)
