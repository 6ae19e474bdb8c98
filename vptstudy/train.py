"""fit(): one run from a RunConfig to a run directory. No CLI code; progress goes through a callback.

Every value comes from the run's plan (:func:`vptstudy.plan.plan`). Per phase: the method prepares the model
(prompts, trainable parameters), then the phase's epochs of SGD or AdamW at its scaled lr and batch size, its
linear warm-up then cosine decay to 0 (per step), weight decay on
weight matrices and prompts but not on biases, norms, position embeddings or CLS/register tokens. Each epoch
evaluates val and (a fixed subsample of) test and appends a line to ``metrics.jsonl``; the end evaluates the
whole test set, saves the trained tensors and writes ``result.json`` last.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import save as safetensors_save

from vptstudy import checkpoint, damaged, loggers, reuse, rungs, runs
from vptstudy.config import LAYOUT, RunConfig
from vptstudy.data import TaskData, load_task_data
from vptstudy.data.pipeline import DeviceImages
from vptstudy.device import eval_batch_size, resolve_device, use_bf16
from vptstudy.errors import RunFailed
from vptstudy.methods import Method, count_parameters, get_method
from vptstudy.models.build import build_model
from vptstudy.models.prompts import PromptedViT
from vptstudy.optim import phase_optimizer
from vptstudy.plan import RunPlan, as_plan

Callback = Callable[[str, dict[str, Any]], None]
TEST_SUBSAMPLE_SEED = 0


def _quiet(event: str, info: dict[str, Any]) -> None:
    return None


@torch.inference_mode()
def evaluate(model: torch.nn.Module, images: DeviceImages, batch_size: int, bf16: bool = False) -> tuple[float, float]:
    """(mean cross-entropy, top-1 accuracy in [0, 1]) over a split; one host sync at the end."""
    model.eval()
    device = images.device
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    for x, y in images.batches(batch_size):
        with autocast:
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
    autocast: AbstractContextManager[Any],
) -> tuple[torch.Tensor, torch.Tensor]:
    """One forward, backward and optimizer step; returns the detached (loss, logits) with no host sync."""
    with autocast:
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
    autocast: AbstractContextManager[Any],
    callback: Callback = _quiet,
) -> tuple[float, float]:
    """One training epoch (``step_model`` may be ``model`` compiled); (mean loss, accuracy), one host sync."""
    model.train()
    device = images.device
    loss_sum = torch.zeros((), device=device, dtype=torch.float64)
    correct = torch.zeros((), device=device, dtype=torch.int64)
    for x, y in images.batches(batch_size, shuffle):
        loss, logits = train_step(step_model, x, y, optimizer, autocast)
        schedule.step()
        loss_sum += loss.double() * y.shape[0]
        correct += (logits.argmax(-1) == y).sum()
        callback("step", {})
    return _epoch_means(loss_sum, correct, len(images))


@dataclass
class Prepared:
    """Everything a run needs, checked before any file is written. ``cfg`` is the plan's resolved config."""

    plan: RunPlan
    method: Method
    device: torch.device
    data: TaskData
    model: PromptedViT
    input_size: int
    run_dir: Path

    @property
    def cfg(self) -> RunConfig:
        return self.plan.resolved


def prepare(run: RunConfig | RunPlan, callback: Callback = _quiet) -> Prepared:
    """Validate the plan, load the data and build the model; raises :class:`UserError` before any write."""
    p = as_plan(run)
    cfg = p.resolved
    method = get_method(cfg.method)
    device = resolve_device(cfg.device)
    data = load_task_data(cfg, p.input_size, lambda done, total: callback("load", {"done": done, "total": total}))
    model = build_model(p, data.num_classes)
    method.check(model, cfg)
    return Prepared(p, method, device, data, model.to(device), p.input_size, p.run_dir)


def _test_subsample(data: TaskData, p: RunPlan) -> torch.Tensor | None:
    n = len(data.test)
    if p.test_subsample is None or p.test_subsample >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(TEST_SUBSAMPLE_SEED))[: p.test_subsample]


