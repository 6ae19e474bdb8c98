"""A run's fixed cost, from process start to its first training step: import, data, model, method.

Each case runs in a fresh interpreter (twice: the second finds the data caches warm), the way a study's runs start:

    nice -n 10 python benchmarks/startup.py                # toy-vit on toy/digits; ViT-B/16 at 224, random weights
    nice -n 10 python benchmarks/startup.py --only toy

Phases: ``import`` (``import vptstudy.train``), ``data`` (``load_task_data`` at the model's input size), ``model``
(backbone + head, random or toy weights), ``method`` (the method's check and first phase, then one training step
of ``--step-batch`` images). Wall seconds; on a shared machine read them with the load average printed alongside.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

CASES = {
    "toy": {"task": "toy/digits", "method": "vpt-deep", "model": "toy-vit"},
    "vit-b16-224": {
        "task": "toy/digits",
        "method": "vpt-deep",
        "model": "vit_base_patch16_224",
        "pretrained": False,
        "img_size": 224,
    },
}

CHILD = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
torch.set_num_threads(1)
import vptstudy.train as T
from vptstudy.models.build import build_model
from vptstudy.optim import phase_optimizer
t1 = time.perf_counter()
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.pipeline import DeviceImages
from vptstudy.methods import get_method
from vptstudy.plan import plan
case = json.loads(sys.argv[1])
step_batch = case.pop("step_batch")
p = plan(RunConfig(out_dir=case.pop("out_dir"), cache_dir=case.pop("cache_dir"), device="cpu", **case))
data = load_task_data(p.resolved, p.input_size)
t2 = time.perf_counter()
model = build_model(p, data.num_classes)
t3 = time.perf_counter()
method = get_method(p.cfg.method)
method.check(model, p.resolved)
method.phases[0].prepare(model, p.resolved, torch.Generator().manual_seed(1))
opt, sched, _ = phase_optimizer(model, p.phases[0], 1, torch.device("cpu"))
train = DeviceImages(data.train, data.preprocess, torch.device("cpu"), train=True)
x, y = next(iter(train.batches(step_batch, torch.Generator().manual_seed(0))))
T.train_step(model, x, y, opt, __import__("contextlib").nullcontext())
t4 = time.perf_counter()
print(json.dumps({"import": t1 - t0, "data": t2 - t1, "model": t3 - t2, "method": t4 - t3, "total": t4 - t0}))
"""


def measure(case: dict, out: Path, step_batch: int) -> dict[str, float]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    arg = json.dumps({**case, "out_dir": str(out), "cache_dir": str(out / "cache"), "step_batch": step_batch})
    done = subprocess.run([sys.executable, "-c", CHILD, arg], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(CASES), default=None)
    ap.add_argument("--out", type=Path, default=Path("/tmp/vptstudy-startup"))
    ap.add_argument("--step-batch", type=int, default=8)
    args = ap.parse_args()
    print("| case | run | import s | data s | model s | method + 1 step s | total s | load avg |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, case in CASES.items():
        if args.only and name != args.only:
            continue
        for run in ("first", "second"):
            t = measure(case, args.out, args.step_batch)
            load = os.getloadavg()[0]
            print(
                f"| {name} | {run} | {t['import']:.1f} | {t['data']:.1f} | {t['model']:.1f} | {t['method']:.1f} "
                f"| {t['total']:.1f} | {load:.0f} |",
                flush=True,
            )


if __name__ == "__main__":
    main()
