"""A run's fixed cost on two revisions, alternately: the before/after of issue 18 section 3 in docs/performance.md.

    nice -n 10 .venv/bin/python benchmarks/startup_ab.py --before 97d6c8f [--after WORKTREE] [--trials 3] [--case toy]

``vptstudy bench --startup`` times a run through ``fit`` itself, which older revisions cannot (it needs the trainer's
``data`` and ``model`` events); this calls the same pieces directly, which every revision has, so both sides are
timed alike. Per case and revision: a first fresh process (empty caches), a second one, and in each of them a
second run of another lr in-process. Revisions alternate per trial; the table gives medians and the load average.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ab_bench import ROOT, checkout

# the driver runs in this checkout and shares the package's cases; its children run the revisions compared
from vptstudy.startup import CASES, PHASES

CHILD = r"""
import contextlib, json, sys, time
t0 = time.time()
import torch
import vptstudy.train as T
t1 = time.time()
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.pipeline import DeviceImages
from vptstudy.methods import get_method
from vptstudy.models.build import build_model
from vptstudy.optim import phase_optimizer
from vptstudy.plan import plan
spec = json.loads(sys.argv[1])
runs = []
for lr in (None, 0.25):
    a = time.time()
    p = plan(RunConfig(base_lr=lr, **spec["run"]))
    data = load_task_data(p.resolved, p.input_size)
    b = time.time()
    model = build_model(p, data.num_classes)
    c = time.time()
    method = get_method(p.cfg.method)
    method.check(model, p.resolved)
    method.phases[0].prepare(model, p.resolved, torch.Generator().manual_seed(1))
    opt, _, _ = phase_optimizer(model, p.phases[0], 1, torch.device("cpu"))
    train = DeviceImages(data.train, data.preprocess, torch.device("cpu"), train=True)
    x, y = next(iter(train.batches(spec["step_batch"], torch.Generator().manual_seed(0))))
    d = time.time()
    T.train_step(model, x, y, opt, contextlib.nullcontext())
    runs.append({"data": b - a, "model": c - b, "method": d - c, "step": time.time() - d})
runs[0].update(start=t0 - spec["spawned"], import_=t1 - t0)
print(json.dumps(runs))
"""


def one_process(tree: Path, case: str, work: Path, step_batch: int) -> list[dict[str, float]]:
    run = {**CASES[case], "device": "cpu", "out_dir": str(work / "runs"), "cache_dir": str(work / "cache")}
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "XDG_CACHE_HOME": str(work / "xdg")}
    arg = json.dumps({"run": run, "step_batch": step_batch, "spawned": time.time()})
    done = subprocess.run([sys.executable, "-c", CHILD, arg], cwd=work, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"failed in {tree}:\n{done.stderr[-2000:]}")
    first, again = json.loads(done.stdout.strip().splitlines()[-1])
    first["import"] = first.pop("import_")
    return [first, {"start": 0.0, "import": 0.0, **again}]


def measure(trees: dict[str, Path], cases: list[str], trials: int, scratch: Path, step_batch: int) -> dict:
    """Every trial of every case, the revisions alternating; rows by (case, run, revision)."""
    rows: dict[tuple[str, str, str], list[dict[str, float]]] = {}
    for case in cases:
        for _ in range(trials):
            for side, tree in trees.items():
                work = scratch / f"{side}-{case}"
                shutil.rmtree(work, ignore_errors=True)  # the first process starts with empty caches
                for proc in ("1st process", "2nd process"):
                    work.mkdir(parents=True, exist_ok=True)
                    runs = one_process(tree, case, work, step_batch)
                    load = os.getloadavg()[0]
                    for label, r in zip((proc, f"in-process after {proc[:3]}"), runs, strict=True):
                        rows.setdefault((case, label, side), []).append({**r, "load": load})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--before", required=True)
    ap.add_argument("--after", default="WORKTREE")
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--case", choices=sorted(CASES), action="append")
    ap.add_argument("--step-batch", type=int, default=8)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="vptstudy-startup-ab-") as tmp:
        trees = {"before": checkout(args.before, Path(tmp)), "after": checkout(args.after, Path(tmp))}
        try:
            rows = measure(trees, args.case or list(CASES), args.trials, Path(tmp), args.step_batch)
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    print(f"| case | run | code | {' | '.join(p + ' s' for p in PHASES)} | fixed s | load avg |")
    print("|---|---|---|" + "---:|" * (len(PHASES) + 2))
    for (case, label, side), found in rows.items():
        med = {p: statistics.median(r[p] for r in found) for p in PHASES}
        fixed = statistics.median(sum(r[p] for p in PHASES if p != "step") for r in found)
        loads = [r["load"] for r in found]
        cells = " | ".join(f"{med[p]:.2f}" for p in PHASES)
        print(f"| {case} | {label} | {side} | {cells} | {fixed:.2f} | {min(loads):.1f}-{max(loads):.1f} |")


if __name__ == "__main__":
    main()
