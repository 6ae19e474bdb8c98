"""Training speed: bare compute on resident tensors against a real epoch through fit()'s own code.

For each method, :func:`bench` measures

- the *bare* forward + backward + optimizer step (:func:`vptstudy.train.train_step`) on a resident, already
  normalised batch, and the bare evaluation forward, at every batch size an epoch uses (warm-up excluded; the
  methods are timed in interleaved rounds so a busy machine disturbs their ratio less; medians are kept);
- *real* epochs through :func:`vptstudy.train.train_prepared`, the loop fit() runs (data pipeline, schedule,
  per-epoch val and test-subsample evaluation, metrics line and checkpoint), timed between consecutive epoch
  events; the first epoch is warm-up and is not counted.

The overhead ratio is the real epoch time over the bare time of the same work: as many training images through
forward + backward + step and as many evaluation images through the forward. Nothing here prints.
"""

from __future__ import annotations

import os
import re
import resource
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.types import ImageSet, Preprocess, TaskData
from vptstudy.device import eval_batch_size, resolve_device, use_bf16
from vptstudy.errors import UserError
from vptstudy.methods import get_method
from vptstudy.models.backbones import default_input_size
from vptstudy.models.build import build_model
from vptstudy.models.tunable import TunableBackbone
from vptstudy.optim import phase_optimizer
from vptstudy.plan import RunPlan, as_plan, plan
from vptstudy.train import Prepared, train_prepared, train_step

SYNTHETIC_TASK = "bench/synthetic"
# Dense bf16 tensor-core peaks (FLOP/s) by device-name pattern, first match wins; unknown devices get no MFU.
BF16_PEAK_FLOPS: tuple[tuple[str, float], ...] = (
    (r"H100.*PCIe", 756e12),
    (r"H100.*NVL", 835e12),
    (r"H100|H200", 989e12),
    (r"A100", 312e12),
    (r"L40S", 362e12),
    (r"\bL4\b", 121e12),
)
Callback = Callable[[str, dict[str, Any]], None]
Clock = Callable[[], float]
# wall: elapsed time. cpu: this process's CPU time, which other processes on a shared CPU machine barely disturb
# (comparable between runs with --threads 1; meaningless on CUDA, where the work is not on the CPU).
CLOCKS: dict[str, Clock] = {"wall": time.perf_counter, "cpu": time.process_time}


def _quiet(event: str, info: dict[str, Any]) -> None:
    return None


@dataclass(frozen=True)
class BenchConfig:
    """What to measure. ``task`` None uses a synthetic VTAB-style task (fixed resize, cached uint8 splits).

    ``lr`` is a small base learning rate for every method: on random labels a method's default rate (SGD at 1.0 for
    VPT) makes the loss diverge within a few epochs, and a run on exploding values is not the one to time.
    """

    model: str = "toy-vit"
    methods: tuple[str, ...] = ("ft", "vpt-deep")
    batch_size: int = 128
    img_size: int | None = None
    num_prompts: int = 10
    lr: float | None = 1e-3
    pretrained: bool = False
    weights: str | None = None
    task: str | None = None
    train_n: int = 800
    val_n: int = 200
    test_n: int = 1000
    num_classes: int = 10
    fgvc: bool = False
    epochs: int = 3
    rounds: int = 5
    steps: int = 2
    warmup_steps: int = 2
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    checkpoint_every: int = 1
    checkpoint_minutes: float = 5.0
    threads: int | None = None
    seed: int = 0
    out_dir: str | None = None
    clock: str = "wall"

    def __post_init__(self) -> None:
        if self.epochs < 2:
            raise UserError(f"invalid --epochs {self.epochs}", "--epochs", "use at least 2 (the first is warm-up)")
        counts = {
            "--batch-size": self.batch_size,
            "--rounds": self.rounds,
            "--steps": self.steps,
            "--train-n": self.train_n,
            "--val-n": self.val_n,
            "--test-n": self.test_n,
            "num_classes": self.num_classes,
        }
        for option, value in counts.items():
            if value < 1:
                raise UserError(f"invalid {option} {value}", option, "use a positive number")
        if self.clock not in CLOCKS:
            raise UserError(f"unknown --clock {self.clock!r}", "--clock", f"use one of {', '.join(CLOCKS)}")
        if self.warmup_steps < 0:
            raise UserError(f"invalid --warmup-steps {self.warmup_steps}", "--warmup-steps", "use 0 or more")


