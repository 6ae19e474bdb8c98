"""A two-unit halving study on 2 local workers: wall time, worker processes started, their CPU time, choices.

    PYTHONPATH=<checkout> .venv/bin/python benchmarks/study_workers.py [--workers 2]

The study of tests/test_scheduler.py (tiny timm ViT, toy/digits, linear probe, 4 lrs, eta 2, rungs at epochs 1
and 2 of 4) over two data regimes: 40 training images (fast runs) and 400 (slow runs). Run it with another
checkout on PYTHONPATH to compare: every process a study starts pays the package's imports again.
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
import time

from vptstudy import runs
from vptstudy.executors import ExecutorSpec
from vptstudy.study import parse_study
from vptstudy.sweep import run_study

RUN = {"model": "test_vit", "pretrained": False, "img_size": 32, "epochs": 4, "batch_size": 40, "rungs": [25, 50]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as out:
        study = {
            "name": "u",
            "kind": "datasize",
            "tasks": ["toy/digits"],
            "methods": ["linear"],
            "seeds": [42],
            "datasize": {"sizes": [40, 400], "search": True},
            "run": {**RUN, "test_subsample": 50, "out_dir": out, "search": "halving", "eta": 2},
            "grid": {"linear": {"lr": [5.0, 1.0, 0.5, 0.1], "wd": [0.0]}},
        }
        start = time.perf_counter()
        summaries = run_study(parse_study(study), ExecutorSpec(workers=args.workers))
        wall = time.perf_counter() - start
        pids = set()
        for run in runs.iter_runs(out):
            pids |= {json.loads(line)["pid"] for line in (run / runs.ATTEMPTS).read_text().splitlines()}
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    print(
        f"wall {wall:.1f} s; worker processes that trained: {len(pids)}; their CPU "
        f"{usage.ru_utime + usage.ru_stime:.1f} s; chosen {[s['chosen'] for s in summaries]}"
    )


if __name__ == "__main__":
    main()
