"""Successive halving against the full grid on the mini-study: epochs used, same choice, test-accuracy difference.

The benchmark is :mod:`vptstudy.halving_bench` (also ``vptstudy bench --search``): the mini-study's setting
(studies/demo.toml: toy-vit, its toy tasks, FT, VPT-deep, Mixed, FT-then-PT) with each method's full lr x wd grid,
every candidate trained once with val at every epoch, then halving replayed on those runs per rung setting (a
halving candidate is the grid's run stopped at a rung, bit for bit). This script adds the knobs:

    nice -n 10 python benchmarks/halving.py --out /tmp/hb --quick            # 2 tasks, 1 wd, rungs 10,30
    nice -n 10 python benchmarks/halving.py --out /tmp/hb --json /tmp/hb.json  # the full grid, 5 rung settings
    python benchmarks/halving.py --out /tmp/hb20 --quick --epochs 20 --train-size 160  # rungs: epochs 2, 6 of 20

Prints one JSON line per unit and a markdown table; ``--json`` writes the figures.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from vptstudy.halving_bench import SearchBench, run_search_bench, table, write


def _log(event: str, info: dict) -> None:
    if event == "stage":
        print(f"stage {info['name']}: {info['runs']} runs over {info['units']} units", flush=True)


def _run_overrides(args: argparse.Namespace) -> tuple[tuple[str, int], ...]:
    """[run] values over the mini-study's; a longer schedule warms up for a tenth of it, as the paper's 10 of 100."""
    warmup = args.warmup_epochs
    if warmup is None and args.epochs is not None:
        warmup = max(1, args.epochs // 10)
    values = {"epochs": args.epochs, "warmup_epochs": warmup, "train_size": args.train_size}
    return tuple((k, v) for k, v in values.items() if v is not None)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True, help="folder of the runs (a second call reuses them)")
    ap.add_argument("--quick", action="store_true", help="the mini-study's first 2 tasks, 1 wd, default rungs")
    ap.add_argument("--tasks", default="", help="comma-separated (default: the mini-study's)")
    ap.add_argument("--methods", default="", help="comma-separated (default: the mini-study's)")
    ap.add_argument("--wds", default="", help="weight decays (default: each method's full grid)")
    ap.add_argument("--settings", default="", help="rung settings (epochs of 100), ';'-separated, e.g. 10,30;30")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--seeds", type=int, default=2, help="final seeds for the test-accuracy difference")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--epochs", type=int, default=None, help="schedule length (default: the mini-study's 4)")
    ap.add_argument("--warmup-epochs", type=int, default=None, help="default: 1, or a tenth of --epochs")
    ap.add_argument("--train-size", type=int, default=None, help="train images, val = 1/4 (default: 800 / 200)")
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    cfg = SearchBench(
        out_dir=str(args.out),
        quick=args.quick,
        tasks=tuple(t for t in args.tasks.split(",") if t),
        methods=tuple(m for m in args.methods.split(",") if m),
        wds=tuple(float(w) for w in args.wds.split(",") if w),
        settings=tuple(tuple(int(x) for x in s.split(",")) for s in args.settings.split(";") if s),
        eta=args.eta,
        seeds=args.seeds,
        workers=args.workers,
        run=_run_overrides(args),
    )
    figures = run_search_bench(cfg, _log)
    for row in figures["units"]:
        print(json.dumps(row, default=str), flush=True)
    print(table(figures))
    print(f"{figures['seconds']:.0f} s")
    if args.json:
        write(figures, args.json)


if __name__ == "__main__":
    main()