def _write_config(p: Prepared, borrowed: reuse.Borrowed | None = None) -> None:
    resolved = {
        "input_size": p.input_size,
        "num_classes": p.data.num_classes,
        "device": str(p.device),
        "bf16": use_bf16(p.cfg, p.device),
        "phases": [dataclasses.asdict(ph) for ph in p.plan.phases],
        "split": p.data.split_info,
        "preprocess": vars(p.data.preprocess),
        "versions": {"torch": torch.__version__},
    }
    runs.atomic_write_json(
        p.run_dir / runs.CONFIG,
        {
            "layout": LAYOUT,
            "run": p.plan.cfg.replace(stop_epoch=None).to_dict(),
            "plan": p.plan.summary(),
            "resolved": resolved,
            **({"reused": borrowed.link} if borrowed else {}),
        },
    )


def fit(run: RunConfig | RunPlan, callback: Callback = _quiet) -> dict[str, Any]:
    """Train one run and return its result (also written to ``result.json``).

    A complete run is not trained again (its stored result is returned); a partial one resumes from its last
    checkpoint (see :func:`checkpoint_due`); a run another live worker has claimed returns ``{"status": "busy"}``.
    Raises :class:`UserError` for bad input (nothing written) and :class:`RunFailed` when training diverges
    (``result.json`` then records ``status: failed`` and the reason).
    """
    planned = as_plan(run)
    # a stat: a finished run loads no data and builds no model (a damaged one is rerun)
    if runs.is_complete(planned.run_dir) and not runs.damage(planned.run_dir):
        with contextlib.suppress(OSError):  # a finished run in a read-only archive is read, never changed
            runs.clear_stale_claim(planned.run_dir)  # a worker killed after result.json left its lock and checkpoint
            (planned.run_dir / runs.CHECKPOINT).unlink(missing_ok=True)
        result = runs.read_result(planned.run_dir) or {}
        callback("skip", {"run_dir": str(planned.run_dir), "result": result})
        return result
    stopped = rungs.read_stopped(planned.run_dir) if planned.cfg.stop_epoch else None
    if stopped and stopped.get("epoch", 0) >= planned.cfg.stop_epoch and (planned.run_dir / runs.CHECKPOINT).is_file():
        return stopped  # paused at this rung (or a later one) already
    p = prepare(planned, callback)
    cfg = p.cfg
    if not runs.claim(p.run_dir):
        callback("busy", {"run_dir": str(p.run_dir)})
        return {"status": "busy", "run_dir": str(p.run_dir)}
    try:
        if runs.is_complete(p.run_dir) and not runs.damage(p.run_dir):  # another worker finished it meanwhile
            return runs.read_result(p.run_dir) or {}
        _set_aside_damage(p.run_dir, callback)
        resume = _read_checkpoint(p.run_dir, callback)
        if resume is not None and cfg.stop_epoch is not None and resume["epoch_global"] >= cfg.stop_epoch:
            # already past this rung (a later rung or a grid run trained on): nothing to train or write here
            return rungs.read_stopped(p.run_dir) or {"status": "stopped", "epoch": resume["epoch_global"]}
        rungs.clear_stopped(p.run_dir)
        borrowed = None
        if resume is None:
            for leftover in p.run_dir.iterdir():
                if leftover.name not in {runs.LOCK, checkpoint.REJECTED}:
                    shutil.rmtree(leftover) if leftover.is_dir() else leftover.unlink()
            borrowed = reuse.start_from(p.plan, str(p.device), callback)
            _write_config(p, borrowed)
            if borrowed is not None:
                resume = borrowed.resume
                runs.atomic_write_bytes(p.run_dir / runs.METRICS, borrowed.metrics)
                callback("reuse", {"run_dir": str(p.run_dir), "from": borrowed.link["run_dir"]})
        else:
            runs.truncate_metrics(p.run_dir, resume["epoch_global"])
            callback("resume", {"run_dir": str(p.run_dir), "epoch": resume["epoch_global"]})
        runs.append_jsonl(
            p.run_dir / runs.ATTEMPTS,
            {
                "event": "start" if resume is None else "resume",
                "epoch": resume["epoch_global"] if resume else 0,
                **runs.owner(),
            },
        )
        tracking = loggers.track(cfg.logger, p.run_dir, cfg.study, callback, resume["epoch_global"] if resume else 0)
        try:
            return _train(p, tracking or callback, resume)
        except torch.OutOfMemoryError as exc:
            reason = f"out of memory: {str(exc).splitlines()[0]}"
            failed = {
                "task": cfg.task,
                "method": cfg.method,
                "model": cfg.model,
                "seed": cfg.seed,
                "split": cfg.split,
                "status": "failed",
                "reason": reason,
                "run_dir": str(p.run_dir),
            }
            runs.atomic_write_json(p.run_dir / runs.RESULT, failed)
            raise RunFailed(reason, str(p.run_dir)) from exc
        finally:
            if tracking is not None:
                tracking.close()
    finally:
        runs.release(p.run_dir)


