"""A run's fixed cost, from process start to its first training step (``vptstudy bench --startup``).

Each case runs in fresh interpreters, the way a study's runs start: a *first* process with an empty data cache,
then a *second* one that finds the cache warm. Inside that second process a further run of another configuration
(another lr, as in a grid) measures what a worker that runs many configurations pays per run after its first:
imports done, the task's tensors and the backbone kept in memory (:mod:`vptstudy.memo`).

Every run goes through ``fit`` itself and stops at its first training step. Phases, in wall seconds:

- ``start``: from spawning the interpreter to its first line;
- ``import``: ``import vptstudy.train`` (torch, timm, the package);
- ``data``: the plan, the finished-run check and ``load_task_data`` at the model's input size;
- ``model``: the backbone with its new head (random weights for the ViT-B/16 case; no download);
- ``method``: claim, ``config.json``, the splits on the device, the method's first phase and its optimizer;
- ``step``: the first training step of ``step_batch`` images (compute, not fixed cost).

``fixed`` is the sum without ``step``. The load average of the machine is printed alongside: on a shared machine
read the figures with it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vptstudy.errors import RunFailed, UserError

CASES: dict[str, dict[str, Any]] = {
    "toy": {"task": "toy/digits", "method": "vpt-deep", "model": "toy-vit"},
    "vit-b16-224": {
        "task": "toy/digits",
        "method": "vpt-deep",
        "model": "vit_base_patch16_224",
        "pretrained": False,
        "img_size": 224,
    },
}
PHASES = ("start", "import", "data", "model", "method", "step")
RUNS = ("1st process", "2nd process", "in-process")
SECOND_LR = 0.25  # the in-process run: another grid point of the same task, method and model
# The child's first lines: `import vptstudy.train` is what the import phase times, so it is written out here.
CHILD = """import time
t0 = time.time()
import vptstudy.train
t1 = time.time()
import sys
from vptstudy.startup import child
child(vptstudy.train.fit, sys.argv[1], t0, t1)
"""
Callback = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class StartupConfig:
    """Which cases to measure (:data:`CASES`), the first step's batch and epochs, and the threads per process."""

    cases: tuple[str, ...] = tuple(CASES)
    step_batch: int = 8
    threads: int = 1
    timeout_s: float = 1800.0

    def __post_init__(self) -> None:
        unknown = [c for c in self.cases if c not in CASES]
        if unknown or not self.cases:
            raise UserError(f"unknown startup case(s) {unknown}", "--case", f"use {', '.join(CASES)}")
        if self.step_batch < 1 or self.threads < 1:
            raise UserError("--step-batch and --threads must be at least 1", "bench --startup", "pass 1 or more")


class _FirstStep(Exception):
    """Raised by the timing callback at the first training step: the run stops there."""


def timed_fit(fit: Callable[..., Any], cfg: Any, begin: float) -> dict[str, float]:
    """Run ``fit(cfg)`` up to its first training step; seconds per phase from ``begin`` (``time.time()``)."""
    marks: dict[str, float] = {}

    def callback(event: str, info: dict[str, Any]) -> None:
        if event in ("data", "model", "phase", "step"):
            marks.setdefault(event, time.time())
        if event == "step":
            raise _FirstStep

    with contextlib.suppress(_FirstStep):
        fit(cfg, callback)
    if "step" not in marks:
        raise RuntimeError(f"the run ended before its first training step (events seen: {sorted(marks)})")
    return {
        "data": marks["data"] - begin,
        "model": marks["model"] - marks["data"],
        "method": marks["phase"] - marks["model"],
        "step": marks["step"] - marks["phase"],
    }


def child(fit: Callable[..., Any], arg: str, started: float, imported: float) -> None:
    """The measuring process: one run timed from process start, then a second run of another lr in-process."""
    from vptstudy.config import RunConfig

    spec = json.loads(arg)
    cfg = RunConfig(**spec["run"])
    first = {"start": started - spec["spawned"], "import": imported - started, **timed_fit(fit, cfg, imported)}
    second_cfg = cfg.replace(base_lr=SECOND_LR, out_dir=cfg.out_dir + "-in-process")
    again = {"start": 0.0, "import": 0.0, **timed_fit(fit, second_cfg, time.time())}
    print(json.dumps({"process": first, "in_process": again}), flush=True)


def run_fields(case: str, work: Path, cfg: StartupConfig, tag: str) -> dict[str, Any]:
    return {
        **CASES[case],
        "epochs": 1,
        "batch_size": cfg.step_batch,
        "device": "cpu",
        "out_dir": str(work / f"runs-{tag}"),
        "cache_dir": str(work / "cache"),
    }


def measure_process(case: str, work: Path, cfg: StartupConfig, tag: str) -> dict[str, dict[str, float]]:
    """One fresh interpreter: its run from process start, and the in-process run after it."""
    package_root = str(Path(__file__).resolve().parents[1])
    env = {
        **os.environ,
        "OMP_NUM_THREADS": str(cfg.threads),
        "PYTHONPATH": os.pathsep.join(p for p in (package_root, os.environ.get("PYTHONPATH")) if p),
    }
    spawned = time.time()
    arg = json.dumps({"spawned": spawned, "run": run_fields(case, work, cfg, tag)})
    try:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, arg], env=env, capture_output=True, text=True, timeout=cfg.timeout_s
        )
    except subprocess.TimeoutExpired:
        raise RunFailed(f"startup measurement of {case} took over {cfg.timeout_s:.0f} s") from None
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["no output"])[-1]
        raise RunFailed(f"startup measurement of {case} exited {done.returncode}: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def row(case: str, run: str, phases: dict[str, float]) -> dict[str, Any]:
    """One printed row: the phases in seconds, ``fixed`` (all but the step), ``total`` and the load average."""
    fixed = sum(phases[p] for p in PHASES if p != "step")
    return {
        "case": case,
        "model": CASES[case]["model"],
        "run": run,
        **{f"{p}_s": round(phases[p], 3) for p in PHASES},
        "fixed_s": round(fixed, 3),
        "total_s": round(fixed + phases["step"], 3),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def startup_bench(cfg: StartupConfig, callback: Callback | None = None) -> list[dict[str, Any]]:
    """Per case: the first process (empty data cache), the second process, and the in-process run after it."""
    rows = []
    work = Path(tempfile.mkdtemp(prefix="vptstudy-startup-"))
    try:
        for case in cfg.cases:
            for tag, run in (("first", RUNS[0]), ("second", RUNS[1])):
                if callback is not None:
                    callback("startup", {"case": case, "run": run})
                measured = measure_process(case, work / case, cfg, tag)
                rows.append(row(case, run, measured["process"]))
            rows.append(row(case, RUNS[2], measured["in_process"]))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return rows
