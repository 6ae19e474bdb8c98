"""The training loop: evaluate, one step, one epoch, one phase, over a :class:`Session` (a run in progress)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from vptstudy import rungs, runs
from vptstudy.config import RunConfig
from vptstudy.data.pipeline import DeviceImages
from vptstudy.device import autocast, eval_batch_size, use_bf16
from vptstudy.errors import RunFailed
from vptstudy.methods import Phase, count_parameters
from vptstudy.optim import phase_optimizer
from vptstudy.plan import PhasePlan
from vptstudy.train import outcome
from vptstudy.train.prepare import Callback, Prepared, quiet, test_subsample
from vptstudy.train.state import TrainState, end_state


@torch.inference_mode()
def evaluate(model: torch.nn.Module, images: DeviceImages, batch_size: int, bf16: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy in [0, 1]) over a split; one host sync at the end."""
    model.eval()
    device = images.device
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    precision = autocast(device, bf16)
    for x, y in images.batches(batch_size):
        with precision:
            logits = model(x)
        loss_sum += F.cross_entropy(logits.float(), y, reduction="sum").double()
        correct += (logits.argmax(-1) == y).sum()
    return _epoch_means(loss_sum, correct, len(images))


def _epoch_means(loss_sum: torch.Tensor, correct: torch.Tensor, n: int) -> tuple[float, float]:
    """(mean loss, accuracy) from device accumulators with a single host sync."""
    total, hits = torch.stack([loss_sum, correct.double()]).tolist()  # float64 holds any count exactly
    return total / n, int(hits) / n