def _set_aside_damage(run: Path, callback: Callback) -> None:
    """Under our claim: move damaged run files (and the result and checkpoint that go with them) to
    ``<run>/rejected/``, so the run trains again from scratch; one warning names what was wrong."""
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


def checkpoint_due(cfg: RunConfig, epoch: int, since_last_s: float) -> bool:
    """Whether the end of ``epoch`` (0-based, within its phase) writes a resumable checkpoint."""
    if not cfg.checkpoint_every:
        return False
    epochs_due = (epoch + 1) % cfg.checkpoint_every == 0 or epoch + 1 == cfg.epochs
    return epochs_due and since_last_s >= 60.0 * cfg.checkpoint_minutes


def _read_checkpoint(run: Path, callback: Callback = _quiet) -> dict[str, Any] | None:
    """The run's checkpoint, or None to start from scratch. Nothing is unpickled: a legacy ``checkpoint.pt`` or a
    file that does not load is moved to ``<run>/rejected/`` with one warning."""
    for path in (run / checkpoint.LEGACY, run / runs.CHECKPOINT):
        if not path.is_file():
            continue
        try:
            if path.name == checkpoint.LEGACY:
                raise checkpoint.CheckpointError("a pickled checkpoint, which is never loaded")
            if not (run / runs.CONFIG).is_file():
                raise checkpoint.CheckpointError("config.json is missing")
            return checkpoint.load(path)
        except checkpoint.CheckpointError as exc:
            moved = checkpoint.move_aside(path)
            callback(
                "warning",
                {"message": f"checkpoint {path} cannot be loaded ({exc}); moved to {moved}; training from scratch"},
            )
    return None


def _write_checkpoint(run: Path, state: dict[str, Any]) -> None:
    checkpoint.save(run / runs.CHECKPOINT, state)


def train_prepared(p: Prepared, callback: Callback = _quiet) -> dict[str, Any]:
    """Train a prepared run from scratch into ``p.run_dir``: fit()'s own loop without its claim or config.json."""
    p.run_dir.mkdir(parents=True, exist_ok=True)
    return _train(p, callback)


