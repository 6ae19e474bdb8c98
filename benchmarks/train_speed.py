"""Repeated `vptstudy bench` trials in one process, with the median of every figure (for docs/performance.md).

    .venv/bin/python benchmarks/train_speed.py [--model toy-vit] [--repeat 3] [--threads 1] [--clock cpu] \
        [--batch-size 128] [--img-size N] [--train-n 800 --val-n 200 --test-n 1000] [--json FILE]

A shared machine makes single timings noisy: this runs the whole bench ``--repeat`` times and prints the median,
min and max of each figure, with the 1-minute load average before and after. No assertions.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
from typing import Any

from vptstudy.bench import BenchConfig, bench

FIGURES = (
    "bare_images_per_s",
    "train_images_per_s",
    "eval_images_per_s",
    "epoch_s",
    "bare_epoch_s",
    "overhead_ratio",
    "vpt_to_ft_step_ratio",
)


def medians(trials: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """Per method: (median, min, max) of every figure over the trials."""
    out = []
    for rows in zip(*trials, strict=True):
        row: dict[str, Any] = {"method": rows[0]["method"]}
        for key in FIGURES:
            values = [r[key] for r in rows if r.get(key) is not None]
            if values:
                row[key] = (statistics.median(values), min(values), max(values))
        out.append(row)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="toy-vit")
    parser.add_argument("--method", action="append", help="repeatable; default ft and vpt-deep")
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--img-size", type=int, default=None)
    parser.add_argument("--train-n", type=int, default=800)
    parser.add_argument("--val-n", type=int, default=200)
    parser.add_argument("--test-n", type=int, default=1000)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--clock", default="wall", choices=("wall", "cpu"))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default=None, help="write every trial and the medians here")
    args = parser.parse_args()
    cfg = BenchConfig(
        model=args.model,
        methods=tuple(args.method or ("ft", "vpt-deep")),
        batch_size=args.batch_size,
        img_size=args.img_size,
        train_n=args.train_n,
        val_n=args.val_n,
        test_n=args.test_n,
        epochs=args.epochs,
        rounds=args.rounds,
        threads=args.threads,
        clock=args.clock,
    )
    load = [os.getloadavg()[0]]
    trials = [bench(cfg) for _ in range(args.repeat)]
    load.append(os.getloadavg()[0])
    summary = medians(trials)
    first = trials[0][0]
    print(
        f"{cfg.model} at {first['input_size']}px, batch {cfg.batch_size}, {first['device']}, "
        f"{first['threads']} thread(s), {cfg.clock} clock, {args.repeat} trials, load {load[0]:.1f} -> {load[1]:.1f}"
    )
    for row in summary:
        cells = [f"{k}={v[0]:.3f} [{v[1]:.3f}, {v[2]:.3f}]" for k, v in row.items() if k != "method"]
        print(f"{row['method']:>10s}: " + ", ".join(cells))
    if args.json:
        with open(args.json, "w") as handle:
            json.dump(
                {"config": vars(args), "load_avg_1m": load, "medians": summary, "trials": trials}, handle, indent=1
            )


if __name__ == "__main__":
    main()
