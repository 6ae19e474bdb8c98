"""A run's fixed cost, from process start to its first training step, as a Markdown table for docs/performance.md.

The measurement is ``vptstudy bench --startup`` (vptstudy/startup.py): each case in a first fresh process (empty
data cache), a second one (cache warm) and a run of another lr in that second process (imports done, tensors and
backbone kept in memory):

    nice -n 10 python benchmarks/startup.py                 # toy-vit on toy/digits; ViT-B/16 at 224, random weights
    nice -n 10 python benchmarks/startup.py --only toy
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from vptstudy.startup import CASES, PHASES, StartupConfig, startup_bench


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", choices=sorted(CASES), default=None)
    ap.add_argument("--step-batch", type=int, default=8)
    args = ap.parse_args()
    cfg = StartupConfig(cases=(args.only,) if args.only else tuple(CASES), step_batch=args.step_batch)
    print(f"| case | run | {' | '.join(p + ' s' for p in PHASES)} | fixed s | total s | load avg |")
    print("|---|---|" + "---:|" * (len(PHASES) + 3))
    for r in startup_bench(cfg):
        cells = [f"{r[p + '_s']:.2f}" for p in (*PHASES, "fixed", "total")] + [f"{r['load_avg_1m']:.1f}"]
        print(f"| {r['case']} | {r['run']} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