def train_step(
    model: torch.nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    precision: AbstractContextManager[Any],
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward, backward and optimizer step; returns the detached (loss, logits) with no host sync."""
    with precision:
        logits = model(x)
        loss = F.cross_entropy(logits.float(), y)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach(), logits.detach()


def train_epoch(
    model: torch.nn.Module,
    step_model: torch.nn.Module,
    images: DeviceImages,
    batch_size: int,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    shuffle: torch.Generator,
    precision: AbstractContextManager[Any],
    callback: Callback = quiet,
) -> tuple[float, float]:
    """One training epoch (``step_model`` may be ``model`` compiled); (mean loss, accuracy), one host sync."""
    model.train()
    device = images.device
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for x, y in images.batches(batch_size, shuffle):
        loss, logits = train_step(step_model, x, y, optimizer, precision)
        schedule.step()
        loss_sum += loss.double() * y.shape[0]
        correct += (logits.argmax(-1) == y).sum()
        callback("step", {})
    return _epoch_means(loss_sum, correct, len(images))


def checkpoint_due(cfg: RunConfig, epoch: int, since_last_s: float) -> bool:
    """Whether the end of ``epoch`` (0-based, within its phase) writes a resumable checkpoint."""
    if not cfg.checkpoint_every:
        return False
    epochs_due = (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs
    return epochs_due and since_last_s >= 60.0 * cfg.checkpoint_minutes


@dataclass
class Session:
    """A run in progress: its prepared parts, the splits on the device, the RNG streams and the bookkeeping."""

    p: Prepared
    callback: Callback
    bf16: bool
    train: DeviceImages
    val: DeviceImages | None
    test_curve: DeviceImages | None
    sub: torch.Tensor | None
    eval_batch: int
    shuffle: torch.Generator
    prompt_gen: torch.Generator
    trained: set[str] = field(default_factory=set)
    phase_params: list[dict[str, Any]] = field(default_factory=list)
    start: float = 0.0
    last_checkpoint: float = 0.0
    epoch_global: int = 0
    row: dict[str, Any] = field(default_factory=dict)


def open_session(p: Prepared, callback: Callback, resume: TrainState | None) -> Session:
    """Put the splits the run evaluates on the device and set its streams and bookkeeping (from ``resume``)."""
    cfg, device = p.cfg, p.device
    data = p.data
    sub = test_subsample(data, p.plan)
    # Only what the run evaluates goes to the device: tuning runs no test at all, final runs the curve's subsample
    # (the whole test set is copied at the end, for the final evaluation).
    test_curve = None
    if rungs.evaluates_test(cfg):
        test_curve = DeviceImages(
            data.test if sub is None else data.test.subset(sub), data.preprocess, device, train=False
        )
    s = Session(
        p=p,
        callback=callback,
        bf16=use_bf16(cfg, device),
        train=DeviceImages(data.train, data.preprocess, device, train=True),
        val=DeviceImages(data.val, data.preprocess, device, train=False) if data.val is not None else None,
        test_curve=test_curve,
        sub=sub,
        eval_batch=eval_batch_size(max(ph.batch_size for ph in p.plan.phases)),
        shuffle=torch.Generator().manual_seed(cfg.seed),
        prompt_gen=torch.Generator().manual_seed(cfg.seed + 1),
        start=time.perf_counter() - (resume.elapsed if resume else 0.0),
        last_checkpoint=time.perf_counter(),
    )
    if resume is not None:
        s.trained, s.phase_params = set(resume.trained), list(resume.phase_params)
        s.epoch_global, s.row = resume.epoch_global, resume.last_row
    return s


def run_phase(s: Session, index: int, phase: Phase, php: PhasePlan, resume: TrainState | None) -> dict[str, Any] | None:
    """Train one phase (or skip / continue it from ``resume``); the stop record when the run pauses at its rung."""
    p, model, device = s.p, s.p.model, s.p.device
    steps_per_epoch = s.train.num_batches(php.batch_size)
    phase.prepare(model, p.cfg, s.prompt_gen)
    model.to(device)
    resuming = resume is not None and index == resume.phase_index
    if resume is not None and index < resume.phase_index:
        return None  # rebuilt for its structure; its weights come with the checkpoint
    if resuming:
        assert resume is not None
        model.load_state_dict(resume.model, strict=False)
        if resume.phase_epoch >= p.cfg.epochs:  # resumed at a phase's end: the next phase continues its streams
            resume.restore_rng(s.shuffle, device)
            return None
    else:
        s.trained |= {n for n, _ in model.trainable_parameters()}
        trainable, total = count_parameters(model)
        s.phase_params.append({"phase": phase.name, "trainable_params": trainable, "total_params": total})
    optimizer, schedule, total_steps = phase_optimizer(model, php, steps_per_epoch, device)
    first_epoch, first_loss = 0, None
    if resuming:
        assert resume is not None
        optimizer.load_state_dict(resume.optimizer)
        schedule.load_state_dict(resume.schedule)
        resume.restore_rng(s.shuffle, device)
        first_epoch, first_loss = resume.phase_epoch, resume.first_loss
    _announce(s, index, phase, total_steps, first_epoch * steps_per_epoch)
    step_model = torch.compile(model) if p.cfg.compile else model
    for epoch in range(first_epoch, p.cfg.epochs):
        train_loss = _epoch(s, phase, php, epoch, step_model, optimizer, schedule)
        first_loss = train_loss if epoch == 0 else first_loss
        _check_divergence(s, phase, php, epoch, train_loss, first_loss)
        runs.refresh_claim(p.run_dir)
        stopped = _maybe_checkpoint(s, index, epoch, optimizer, schedule, first_loss)
        if stopped is not None:
            return stopped
    return None


def _announce(s: Session, index: int, phase: Phase, total_steps: int, done_steps: int) -> None:
    s.callback(
        "phase",
        {
            "name": phase.name,
            "index": index,
            "phases": len(s.p.method.phases),
            "epochs": s.p.cfg.epochs,
            "steps": total_steps,
            "done_steps": done_steps,
            "trainable_params": s.phase_params[index]["trainable_params"],
            "total_params": s.phase_params[index]["total_params"],
        },
    )


def _epoch(
    s: Session,
    phase: Phase,
    php: PhasePlan,
    epoch: int,
    step_model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
) -> float:
    """Train one epoch, evaluate what the run evaluates, append its metrics line; returns the train loss."""
    cfg, model = s.p.cfg, s.p.model
    t0 = time.perf_counter()
    lr_now = optimizer.param_groups[0]["lr"]
    precision = autocast(s.p.device, s.bf16)
    train_loss, train_acc = train_epoch(
        model, step_model, s.train, php.batch_size, optimizer, schedule, s.shuffle, precision, s.callback
    )
    s.epoch_global += 1
    val = s.val if rungs.evaluates_val(cfg, epoch + 1, s.epoch_global, cfg.epochs) else None
    val_loss, val_acc = (None, None) if val is None else evaluate(model, val, s.eval_batch, s.bf16)
    test = s.test_curve
    test_loss, test_acc = (None, None) if test is None else evaluate(model, test, s.eval_batch, s.bf16)
    s.row = {
        "epoch": s.epoch_global,
        "phase": phase.name,
        "phase_epoch": epoch + 1,
        "lr": lr_now,
        "train_loss": train_loss,
        "train_acc": train_acc,
        "val_loss": val_loss,
        "val_acc": val_acc,
        "test_loss": test_loss,
        "test_acc": test_acc,
        "test_n": 0 if test is None else len(test),
        "seconds": time.perf_counter() - t0,
    }
    runs.append_jsonl(s.p.run_dir / runs.METRICS, s.row)
    s.callback("epoch", s.row)
    return train_loss


def _check_divergence(
    s: Session, phase: Phase, php: PhasePlan, epoch: int, train_loss: float, first_loss: float | None
) -> None:
    """A diverged run records ``status: failed`` (no checkpoint kept) and raises :class:`RunFailed`."""
    why = rungs.divergence(s.p.cfg, train_loss, first_loss, epoch + 1, php.warmup_epochs)
    if why is None:
        return
    reason = f"diverged: {why} in phase {phase.name}, epoch {epoch + 1}"
    outcome.write(outcome.of_session(s, "failed", reason, diverged=True), s.p.run_dir)
    raise RunFailed(reason, str(s.p.run_dir))


def _maybe_checkpoint(
    s: Session,
    index: int,
    epoch: int,
    optimizer: torch.optim.Optimizer,
    schedule: torch.optim.lr_scheduler.LRScheduler,
    first_loss: float | None,
) -> dict[str, Any] | None:
    """Write the checkpoint when due or at the run's rung; the stop record when the run pauses there."""
    cfg = s.p.cfg
    last = epoch + 1 == cfg.epochs and index + 1 == len(s.p.method.phases)
    stop = not last and s.epoch_global == cfg.stop_epoch
    if stop or (not last and checkpoint_due(cfg, epoch, time.perf_counter() - s.last_checkpoint)):
        s.last_checkpoint = time.perf_counter()
        TrainState(
            phase_index=index,
            phase_epoch=epoch + 1,
            epoch_global=s.epoch_global,
            **end_state(s.p.model, s.trained, s.shuffle, s.p.device),
            optimizer=optimizer.state_dict(),
            schedule=schedule.state_dict(),
            phase_params=s.phase_params,
            last_row=s.row,
            first_loss=first_loss,
            elapsed=time.perf_counter() - s.start,
        ).save(s.p.run_dir)
    if not stop:
        return None
    record = rungs.mark_stopped(s.p.run_dir, s.row)
    s.callback("stopped", record)
    return record
