"""``vptstudy bench --search``: successive halving against the full grid on the mini-study, from one set of runs.

The mini-study's setting (``studies/demo.toml``: toy-vit, its toy tasks, FT, VPT-deep, Mixed and FT-then-PT) with
each method's full lr x wd grid. Every candidate trains once, as the grid trains it, with val evaluated at every
epoch (evaluating does not change training). Halving is then replayed on those runs for each rung setting: a
halving candidate is the grid's run stopped at a rung, bit for bit (tests/test_halving.py), so the replay chooses
exactly what ``--search halving`` chooses. FT-then-PT borrows FT's choice in each mode: where halving picks another
FT lr/wd, FT-then-PT's candidates with that FT phase are trained as well. For each rung setting it reports:

- the fraction of the grid's training epochs that halving trains (a reused FT phase counts for neither);
- in how many units halving makes the grid's choice (FT-then-PT: the same lr/wd after the same FT phase);
- where it chooses differently, the final test accuracy of both choices (mean over the seeds, train+val).

Runs go through the study scheduler on ``workers`` local workers; a second call over the same folder reuses them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.executors import ExecutorSpec
from vptstudy.halving import successive_halving
from vptstudy.plan import plan, search_grid
from vptstudy.pools import open_pool
from vptstudy.rungs import DEFAULT_ETA, DEFAULT_RUNGS, rung_epochs
from vptstudy.scheduler import Await, Flow, Scheduler
from vptstudy.study import Study, load_study, with_run
from vptstudy.sweep import Board, Unit, borrow, borrowers, candidates, expand, finals, search_flow, with_borrowed

Callback = Callable[[str, dict[str, Any]], None]
Choice = tuple[float, float] | None
SETTINGS = ((10, 30), (20, 50), (30,), (10, 30, 60), (50,))  # rung settings compared (epochs of 100)
QUICK_TASKS = 2  # --quick: the mini-study's first two tasks, one weight decay (its own), the default rungs only
EVERY_EPOCH = list(range(1, 100))  # as rungs: val at every epoch, so any rung setting can be replayed


@dataclass(frozen=True)
class SearchBench:
    out_dir: str
    quick: bool = False
    tasks: tuple[str, ...] = ()  # default: the mini-study's (quick: its first two)
    methods: tuple[str, ...] = ()  # default: the mini-study's
    wds: tuple[float, ...] = ()  # default: each method's grid (quick: the mini-study's weight decay)
    settings: tuple[tuple[int, ...], ...] = ()  # default: SETTINGS (quick: the default rungs)
    eta: int = DEFAULT_ETA
    seeds: int = 2  # final seeds for the test-accuracy difference
    workers: int = 2
    run: tuple[tuple[str, Any], ...] = ()  # [run] values over the mini-study's (tests: a tiny model)


def bench_study(cfg: SearchBench) -> Study:
    """The mini-study with the full grids (quick: a smaller one), val at every epoch, writing under ``out_dir``."""
    from vptstudy.demo import STUDIES_DIR

    demo = load_study(STUDIES_DIR / "demo.toml")
    tasks = cfg.tasks or (demo.tasks[:QUICK_TASKS] if cfg.quick else demo.tasks)
    methods = cfg.methods or demo.methods
    wds = cfg.wds or (next(iter(demo.grid.values()))[1] if cfg.quick else ())
    grid = {m: (search_grid(m)[0], tuple(wds) or search_grid(m)[1]) for m in methods}
    study = dataclasses.replace(
        demo, name="halving-bench", tasks=tuple(tasks), methods=tuple(methods), grid=grid, search_mode="grid"
    )
    study = dataclasses.replace(study, seeds=demo.seeds[: cfg.seeds])
    return with_run(study, "bench --search", **{**dict(cfg.run), "out_dir": cfg.out_dir, "rungs": EVERY_EPOCH})


def _grid_flow(units: list[Unit], i: int, lenders: dict[str, int], board: Board) -> Flow:
    """A unit's grid search (after its lenders chose), without its finals; returns the choice."""
    if lenders:
        yield Await(lambda: all(j in board.chosen for j in lenders.values()))
        borrow(units, i, lenders, board)
    board.chosen[i] = yield from search_flow(units[i], i, board)
    return board.chosen[i]


