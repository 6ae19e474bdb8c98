"""`vptstudy bench` on two revisions, alternately, with the ranges side by side (the before/after of a change).

    .venv/bin/python benchmarks/ab_bench.py [--before e8392ee] [--after WORKTREE|REV] [--trials 2] -- [bench options]

Without ``--before`` it repeats the bench on one revision (min-max over the trials).

Each revision is checked out with ``git worktree`` into a temporary folder (the working tree itself for
``--after WORKTREE``, the default) and imported from there with this interpreter, so both sides share the same
installed packages. Trials alternate (before, after, before, after, ...) so a drift in machine load hits both. The
bench options must exist in both revisions. No assertions: it prints min-max per figure and writes every trial
with ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FIGURES = (
    "bare_images_per_s",
    "train_images_per_s",
    "eval_images_per_s",
    "overhead_ratio",
    "vpt_to_ft_step_ratio",
    "peak_memory_bytes",
)
# Imported from the checked-out tree: with -c, sys.path[0] is the working directory, which is set to that tree.
RUNNER = "import sys, vptstudy; print('vptstudy from', vptstudy.__file__, file=sys.stderr); "
RUNNER += "from vptstudy.cli import main; sys.argv[0] = 'vptstudy'; main()"


def checkout(rev: str, into: Path) -> Path:
    """The folder holding ``rev``: the working tree for WORKTREE, else a detached git worktree under ``into``."""
    if rev == "WORKTREE":
        return ROOT
    tree = into / rev.replace("/", "_")
    subprocess.run(["git", "-C", str(ROOT), "worktree", "add", "--detach", str(tree), rev], check=True)
    return tree


def run_bench(tree: Path, bench_args: list[str], out: Path) -> list[dict[str, Any]]:
    """One `vptstudy bench` from ``tree``; its JSON rows."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    cmd = [sys.executable, "-c", RUNNER, "bench", *bench_args, "--out", str(out)]
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit(f"bench failed in {tree}:\n{done.stderr[-2000:]}")
    source = next(line for line in done.stderr.splitlines() if line.startswith("vptstudy from"))
    if not source.split()[-1].startswith(str(tree)):
        sys.exit(f"imported the wrong tree ({source}); expected {tree}")
    return json.loads(out.read_text())


def span(values: list[float], key: str) -> str:
    if not values:
        return "-"
    if key == "peak_memory_bytes":
        values = [v / 2**20 for v in values]
    lo, hi = min(values), max(values)
    spec = ".3f" if max(abs(lo), abs(hi)) < 10 else ",.0f"
    return format(lo, spec) if lo == hi else f"{format(lo, spec)}-{format(hi, spec)}"


def table(trials: dict[str, list[list[dict[str, Any]]]], labels: tuple[str, ...]) -> str:
    """A markdown table: per method and figure, each revision's range."""
    lines = ["| method | figure | " + " | ".join(labels) + " |", "|---|---|" + "---:|" * len(labels)]
    methods = [row["method"] for row in trials[labels[0]][0]]
    for i, method in enumerate(methods):
        for key in FIGURES:
            cells = [span([t[i][key] for t in trials[label] if t[i].get(key) is not None], key) for label in labels]
            if any(cell != "-" for cell in cells):
                name = "peak MB" if key == "peak_memory_bytes" else key
                lines.append(f"| {method} | {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", default=None, help="git revision measured first in each pair (optional)")
    parser.add_argument("--after", default="WORKTREE", help="git revision, or WORKTREE (default)")
    parser.add_argument("--trials", type=int, default=2)
    parser.add_argument("--json", default=None, help="write every trial here")
    parser.add_argument("bench_args", nargs=argparse.REMAINDER, help="-- then `vptstudy bench` options")
    args = parser.parse_args()
    bench_args = [a for a in args.bench_args if a != "--"]
    labels = (args.after,) if args.before is None else (args.before, args.after)
    if args.before == args.after:
        parser.error("--before and --after name the same revision")
    trials: dict[str, list[list[dict[str, Any]]]] = {label: [] for label in labels}
    with tempfile.TemporaryDirectory(prefix="vptstudy-ab-") as tmp:
        trees = {label: checkout(label, Path(tmp)) for label in labels}
        try:
            for t in range(args.trials):
                for k, label in enumerate(labels):
                    print(f"trial {t + 1}/{args.trials}: {label}", file=sys.stderr)
                    trials[label].append(run_bench(trees[label], bench_args, Path(tmp) / f"{t}-{k}.json"))
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False)
    print(table(trials, labels))
    if args.json:
        Path(args.json).write_text(json.dumps({"bench_args": bench_args, "trials": trials}, indent=1))


if __name__ == "__main__":
    main()
