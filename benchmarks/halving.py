"""Successive halving against the full grid on the mini-study: epochs used, same choice, test-accuracy difference.

Runs every candidate of every (task, method) unit of the mini-study (studies/demo.toml's setting: toy-vit, toy
tasks, FT, VPT-deep, Mixed and FT-then-PT) on the full lr x wd grid, once, with val evaluated at every epoch. Then
for each rung setting it runs :func:`vptstudy.halving.successive_halving` over those runs: a halving candidate is
the grid's run stopped at a rung (bit-identical, tests/test_halving.py), so its val at a rung is the grid run's val
at that epoch and halving's choice is exactly the one a real ``--search halving`` makes. It reports, per setting:

- the fraction of the grid's training epochs halving trains (FT-then-PT's FT phase is reused in both modes);
- in how many units halving chooses the grid's configuration;
- where it chooses differently, the final test accuracy of both choices (mean over ``--seeds``, train+val).

    nice -n 10 python benchmarks/halving.py --out /tmp/halving-bench --tasks toy/digits,toy/count --wds 0.0001

Prints a markdown table and writes ``--json``. On a shared 2-core CPU use ``--threads 1``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from vptstudy import runs
from vptstudy.executors import run_one
from vptstudy.halving import successive_halving
from vptstudy.plan import plan
from vptstudy.study import parse_study
from vptstudy.sweep import Unit, borrowers, candidates, expand, finals, select_best, with_borrowed

DEFAULT_SETTINGS = "10,30;20,50;30;10,30,60"


def _study(args: argparse.Namespace) -> dict[str, Any]:
    run = {
        "model": "toy-vit",
        "train_size": args.train_size,
        "epochs": args.epochs,
        "batch_size": 32,
        "num_prompts": 10,
        "test_subsample": 200,
        "device": "cpu",
        "out_dir": str(args.out),
        "rungs": list(range(1, 100)),  # val at every epoch: any rung setting can be replayed from the curves
    }
    data: dict[str, Any] = {
        "name": "halving-bench",
        "kind": "search",
        "tasks": args.tasks.split(","),
        "methods": args.methods.split(","),
        "seeds": [int(s) for s in args.seeds.split(",")],
        "run": run,
    }
    if args.wds:
        from vptstudy.plan import search_grid

        wds = [float(w) for w in args.wds.split(",")]
        data["grid"] = {m: {"lr": list(search_grid(m)[0]), "wd": wds} for m in data["methods"]}
    return data


def _trained_epochs(cfg: Any, upto: int | None = None) -> int:
    """Epochs this candidate trained itself (reused FT-phase epochs excluded), up to global epoch ``upto``."""
    run = plan(cfg).run_dir
    rows = runs.read_metrics(run)
    reused = 0
    try:
        link = json.loads((run / runs.CONFIG).read_text()).get("reused")
        reused = plan(cfg).phases[0].epochs if link else 0
    except OSError:
        pass
    done = len(rows) if upto is None else min(len(rows), upto)
    return max(0, done - reused)


def _grid(unit: Unit) -> tuple[tuple[float, float] | None, list[Any], list[dict[str, Any]]]:
    cands = candidates(unit)
    results = [run_one(c) for c in cands]
    best, _ = select_best(cands, results)
    return best, cands, results


def _halving(cands: list[Any], eta: int, rungs: tuple[int, ...]) -> tuple[tuple[float, float] | None, int]:
    staged = [c.replace(rungs=rungs) for c in cands]
    (outcome,) = successive_halving([staged], eta, lambda configs: [])  # every run is complete: replay its curve
    epochs = sum(
        _trained_epochs(c, info["stopped_at"])
        for c in staged
        if (info := outcome.stopped.get((c.base_lr, c.weight_decay)))
    )
    epochs += sum(_trained_epochs(c) for c in staged if (c.base_lr, c.weight_decay) not in outcome.stopped)
    survivors = outcome.survivors
    results = [runs.read_result(plan(c).run_dir) or {} for c in survivors]
    best, _ = select_best(survivors, results) if survivors else (None, [])
    return best, epochs


def _final_acc(unit: Unit, choice: tuple[float, float]) -> float | None:
    accs = [
        r["final"]["test_acc"]
        for r in (run_one(c) for c in finals(unit, *choice))
        if r.get("status") == "ok" and r["final"]["test_acc"] is not None
    ]
    return statistics.fmean(accs) if accs else None


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--tasks", default="toy/shapes-new,toy/digits,toy/count,toy/sprites-orientation")
    ap.add_argument("--methods", default="ft,vpt-deep,mixed,ft-then-pt")
    ap.add_argument("--wds", default="", help="weight decays (default: the full grid)")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--train-size", type=int, default=160)
    ap.add_argument("--seeds", default="42,43", help="final seeds for the test-accuracy difference")
    ap.add_argument("--settings", default=DEFAULT_SETTINGS, help="rung settings (epochs of 100), ';'-separated")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    settings = [tuple(int(x) for x in s.split(",")) for s in args.settings.split(";")]
    units = expand(parse_study(_study(args)))
    links = borrowers(units)
    order = list(range(len(units)))  # task-major; a lender (FT) comes before its borrower (FT-then-PT)
    grid_choice: dict[int, tuple[float, float] | None] = {}
    rows: list[dict[str, Any]] = []
    t0 = time.perf_counter()
    for i in order:
        unit = units[i]
        if i in links:
            lent = {ph: grid_choice[j] for ph, j in links[i].items() if grid_choice.get(j) is not None}
            unit = units[i] = with_borrowed(unit, lent)
        best, cands, results = _grid(unit)
        grid_choice[i] = best
        row: dict[str, Any] = {
            "unit": unit.label,
            "configs": len(cands),
            "grid": best,
            "grid_epochs": sum(_trained_epochs(c) for c in cands),
            "diverged": sum(bool(r.get("diverged")) for r in results),
            "halving": {},
        }
        for rungs in settings:
            choice, epochs = _halving(cands, args.eta, rungs)
            res = {"choice": choice, "epochs": epochs}
            if choice != best and choice is not None and best is not None:  # the final test accuracy of both
                res["test_acc"] = _final_acc(unit, choice)
                row["grid_test_acc"] = row.get("grid_test_acc") or _final_acc(unit, best)
            row["halving"][",".join(map(str, rungs))] = res
        rows.append(row)
        print(f"[{time.perf_counter() - t0:.0f}s] {json.dumps(row, default=str)}", flush=True)
        if args.json:
            args.json.write_text(
                json.dumps({"args": vars(args) | {"out": str(args.out)}, "units": rows}, indent=1, default=str)
            )
    print(table(rows, settings))


def table(rows: list[dict[str, Any]], settings: list[tuple[int, ...]]) -> str:
    """Markdown: per rung setting, epochs used, same choice, test-accuracy differences where it differs."""
    grid_epochs = sum(r["grid_epochs"] for r in rows)
    lines = [
        "| rungs (of 100) | epochs used | same choice | test acc diff where different (points) |",
        "|---|---:|---:|---|",
    ]
    for rungs in settings:
        key = ",".join(map(str, rungs))
        used = sum(r["halving"][key]["epochs"] for r in rows)
        same = sum(r["halving"][key]["choice"] == r["grid"] for r in rows)
        diffs = [
            f"{r['unit']}: {100 * (r['halving'][key]['test_acc'] - r['grid_test_acc']):+.1f}"
            for r in rows
            if r["halving"][key].get("test_acc") is not None and r.get("grid_test_acc") is not None
        ]
        lines.append(
            f"| {key} | {used}/{grid_epochs} = {used / grid_epochs:.1%} | {same}/{len(rows)} | "
            f"{'; '.join(diffs) or '-'} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    main()