def _train(configs: list[RunConfig]) -> Flow:
    return (yield configs)


def trained_epochs(cfg: RunConfig, upto: int | None = None) -> int:
    """Epochs this candidate trained itself (a reused FT phase excluded), up to global epoch ``upto``."""
    run = plan(cfg).run_dir
    rows = runs.read_metrics(run)
    reused = 0
    with contextlib.suppress(OSError, ValueError):
        reused = plan(cfg).phases[0].epochs if json.loads((run / runs.CONFIG).read_text()).get("reused") else 0
    done = len(rows) if upto is None else min(len(rows), upto)
    return max(0, done - reused)


def replay(unit: Unit, eta: int, rungs: tuple[int, ...]) -> tuple[Choice, int]:
    """Halving's choice on the unit's finished grid runs and the epochs it would have trained."""
    from vptstudy.sweep import select_best

    staged = [c.replace(rungs=rungs) for c in candidates(unit)]
    (outcome,) = successive_halving([staged], eta, lambda configs: [])  # every run is complete: read its curve
    epochs = 0
    for c in staged:
        stop = outcome.stopped.get((c.base_lr, c.weight_decay))
        epochs += trained_epochs(c, stop["stopped_at"] if stop else None)
    results = [runs.read_result(plan(c).run_dir) or {} for c in outcome.survivors]
    best, _ = select_best(outcome.survivors, results) if outcome.survivors else (None, [])
    return best, epochs


@dataclass
class Halved:
    """One unit's halving under one rung setting: the unit as searched (its borrowed phase), choice, epochs."""

    unit: Unit
    choice: Choice
    epochs: int


def _halve(
    setting: tuple[int, ...], units: list[Unit], base: list[Unit], links: dict[int, dict[str, int]], ctx: Any
) -> list[Halved]:
    """Every unit's halving choice under ``setting``; borrowers take their lenders' halving choices (their
    candidates with another FT phase are trained first)."""
    out: dict[int, Halved] = {}
    for i, unit in enumerate(units):
        if i not in links:
            out[i] = Halved(unit, *replay(unit, ctx.eta, setting))
    variants = {}
    for i, phases in links.items():
        lent = {ph: out[j].choice for ph, j in phases.items() if out[j].choice is not None}
        variants[i] = with_borrowed(base[i], lent)
    ctx.run([_train(candidates(v)) for i, v in variants.items() if v.base != units[i].base])
    for i, variant in variants.items():
        out[i] = Halved(variant, *replay(variant, ctx.eta, setting))
    return [out[i] for i in range(len(units))]


def _mean_test(results: list[dict[str, Any]]) -> float | None:
    accs = [r["final"]["test_acc"] for r in results if r.get("status") == "ok" and r["final"]["test_acc"] is not None]
    return statistics.fmean(accs) if accs else None


def _finals_where_different(units: list[Unit], grid: list[Choice], halved: dict[Any, list[Halved]], ctx: Any) -> dict:
    """Final test accuracy (mean over seeds) of the grid's and halving's choices, where they differ."""
    wanted: dict[tuple[Any, Choice], Unit] = {}
    for per_unit in halved.values():
        for i, h in enumerate(per_unit):
            if (h.unit.base, h.choice) != (units[i].base, grid[i]) and h.choice and grid[i]:
                wanted[(h.unit.base, h.choice)] = h.unit
                wanted[(units[i].base, grid[i])] = units[i]
    keys = list(wanted)
    results = ctx.run([_train(finals(wanted[k], *k[1])) for k in keys])
    return {k: _mean_test(r) for k, r in zip(keys, results, strict=True)}


@dataclass
class _Ctx:
    pool: Any
    callback: Callback
    eta: int

    def run(self, flows: list[Flow]) -> list[Any]:
        return Scheduler(self.pool, self.callback).run(flows)