def _train(p: Prepared, callback: Callback, resume: dict[str, Any] | None = None) -> dict[str, Any]:
    cfg, model, device = p.cfg, p.model, p.device
    bf16 = use_bf16(cfg, device)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()
    train = DeviceImages(p.data.train, p.data.preprocess, device, train=True)
    val = DeviceImages(p.data.val, p.data.preprocess, device, train=False) if p.data.val is not None else None
    sub = _test_subsample(p.data, p.plan)
    # Only what the run evaluates goes to the device: tuning runs no test at all, final runs the curve's subsample
    # (the whole test set is copied at the end, for the final evaluation).
    test_curve = None
    if rungs.evaluates_test(cfg):
        test_curve = DeviceImages(
            p.data.test if sub is None else p.data.test.subset(sub), p.data.preprocess, device, train=False
        )
    shuffle = torch.Generator().manual_seed(cfg.seed)
    prompt_gen = torch.Generator().manual_seed(cfg.seed + 1)
    trained: set[str] = set(resume["trained"]) if resume else set()
    phase_params: list[dict[str, Any]] = list(resume["phase_params"]) if resume else []
    start = time.perf_counter() - (resume["elapsed"] if resume else 0.0)
    last_checkpoint = time.perf_counter()
    epoch_global = resume["epoch_global"] if resume else 0
    row: dict[str, Any] = resume["last_row"] if resume else {}
    eval_batch = eval_batch_size(max(ph.batch_size for ph in p.plan.phases))
    resume_phase = resume["phase_index"] if resume else -1
    for phase_index, (phase, php) in enumerate(zip(p.method.phases, p.plan.phases, strict=True)):
        steps_per_epoch = train.num_batches(php.batch_size)
        phase.prepare(model, cfg, prompt_gen)
        model.to(device)
        first_epoch = 0
        if phase_index < resume_phase:
            continue  # rebuilt for its structure; its weights come with the checkpoint
        if phase_index == resume_phase:
            assert resume is not None
            model.load_state_dict(resume["model"], strict=False)
            first_epoch = resume["phase_epoch"]
            if first_epoch >= cfg.epochs:  # resumed at a phase's end: the next phase continues its RNG streams
                shuffle.set_state(resume["shuffle"])
                torch.set_rng_state(resume["rng"])
                if device.type == "cuda" and resume.get("cuda_rng") is not None:
                    torch.cuda.set_rng_state(resume["cuda_rng"], device)
                continue
        else:
            trained |= {n for n, _ in model.trainable_parameters()}
            trainable, total = count_parameters(model)
            phase_params.append({"phase": phase.name, "trainable_params": trainable, "total_params": total})
        optimizer, schedule, total_steps = phase_optimizer(model, php, steps_per_epoch, device)
        if phase_index == resume_phase:
            assert resume is not None
            optimizer.load_state_dict(resume["optimizer"])
            schedule.load_state_dict(resume["schedule"])
            shuffle.set_state(resume["shuffle"])
            torch.set_rng_state(resume["rng"])
            if device.type == "cuda" and resume.get("cuda_rng") is not None:
                torch.cuda.set_rng_state(resume["cuda_rng"], device)
        step_model = torch.compile(model) if cfg.compile else model
        callback(
            "phase",
            {
                "name": phase.name,
                "index": phase_index,
                "phases": len(p.method.phases),
                "epochs": cfg.epochs,
                "steps": total_steps,
                "done_steps": first_epoch * steps_per_epoch,
                "trainable_params": phase_params[phase_index]["trainable_params"],
                "total_params": phase_params[phase_index]["total_params"],
            },
        )
        first_loss = resume.get("first_loss") if resume and phase_index == resume_phase else None
        for epoch in range(first_epoch, cfg.epochs):
            t0 = time.perf_counter()
            lr_now = optimizer.param_groups[0]["lr"]
            train_loss, train_acc = train_epoch(
                model, step_model, train, php.batch_size, optimizer, schedule, shuffle, autocast, callback
            )
            first_loss = train_loss if epoch == 0 else first_loss
            epoch_global += 1
            eval_val = val is not None and rungs.evaluates_val(cfg, epoch + 1, epoch_global, cfg.epochs)
            val_loss, val_acc = evaluate(model, val, eval_batch, bf16) if eval_val else (None, None)
            test_loss, test_acc = (None, None) if test_curve is None else evaluate(model, test_curve, eval_batch, bf16)
            row = {
                "epoch": epoch_global,
                "phase": phase.name,
                "phase_epoch": epoch + 1,
                "lr": lr_now,
                "train_loss": train_loss,
                "train_acc": train_acc,
                "val_loss": val_loss,
                "val_acc": val_acc,
                "test_loss": test_loss,
                "test_acc": test_acc,
                "test_n": 0 if test_curve is None else len(test_curve),
                "seconds": time.perf_counter() - t0,
            }
            runs.append_jsonl(p.run_dir / runs.METRICS, row)
            callback("epoch", row)
            why = rungs.divergence(cfg, train_loss, first_loss, epoch + 1, php.warmup_epochs)
            if why is not None:
                reason = f"diverged: {why} in phase {phase.name}, epoch {epoch + 1}"
                result = _result(p, phase_params, trained, row, None, start, "failed", reason)
                result["diverged"] = True
                runs.atomic_write_json(p.run_dir / runs.RESULT, result)
                (p.run_dir / runs.CHECKPOINT).unlink(missing_ok=True)
                raise RunFailed(reason, str(p.run_dir))
            runs.refresh_claim(p.run_dir)
            last = epoch + 1 == cfg.epochs and phase_index + 1 == len(p.method.phases)
            stop = not last and epoch_global == cfg.stop_epoch
            if stop or (not last and checkpoint_due(cfg, epoch, time.perf_counter() - last_checkpoint)):
                last_checkpoint = time.perf_counter()
                _write_checkpoint(
                    p.run_dir,
                    {
                        "phase_index": phase_index,
                        "phase_epoch": epoch + 1,
                        "epoch_global": epoch_global,
                        **_end_state(model, trained, shuffle, device),
                        "optimizer": optimizer.state_dict(),
                        "schedule": schedule.state_dict(),
                        "phase_params": phase_params,
                        "last_row": row,
                        "first_loss": first_loss,
                        "elapsed": time.perf_counter() - start,
                    },
                )
            if stop:
                record = rungs.mark_stopped(p.run_dir, row)
                callback("stopped", record)
                return record
    # Final runs report the whole test set; tuning runs are judged on val and evaluate no test.
    full_test = sub is not None and rungs.evaluates_test(cfg)
    if full_test:
        del test_curve  # the whole test set replaces the subsample on the device
        test_full = DeviceImages(p.data.test, p.data.preprocess, device, train=False)
        final_test = evaluate(model, test_full, eval_batch, bf16)
    else:
        final_test = (row["test_loss"], row["test_acc"])
    if cfg.save_weights:
        state = {n: t.detach().float().cpu().contiguous() for n, t in model.state_dict().items() if n in trained}
        runs.atomic_write_bytes(p.run_dir / runs.TRAINABLE, safetensors_save(state, metadata={"format": "pt"}))
        # what a later run needs to continue from these weights bit for bit (FT-then-PT's PT phase, vptstudy.reuse)
        reuse.save_end_state(
            p.run_dir, {**_end_state(model, trained, shuffle, device), "phase_params": phase_params, "last_row": row}
        )
    test_n = 0 if not rungs.evaluates_test(cfg) else len(p.data.test) if full_test or sub is None else len(sub)
    result = _result(p, phase_params, trained, row, final_test, start, "ok", None, test_n)
    if borrowed_link := _reused_link(p.run_dir):
        result["reused"] = borrowed_link
    runs.atomic_write_json(p.run_dir / runs.RESULT, result)
    (p.run_dir / runs.CHECKPOINT).unlink(missing_ok=True)
    callback("done", result)
    return result


