"""Runs per minute of the local executors on the toy setting: 1 sequential worker vs 2 worker processes.

    .venv/bin/python benchmarks/executor_overhead.py [--runs 8] [--epochs 2]

Each run is a short linear probe on toy/digits with a tiny timm ViT, so the figure is dominated by per-run
overhead (data, model build, evaluation, files), which is what an executor adds to a sweep.
"""

from __future__ import annotations

import argparse
import tempfile
import time

from vptstudy.config import RunConfig
from vptstudy.executors import ExecutorSpec
from vptstudy.pools import execute


def configs(out: str, runs: int, epochs: int) -> list[RunConfig]:
    return [
        RunConfig(
            task="toy/digits",
            method="linear",
            model="test_vit",
            pretrained=False,
            img_size=32,
            epochs=epochs,
            batch_size=128,
            test_subsample=200,
            seed=s,
            out_dir=out,
            device="cpu",
        )
        for s in range(runs)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=2)
    args = parser.parse_args()
    for workers in (1, 2):
        with tempfile.TemporaryDirectory() as out:
            start = time.perf_counter()
            results = execute(configs(out, args.runs, args.epochs), ExecutorSpec(workers=workers))
            seconds = time.perf_counter() - start
        ok = sum(r.get("status") == "ok" for r in results)
        print(f"workers={workers}: {ok}/{args.runs} runs in {seconds:.1f} s = {60 * ok / seconds:.1f} runs/min")


if __name__ == "__main__":
    main()
