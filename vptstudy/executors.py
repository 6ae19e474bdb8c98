"""Executors: run a list of RunConfigs sequentially, on several local workers (one per GPU slot), or on Slurm.

Every executor runs the same worker loop over the same run directories; a run directory is a run's identity,
so complete runs are skipped, partial ones resume, and a lock file keeps two workers off the same run.
"""

from __future__ import annotations

import multiprocessing
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vptstudy import runs
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


def _worker_main(configs: list[dict[str, Any]], device: str | None, offset: int, cpu_threads: int) -> None:
    """A local worker process: exits quietly (locks released) on SIGINT/SIGTERM and when its driver dies."""
    from vptstudy import signals

    signals.install()
    signals.exit_with_parent()
    try:
        if device is None:  # CPU workers share the cores instead of each spinning up all of them
            import torch

            torch.set_num_threads(cpu_threads)
        work(configs, device, offset)
    except signals.Interrupted as exc:
        sys.exit(exc.exit_code)  # the driver tells the user; no traceback per worker


def _slots(spec: ExecutorSpec) -> list[str | None]:
    if spec.gpus:
        return [f"cuda:{g}" for g in spec.gpus for _ in range(spec.workers_per_gpu)]
    return [None] * spec.workers


def _wait_with_progress(configs: list[RunConfig], alive: Callable[[], bool], callback: Callback) -> None:
    from vptstudy.plan import plan

    dirs = [plan(c).run_dir for c in configs]
    while alive():
        callback("progress", {"done": sum(runs.is_complete(d) for d in dirs), "total": len(dirs)})
        time.sleep(1.0)
    callback("progress", {"done": sum(runs.is_complete(d) for d in dirs), "total": len(dirs)})


def execute(configs: list[RunConfig], spec: ExecutorSpec, callback: Callback | None = None) -> list[dict[str, Any]]:
    """Run every config with the chosen executor; return their results in order (``missing`` if none)."""
    callback = callback or (lambda event, info: None)
    if not configs:
        return []
    if spec.kind == "local" and len(_slots(spec)) == 1:
        slot = _slots(spec)[0]
        if slot is None and not all(c.device.startswith("cuda") for c in configs):
            import torch

            torch.set_num_threads(cpu_threads(1))
        results = []
        for i, cfg in enumerate(configs):
            callback("run", {"index": i, "total": len(configs), "config": cfg})
            results.append(run_one(cfg.replace(device=slot) if slot else cfg, callback))
        return results
    payload = [c.to_dict() for c in configs]
    if spec.kind == "local":
        ctx = multiprocessing.get_context("spawn")
        slots = _slots(spec)
        threads = cpu_threads(len(slots))
        procs = [
            ctx.Process(target=_worker_main, args=(payload, slot, i * len(payload) // len(slots), threads))
            for i, slot in enumerate(slots)
        ]
        for proc in procs:
            proc.start()
        try:
            _wait_with_progress(configs, lambda: any(p.is_alive() for p in procs), callback)
        finally:  # interrupted or not, no worker outlives its driver (SIGTERM: they release their locks)
            for proc in procs:
                if proc.is_alive():
                    proc.terminate()
            for proc in procs:
                proc.join(timeout=WORKER_EXIT_S)
                if proc.is_alive():  # stuck while unwinding: never leave it behind (its lock is then stale)
                    proc.kill()
                    proc.join()
    else:
        _run_slurm(payload, configs, spec, callback)
    return [collect(c) for c in configs]


def _run_slurm(payload: list[dict[str, Any]], configs: list[RunConfig], spec: ExecutorSpec, callback: Callback) -> None:
    import submitit

    log_dir = Path(spec.log_dir or Path(configs[0].out_dir) / configs[0].study / "_slurm")
    executor = submitit.AutoExecutor(folder=str(log_dir / "%j"), cluster=spec.cluster or "slurm")  # no fallback
    params: dict[str, Any] = {
        "timeout_min": spec.time_min,
        "slurm_array_parallelism": spec.array_parallelism,
        "gpus_per_node": spec.gpus_per_job,
        "cpus_per_task": spec.cpus_per_job,
        "name": f"vptstudy-{configs[0].study}",
    }
    if spec.partition:
        params["slurm_partition"] = spec.partition
    executor.update_parameters(**params)
    chunks = [payload[i : i + spec.runs_per_job] for i in range(0, len(payload), spec.runs_per_job)]
    jobs = executor.map_array(work, chunks)
    callback("submitted", {"jobs": [j.job_id for j in jobs], "log_dir": str(log_dir)})
    _wait_with_progress(configs, lambda: not all(j.done() for j in jobs), callback)
    for job in jobs:
        try:
            job.result()
        except Exception as exc:  # a job that died is reported; its runs show up as missing
            callback("job_failed", {"job": job.job_id, "reason": str(exc).splitlines()[-1] if str(exc) else ""})


def collect(cfg: RunConfig) -> dict[str, Any]:
    """The stored result of a config's run, or ``{"status": "missing"}``."""
    from vptstudy.plan import plan

    run = plan(cfg).run_dir
    try:
        result = RunDir(run).result
    except UserError as exc:  # damaged result.json: reported, the next sweep sets it aside and reruns
        return {"task": cfg.task, "method": cfg.method, "seed": cfg.seed, "status": "corrupt", "reason": exc.line()}
    if result is not None:
        return result.to_dict()
    return {"task": cfg.task, "method": cfg.method, "seed": cfg.seed, "status": "missing", "run_dir": str(run)}