def _end_state(
    model: torch.nn.Module, trained: set[str], shuffle: torch.Generator, device: torch.device
) -> dict[str, Any]:
    """The trained tensors and the RNG streams: with them a run continues bit for bit."""
    return {
        "model": {n: t for n, t in model.state_dict().items() if n in trained},
        "shuffle": shuffle.get_state(),
        "rng": torch.get_rng_state(),
        "cuda_rng": torch.cuda.get_rng_state(device) if device.type == "cuda" else None,
        "trained": sorted(trained),
    }


def _reused_link(run: Path) -> dict[str, Any] | None:
    """The reuse record config.json holds (a run that started from another run's weights), else None."""
    try:
        return json.loads((run / runs.CONFIG).read_text()).get("reused")
    except (OSError, ValueError):
        return None


def _result(
    p: Prepared,
    phase_params: list[dict[str, Any]],
    trained: set[str],
    row: dict[str, Any],
    final_test: tuple[float, float] | None,
    start: float,
    status: str,
    reason: str | None,
    test_n: int | None = None,
) -> dict[str, Any]:
    cfg = p.cfg
    tuned = sum(t.numel() for n, t in p.model.named_parameters() if n in trained)
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
    return {
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
        "phases": phase_params,
        "final": final,
        "status": status,
        "reason": reason,
        "wall_seconds": time.perf_counter() - start,
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