def run_search_bench(cfg: SearchBench, callback: Callback | None = None) -> dict[str, Any]:
    """Train the grid, replay halving per rung setting, train the finals where choices differ; the figures."""
    callback = callback or (lambda event, info: None)
    start = time.perf_counter()
    units = expand(bench_study(cfg))
    base, links = list(units), borrowers(units)
    settings = cfg.settings or ((DEFAULT_RUNGS,) if cfg.quick else SETTINGS)
    with open_pool(ExecutorSpec(workers=cfg.workers), callback) as pool:
        ctx = _Ctx(pool, callback, cfg.eta)
        board = Board()
        callback("stage", {"name": "grid", "runs": sum(len(candidates(u)) for u in units), "units": len(units)})
        grid = ctx.run([_grid_flow(units, i, links.get(i, {}), board) for i in range(len(units))])
        callback("stage", {"name": "halving replay and finals", "runs": 0, "units": len(units)})
        halved = {s: _halve(s, units, base, links, ctx) for s in settings}
        accs = _finals_where_different(units, grid, halved, ctx)
    rows = []
    for i, unit in enumerate(units):
        row: dict[str, Any] = {
            "unit": unit.label,
            "configs": len(candidates(unit)),
            "grid": grid[i],
            "grid_epochs": sum(trained_epochs(c) for c in candidates(unit)),
            "diverged": sum(bool((runs.read_result(plan(c).run_dir) or {}).get("diverged")) for c in candidates(unit)),
            "grid_test_acc": accs.get((unit.base, grid[i])),
            "halving": {},
        }
        for s, per_unit in halved.items():
            h = per_unit[i]
            same = (h.unit.base, h.choice) == (unit.base, grid[i])
            borrowed = {k: v for k, v in h.unit.base.method_options if k.endswith(("_lr", "_wd"))}
            row["halving"][_key(s)] = {
                "choice": h.choice,
                "epochs": h.epochs,
                "same": same,
                "test_acc": None if same else accs.get((h.unit.base, h.choice)),
                **({"borrowed": borrowed} if borrowed else {}),
            }
        rows.append(row)
    epochs = plan(candidates(units[0])[0]).phases[-1].epochs if units else 0
    at = {_key(s): list(rung_epochs(s, epochs)) for s in settings}  # where the rungs fall in this schedule
    return {
        "settings": list(at),
        "rung_epochs": at,
        "epochs": epochs,
        "units": rows,
        "seconds": time.perf_counter() - start,
    }


def _key(setting: tuple[int, ...]) -> str:
    return ",".join(map(str, setting))


def table(figures: dict[str, Any]) -> str:
    """Markdown: per rung setting, the epochs halving used, units with the grid's choice, and the test-accuracy
    difference (halving - grid, points) where the choice differs."""
    rows = figures["units"]
    grid_epochs = sum(r["grid_epochs"] for r in rows)
    lines = [
        "| rungs (of 100) | epochs used | same choice | test acc diff where different (points) |",
        "|---|---:|---:|---|",
    ]
    for key in figures["settings"]:
        used = sum(r["halving"][key]["epochs"] for r in rows)
        same = sum(r["halving"][key]["same"] for r in rows)
        diffs = []
        for r in rows:
            h = r["halving"][key]
            if not h["same"]:
                gap = "n/a" if h["test_acc"] is None or r["grid_test_acc"] is None else _points(h, r)
                diffs.append(f"{r['unit']}: {gap}")
        fraction = f"{used}/{grid_epochs} = {used / grid_epochs:.1%}" if grid_epochs else "-"
        at = figures.get("rung_epochs", {}).get(key)
        where = f" (epochs {','.join(map(str, at))} of {figures['epochs']})" if at is not None else ""
        lines.append(f"| {key}{where} | {fraction} | {same}/{len(rows)} | {'; '.join(diffs) or '-'} |")
    return "\n".join(lines)


def _points(h: dict[str, Any], row: dict[str, Any]) -> str:
    return f"{100 * (h['test_acc'] - row['grid_test_acc']):+.1f}"


def write(figures: dict[str, Any], path: Path) -> None:
    runs.atomic_write_json(path, json.loads(json.dumps(figures, default=list)))