@dataclass
class Subject:
    """One method's model and optimizer for the bare timings."""

    name: str
    model: TunableBackbone
    step_model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    uses_prompts: bool
    times: dict[tuple[str, int], list[float]] = field(default_factory=dict)
    warmup_s: float = 0.0  # the untimed first steps, every shape: with --compile, mostly compilation


def peak_for_name(name: str) -> float | None:
    """Dense bf16 peak FLOP/s of a GPU by its name (:data:`BF16_PEAK_FLOPS`); None when unknown."""
    return next((peak for pattern, peak in BF16_PEAK_FLOPS if re.search(pattern, name)), None)


def peak_bf16_flops(device: torch.device) -> float | None:
    """The device's dense bf16 peak FLOP/s; None off CUDA or for an unknown GPU."""
    return peak_for_name(torch.cuda.get_device_name(device)) if device.type == "cuda" else None


def batch_sizes(n: int, batch_size: int) -> Counter[int]:
    """How many batches of each size an epoch over ``n`` images takes (the last one may be smaller)."""
    sizes = Counter({batch_size: n // batch_size})
    if n % batch_size:
        sizes[n % batch_size] += 1
    return +sizes


def peak_memory_bytes(device: torch.device) -> int:
    """CUDA: max allocated since the last reset. CPU: the process's peak RSS so far (never reset)."""
    if device.type == "cuda":
        return int(torch.cuda.max_memory_allocated(device))
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * 1024


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _autocast(device: torch.device, bf16: bool) -> AbstractContextManager[Any]:
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


def synthetic_task(cfg: BenchConfig, input_size: int) -> TaskData:
    """Random uint8 splits of a VTAB-style task (or FGVC-style, decoded larger and cropped, with ``fgvc``)."""
    pre = (
        Preprocess(resize=round(input_size * 256 / 224), crop=input_size, flip=True)
        if cfg.fgvc
        else Preprocess(resize=input_size)
    )
    gen = torch.Generator().manual_seed(cfg.seed)

    def split(n: int) -> ImageSet:
        images = torch.randint(0, 256, (n, 3, pre.resize, pre.resize), generator=gen, dtype=torch.uint8)
        return ImageSet(images, torch.randint(0, cfg.num_classes, (n,), generator=gen))

    train, val, test = split(cfg.train_n), split(cfg.val_n), split(cfg.test_n)
    return TaskData(SYNTHETIC_TASK, cfg.num_classes, train, val, test, pre, {"kind": "synthetic"})


def run_config(cfg: BenchConfig, method: str, out_dir: str) -> RunConfig:
    """The RunConfig of one method's real epochs (no warm-up epochs, no saved weights)."""
    return RunConfig(
        task=cfg.task or SYNTHETIC_TASK,
        method=method,
        model=cfg.model,
        pretrained=cfg.pretrained,
        weights=cfg.weights,
        img_size=cfg.img_size,
        num_prompts=cfg.num_prompts,
        epochs=cfg.epochs,
        warmup_epochs=0,
        batch_size=cfg.batch_size,
        base_lr=cfg.lr,
        seed=cfg.seed,
        test_subsample=cfg.test_n,
        device=cfg.device,
        precision=cfg.precision,
        compile=cfg.compile,
        out_dir=out_dir,
        study="bench",
        save_weights=False,
        checkpoint_every=cfg.checkpoint_every,
        checkpoint_minutes=cfg.checkpoint_minutes,
    )


def make_subject(run_plan: RunPlan | RunConfig, num_classes: int, device: torch.device) -> Subject:
    """A method's model with every phase's structure applied and the last phase's optimizer, as fit() builds."""
    p = as_plan(run_plan)
    run = p.resolved
    method = get_method(run.method)
    model = build_model(p, num_classes).to(device)
    method.build(model, run, torch.Generator().manual_seed(run.seed + 1))
    model.to(device)
    optimizer = phase_optimizer(model, p.phases[-1], 1, device)[0]
    step_model = torch.compile(model) if run.compile else model
    return Subject(run.method, model, step_model, optimizer, method.uses_prompts)


def _batch(n: int, size: int, num_classes: int, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(n)
    x = torch.randn(n, 3, size, size, generator=gen).to(device)
    return x, torch.randint(0, num_classes, (n,), generator=gen).to(device)


def _time_train(s: Subject, x: torch.Tensor, y: torch.Tensor, steps: int, autocast: Any, now: Clock) -> float:
    """Seconds per bare training step (mean of ``steps`` consecutive steps, synchronised at the end)."""
    s.model.train()
    _sync(x.device)
    start = now()
    for _ in range(steps):
        train_step(s.step_model, x, y, s.optimizer, autocast)
    _sync(x.device)
    return (now() - start) / steps


def _time_eval(s: Subject, x: torch.Tensor, steps: int, autocast: Any, now: Clock) -> float:
    """Seconds per bare evaluation forward (eager model, as evaluate() runs it)."""
    s.model.eval()
    _sync(x.device)
    start = now()
    with torch.inference_mode():
        for _ in range(steps):
            with autocast:
                s.model(x)
    _sync(x.device)
    return (now() - start) / steps


def time_bare(
    subjects: list[Subject],
    shapes: list[tuple[str, int]],
    cfg: BenchConfig,
    input_size: int,
    num_classes: int,
    autocast: Any,
    now: Clock = time.perf_counter,
) -> None:
    """Fill each subject's ``times[(kind, batch)]`` with per-round seconds per step, methods interleaved."""
    device = next(subjects[0].model.parameters()).device
    batches = {n: _batch(n, input_size, num_classes, device) for _, n in shapes}

    def once(s: Subject, kind: str, n: int, steps: int) -> float:
        x, y = batches[n]
        if kind == "train":
            return _time_train(s, x, y, steps, autocast, now)
        return _time_eval(s, x, steps, autocast, now)

    for s in subjects:
        for kind, n in shapes:
            if cfg.warmup_steps:
                s.warmup_s += once(s, kind, n, cfg.warmup_steps) * cfg.warmup_steps
    for _ in range(cfg.rounds):
        for s in subjects:
            for kind, n in shapes:
                s.times.setdefault((kind, n), []).append(once(s, kind, n, cfg.steps))


def flops_per_image(s: Subject, input_size: int, num_classes: int, autocast: Any) -> tuple[float, float]:
    """(training, evaluation) FLOPs per image, counted by torch's FlopCounterMode on a batch of 2."""
    device = next(s.model.parameters()).device
    x, y = _batch(2, input_size, num_classes, device)
    s.model.train()
    with FlopCounterMode(display=False) as counter:
        with autocast:
            loss = torch.nn.functional.cross_entropy(s.model(x).float(), y)
        loss.backward()
    train = counter.get_total_flops() / 2
    s.optimizer.zero_grad(set_to_none=True)
    s.model.eval()
    with FlopCounterMode(display=False) as counter, autocast:  # grad mode on: its module tracker needs it
        s.model(x)
    return train, counter.get_total_flops() / 2


class EpochClock:
    """A fit() callback that timestamps the end of training (last step) and of evaluation (epoch event)."""

    def __init__(self, steps_per_epoch: int, device: torch.device, now: Clock = time.perf_counter) -> None:
        self.steps_per_epoch, self.device, self.now = steps_per_epoch, device, now
        self.steps = 0
        self.phase = -1
        self.train_end = 0.0
        self.marks: list[tuple[int, float, float]] = []  # (phase index, train end, epoch end)

    def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event == "phase":
            self.phase = info["index"]
        elif event == "step":
            self.steps += 1
            if self.steps % self.steps_per_epoch == 0:
                _sync(self.device)  # once per epoch, so queued GPU work counts as training
                self.train_end = self.now()
        elif event == "epoch":
            self.marks.append((self.phase, self.train_end, self.now()))

    def intervals(self) -> Iterator[tuple[float, float, float]]:
        """(epoch, train, eval) seconds of each epoch after the first of the last phase."""
        last = max(p for p, _, _ in self.marks)
        marks = [(t, e) for p, t, e in self.marks if p == last]
        for (_, prev_end), (train_end, end) in pairwise(marks):
            yield end - prev_end, train_end - prev_end, end - train_end


def time_real(
    p: RunPlan, data: TaskData, device: torch.device, input_size: int, now: Clock = time.perf_counter
) -> dict[str, float]:
    """Median epoch, train and eval seconds of real epochs, and the peak memory, through train_prepared()."""
    run = p.resolved
    method = get_method(run.method)
    model = build_model(p, data.num_classes).to(device)
    prepared = Prepared(p, method, device, data, model, input_size, Path(run.out_dir) / run.method)
    clock = EpochClock(-(-len(data.train) // p.phases[-1].batch_size), device, now)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    train_prepared(prepared, clock)
    epoch, train, evaluation = (statistics.median(v) for v in zip(*clock.intervals(), strict=True))
    return {"epoch_s": epoch, "train_s": train, "eval_s": evaluation, "peak_memory_bytes": peak_memory_bytes(device)}


def eval_sizes(data: TaskData, test_n: int) -> list[int]:
    """Images evaluated per epoch: the val split (if any) and the test subsample."""
    return [len(data.val) if data.val is not None else 0, min(test_n, len(data.test))]


def bare_seconds(times: dict[tuple[str, int], list[float]], kind: str, n: int, batch_size: int) -> float:
    """Bare seconds for ``n`` images of ``kind`` (train or eval) in an epoch's batches (median per step)."""
    return sum(c * statistics.median(times[(kind, b)]) for b, c in batch_sizes(n, batch_size).items())


def summarise(
    name: str,
    times: dict[tuple[str, int], list[float]],
    data: TaskData,
    cfg: BenchConfig,
    real: dict[str, float],
    flops: tuple[float, float],
    peak: float | None,
) -> dict[str, Any]:
    """One method's figures (images/s, overhead ratio, memory, FLOPs and MFU when the peak is known)."""
    b, e = cfg.batch_size, eval_batch_size(cfg.batch_size)
    n_train, evals = len(data.train), eval_sizes(data, cfg.test_n)
    bare_train = bare_seconds(times, "train", n_train, b)
    bare_eval = sum(bare_seconds(times, "eval", n, e) for n in evals)
    step = statistics.median(times[("train", b)])
    work_flops = flops[0] * n_train + flops[1] * sum(evals)
    return {
        "method": name,
        "batch_size": b,
        "eval_batch_size": e,
        "bare_step_s": step,
        "bare_images_per_s": b / step,
        "bare_eval_images_per_s": e / statistics.median(times[("eval", e)]),
        "train_images_per_s": n_train / real["train_s"],
        "eval_images_per_s": sum(evals) / real["eval_s"],
        "epoch_s": real["epoch_s"],
        "bare_epoch_s": bare_train + bare_eval,
        "overhead_ratio": real["epoch_s"] / (bare_train + bare_eval),
        "train_images": n_train,
        "eval_images": sum(evals),
        "peak_memory_bytes": int(real["peak_memory_bytes"]),
        "train_flops_per_image": flops[0],
        "eval_flops_per_image": flops[1],
        "bare_mfu": None if peak is None else flops[0] * b / step / peak,
        "mfu": None if peak is None else work_flops / real["epoch_s"] / peak,
    }


def add_step_ratios(rows: list[dict[str, Any]], prompted: set[str]) -> None:
    """``vpt_to_ft_step_ratio`` (bare step time of a prompt method over FT's) on each prompt method's row."""
    ft = next((r for r in rows if r["method"] == "ft"), None)
    for row in rows:
        if ft is not None and row["method"] in prompted:
            row["vpt_to_ft_step_ratio"] = row["bare_step_s"] / ft["bare_step_s"]


def load_data(cfg: BenchConfig, input_size: int, out_dir: str) -> TaskData:
    """The synthetic task, or ``cfg.task`` loaded as fit() loads it."""
    if cfg.task is None:
        return synthetic_task(cfg, input_size)
    return load_task_data(run_config(cfg, cfg.methods[0], out_dir), input_size)


def bare_shapes(data: TaskData, batch_size: int, test_n: int) -> list[tuple[str, int]]:
    """Every (kind, batch size) an epoch runs, and the full training and evaluation batches."""
    eval_batch = eval_batch_size(batch_size)
    train = {batch_size, *batch_sizes(len(data.train), batch_size)}
    evals = {eval_batch}.union(*(batch_sizes(n, eval_batch) for n in eval_sizes(data, test_n)))
    return [("train", n) for n in sorted(train, reverse=True)] + [("eval", n) for n in sorted(evals, reverse=True)]


def measure_bare(
    runs: list[RunPlan], data: TaskData, cfg: BenchConfig, input_size: int, device: torch.device
) -> tuple[list[dict[tuple[str, int], list[float]]], list[float], list[tuple[float, float]]]:
    """Bare per-step times, warm-up seconds and (train, eval) FLOPs per image of each method; models freed after."""
    autocast = _autocast(device, use_bf16(runs[0].resolved, device))
    subjects = [make_subject(r, data.num_classes, device) for r in runs]
    shapes = bare_shapes(data, cfg.batch_size, cfg.test_n)
    time_bare(subjects, shapes, cfg, input_size, data.num_classes, autocast, CLOCKS[cfg.clock])
    flops = [flops_per_image(s, input_size, data.num_classes, autocast) for s in subjects]
    times = [s.times for s in subjects]
    warmups = [s.warmup_s for s in subjects]
    del subjects
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return times, warmups, flops


def bench(cfg: BenchConfig, callback: Callback = _quiet) -> list[dict[str, Any]]:
    """Measure every method of ``cfg``; one dict per method (see the module docstring for the fields)."""
    methods = [get_method(name) for name in cfg.methods]
    if cfg.threads:
        torch.set_num_threads(cfg.threads)
    device = resolve_device(cfg.device)
    if cfg.clock == "cpu" and device.type == "cuda":
        raise UserError("--clock cpu measures CPU time, not GPU work", "--clock", "use --clock wall on CUDA")
    input_size = cfg.img_size or default_input_size(cfg.model)
    load_start = os.getloadavg()[0]
    with tempfile.TemporaryDirectory(prefix="vptstudy-bench-", dir=cfg.out_dir) as tmp:
        data = load_data(cfg, input_size, tmp)
        runs = [plan(run_config(cfg, m.name, tmp)) for m in methods]
        callback("bare", {"methods": list(cfg.methods)})
        times, warmups, flops = measure_bare(runs, data, cfg, input_size, device)
        peak = peak_bf16_flops(device)
        rows = []
        for run, t, w, f in zip(runs, times, warmups, flops, strict=True):
            callback("real", {"method": run.cfg.method, "epochs": run.cfg.epochs})
            real = time_real(run, data, device, input_size, CLOCKS[cfg.clock])
            rows.append({**summarise(run.cfg.method, t, data, cfg, real, f, peak), "warmup_s": w})
    add_step_ratios(rows, {m.name for m in methods if m.uses_prompts})
    machine = {
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "threads": torch.get_num_threads(),
        "clock": cfg.clock,
        "model": cfg.model,
        "input_size": input_size,
        "load_avg_1m": [load_start, os.getloadavg()[0]],
    }
    return [{**row, **machine} for row in rows]
