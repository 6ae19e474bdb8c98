"""Executors: where runs execute (this process, local workers one per GPU slot or CPU share, or Slurm), and what a
worker does with one run.

Every executor runs the same :func:`run_one` over the same run directories; a run directory is a run's identity,
so complete runs are skipped, partial ones resume, and a lock file keeps two workers off the same run. The pools
that feed runs to the workers are in :mod:`vptstudy.pools`.
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vptstudy import rungs, runs
from vptstudy.config import RunConfig
from vptstudy.errors import RunFailed, UserError
from vptstudy.rundir import RunDir

Callback = Callable[[str, dict[str, Any]], None]
EXECUTORS = ("local", "slurm")
WORKER_EXIT_S = 60.0  # how long a driver waits for its workers to unwind after SIGTERM


@dataclass(frozen=True)
class ExecutorSpec:
    """Where runs execute. ``gpus`` (local): one worker per listed GPU, ``workers_per_gpu`` each; ``workers``
    (local, no GPUs): that many CPU workers. Slurm options go to submitit; ``cluster`` may be "local" for tests."""

    kind: str = "local"
    gpus: tuple[int, ...] = ()
    workers_per_gpu: int = 1
    workers: int = 1
    partition: str | None = None
    time_min: int = 240
    gpus_per_job: int = 1
    cpus_per_job: int = 8
    array_parallelism: int = 64
    runs_per_job: int = 1
    log_dir: str | None = None
    cluster: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in EXECUTORS:
            raise UserError(f"unknown executor {self.kind!r}", "--executor", f"use one of {', '.join(EXECUTORS)}")
        if self.workers < 1 or self.workers_per_gpu < 1 or self.runs_per_job < 1:
            raise UserError("worker counts must be >= 1", "--workers", "use a positive number")
        if self.kind == "slurm" and self.cluster is None and shutil.which("sbatch") is None:
            # submitit's AutoExecutor would fall back to its local executor and start every job at once
            raise UserError(
                "Slurm is not available here (no sbatch on PATH)",
                "--executor slurm",
                "run on this machine with --executor local --workers N (or --gpus 0,1)",
            )
        cores = usable_cores()
        if self.kind == "local" and not self.gpus and self.workers > cores:
            # each CPU worker is a process with a model and its data: more than the cores only adds memory
            raise UserError(
                f"--workers {self.workers} is more than the {cores} CPU cores here",
                "--workers",
                f"use --workers {cores} or fewer (each worker already uses its share of the cores)",
            )


def usable_cores() -> int:
    """The CPU cores this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def cpu_threads(workers: int) -> int:
    """torch threads per CPU worker so that workers x threads <= cores (and <= $OMP_NUM_THREADS when set)."""
    threads = max(1, usable_cores() // max(workers, 1))
    env = os.environ.get("OMP_NUM_THREADS", "")
    return min(threads, int(env)) if env.isascii() and env.isdigit() and int(env) > 0 else threads


def _warnings_only(event: str, info: dict[str, Any]) -> None:
    """The callback of a worker with no display: warnings still reach stderr, one line each."""
    if event == "warning":
        print(f"vptstudy: warning: {info['message']}", file=sys.stderr, flush=True)


def run_one(cfg: RunConfig, callback: Callback | None = None) -> dict[str, Any]:
    """Run (or skip, or resume) one config; a user error (e.g. a size the source cannot supply) becomes
    ``status: skipped`` and a diverged run ``status: failed``, so a sweep goes on."""
    from vptstudy.train import fit

    try:
        return fit(cfg, callback or _warnings_only)
    except UserError as exc:
        return {"task": cfg.task, "method": cfg.method, "seed": cfg.seed, "status": "skipped", "reason": exc.line()}
    except RunFailed as exc:
        result = RunDir(Path(exc.run_dir)).result
        return result.to_dict() if result else {"status": "failed", "reason": exc.reason}


def work(configs: list[dict[str, Any]], device: str | None = None, offset: int = 0) -> list[dict[str, Any]]:
    """A worker: go through the configs (starting at ``offset``, wrapping), running each unclaimed one."""
    order = configs[offset:] + configs[:offset]
    results = []
    for data in order:
        cfg = RunConfig.from_dict(data)
        if device is not None:
            cfg = cfg.replace(device=device)
        results.append(run_one(cfg))
    return results


def collect(cfg: RunConfig) -> dict[str, Any]:
    """The stored result of a config's run, its stop record when it is paused at (or past) its ``stop_epoch``, or
    ``{"status": "missing"}``."""
    from vptstudy.plan import plan

    run = plan(cfg).run_dir
    try:
        result = RunDir(run).result
    except UserError as exc:  # damaged result.json: reported, the next sweep sets it aside and reruns
        return {"task": cfg.task, "method": cfg.method, "seed": cfg.seed, "status": "corrupt", "reason": exc.line()}
    if result is not None:
        return result.to_dict()
    paused = rungs.read_stopped(run) if cfg.stop_epoch else None
    if paused is not None and paused.get("epoch", 0) >= cfg.stop_epoch and (run / runs.CHECKPOINT).is_file():
        return paused  # halving: paused at this rung (or a later one), as fit would return it
    return {"task": cfg.task, "method": cfg.method, "seed": cfg.seed, "status": "missing", "run_dir": str(run)}
