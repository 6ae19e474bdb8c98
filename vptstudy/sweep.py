"""Expand a study into runs, search lr x wd on val, and run the final seeds: the paper's protocol at scale.

A study expands into units, one per (task, method, data regime). A searched unit trains every lr x wd candidate
on the tuning split with the first seed, picks the best by last-epoch val top-1 (ties go to the smaller lr, then
the smaller wd), writes ``search.json`` next to its candidates, then trains the final seeds on train+val and
evaluates on test. A fixed unit goes straight to its final seeds with the study's (or the method's) lr/wd. Each
unit runs as a flow of its own on one scheduler (:mod:`vptstudy.scheduler`), so no unit waits for another's runs
unless it borrows its choice.

Several drivers may run one study at once (a resubmitted job while the old one still runs): they share the runs
through the run locks, and a unit's choice is made only once *every* candidate has finished; a driver waits for the
candidates another one is training, never choosing from a subset, so all drivers make the same choice. ``search.json``
is written under a lock, once (a driver that finds the same record leaves it alone).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vptstudy import damaged, locks, runs
from vptstudy.config import RunConfig
from vptstudy.executors import ExecutorSpec, collect
from vptstudy.halving import halving_steps, stopped_result
from vptstudy.methods import get_method
from vptstudy.plan import fixed_hparams, plan, search_grid
from vptstudy.pools import open_pool
from vptstudy.rungs import DEFAULT_ETA
from vptstudy.scheduler import Await, Flow, Scheduler
from vptstudy.study import Study

Callback = Callable[[str, dict[str, Any]], None]


@dataclass(frozen=True)
class Unit:
    """One (task, method, regime) of a study: a base config (regime fields set), its grid or fixed lr/wd."""

    base: RunConfig
    lrs: tuple[float, ...]
    wds: tuple[float, ...]
    fixed: tuple[float, float]
    search: bool
    seeds: tuple[int, ...]
    mode: str = "grid"  # how a searched unit searches: "grid" or "halving" (vptstudy.halving)
    eta: int = DEFAULT_ETA

    @property
    def label(self) -> str:
        b = self.base
        shots = f"{b.shots}-shot {'study split' if b.shots_protocol == 'study' else 'draw'} {b.split_seed}"
        regime = shots if b.shots else (f"n={b.train_size}" if b.train_size else "")
        return " ".join(x for x in (b.task, b.method, regime) if x)


def _regimes(study: Study) -> list[dict[str, Any]]:
    if study.kind == "datasize":
        return [{"train_size": n, "split_seed": s} for n in study.sizes for s in study.split_seeds]
    if study.kind == "oneshot":
        return [
            {"shots": study.shots, "split_seed": d, "shots_protocol": study.shots_protocol} for d in range(study.draws)
        ]
    return [{}]


def expand(study: Study) -> list[Unit]:
    """Every unit of a study, in task, method, regime order."""
    units = []
    for task in study.tasks:
        for method_name in study.methods:
            lrs, wds = study.grid.get(method_name) or search_grid(method_name)
            fixed = study.fixed.get(method_name) or fixed_hparams(method_name)
            search = study.search if study.kind != "search" else True
            for regime in _regimes(study):
                base = RunConfig(
                    task=task,
                    method=method_name,
                    study=study.name,
                    seed=study.seeds[0],
                    **{**study.run_for(method_name), **regime},
                )
                mode = (study.search_mode, study.eta)
                units.append(Unit(base, tuple(lrs), tuple(wds), fixed, search, study.seeds, *mode))
    return units


def candidates(unit: Unit) -> list[RunConfig]:
    """The tuning runs of a searched unit: every lr x wd on the tuning split, first seed."""
    return [unit.base.replace(split="tune", base_lr=lr, weight_decay=wd) for lr in unit.lrs for wd in unit.wds]


def finals(unit: Unit, lr: float, wd: float) -> list[RunConfig]:
    """The final runs: train+val, one per seed, evaluated on test."""
    return [unit.base.replace(split="final", base_lr=lr, weight_decay=wd, seed=s) for s in unit.seeds]


def select_best(
    configs: list[RunConfig], results: list[dict[str, Any]]
) -> tuple[tuple[float, float] | None, list[dict[str, Any]]]:
    """The best (lr, wd) by last-epoch val accuracy, ties to smaller lr then smaller wd; and every score."""
    table = []
    for cfg, res in zip(configs, results, strict=True):
        val = (res.get("final") or {}).get("val_acc") if res.get("status") == "ok" else None
        table.append(
            {
                "lr": cfg.base_lr,
                "wd": cfg.weight_decay,
                "val_acc": val,
                "status": res.get("status"),
                "reason": res.get("reason"),
                "run_dir": res.get("run_dir"),
            }
        )
    scored = [row for row in table if row["val_acc"] is not None]
    if not scored:
        return None, table
    best = min(scored, key=lambda r: (-r["val_acc"], r["lr"], r["wd"]))
    return (best["lr"], best["wd"]), table


def search_file(unit: Unit) -> Path:
    """``search.json`` sits in the split folder of the unit's tuning runs."""
    return plan(candidates(unit)[0]).run_dir.parent.parent / "search.json"


def _regime_key(cfg: RunConfig) -> tuple[Any, ...]:
    return (cfg.task, cfg.train_size, cfg.shots, cfg.split_seed)


def borrowers(units: list[Unit]) -> dict[int, dict[str, int]]:
    """``{i: {phase: j}}``: unit ``i`` has a phase that borrows unit ``j``'s chosen lr/wd (see ``Phase.borrow``).

    Only when the study runs the borrowed method on the same task and data regime, and does not set
    ``<phase>_lr``/``<phase>_wd`` for the borrowing method itself.
    """
    index = {(u.base.method, _regime_key(u.base)): j for j, u in enumerate(units)}
    links: dict[int, dict[str, int]] = {}
    for i, unit in enumerate(units):
        options = dict(unit.base.method_options)
        for phase in get_method(unit.base.method).phases:
            j = index.get((phase.borrow, _regime_key(unit.base)))
            if j is not None and not {f"{phase.name}_lr", f"{phase.name}_wd"} & options.keys():
                links.setdefault(i, {})[phase.name] = j
    return {i: phases for i, phases in links.items() if not set(phases.values()) & links.keys()}  # no chains


def with_borrowed(unit: Unit, hparams: dict[str, tuple[float, float]]) -> Unit:
    """The unit with each borrowing phase's lr/wd set as method options ``<phase>_lr``/``<phase>_wd``."""
    options = dict(unit.base.method_options)
    for phase, (lr, wd) in hparams.items():
        options.update({f"{phase}_lr": lr, f"{phase}_wd": wd})
    return replace(unit, base=unit.base.replace(method_options=tuple(sorted(options.items()))))


def _set_aside_if_damaged(path: Path) -> None:
    """A damaged ``search.json`` is kept in ``rejected/`` beside it rather than silently overwritten."""
    if path.is_file():
        try:
            damaged.read_json_object(path)
        except damaged.CorruptFile:
            damaged.set_aside([path])


def record_choice(
    unit: Unit, best: tuple[float, float] | None, table: list[dict[str, Any]], extra: dict[str, Any] | None = None
) -> None:
    """Write the unit's ``search.json`` under a lock, unless it already holds this very record."""
    path = search_file(unit)
    record = {
        "task": unit.base.task,
        "method": unit.base.method,
        "regime": unit.label,
        "rule": "max last-epoch val top-1; ties to smaller lr, then smaller wd",
        "method_options": dict(unit.base.method_options),
        "chosen": None if best is None else {"lr": best[0], "wd": best[1]},
        "candidates": table,
        **(extra or {}),
    }
    if _holds(path, record):
        return  # nothing to write, so nothing to lock: a finished study reruns from a read-only folder
    with locks.held(path.with_name(path.name + ".lock")):
        if not _holds(path, record):
            _set_aside_if_damaged(path)
            runs.atomic_write_json(path, record)


def _holds(path: Path, record: dict[str, Any]) -> bool:
    try:
        return path.read_bytes() == runs.json_bytes(record)
    except OSError:
        return False


@dataclass
class Board:
    """What a study's units tell each other: each one's choice, whose finals are done, notes for the summary."""

    chosen: dict[int, tuple[float, float] | None] = field(default_factory=dict)
    finals_done: set[int] = field(default_factory=set)
    notes: dict[int, str] = field(default_factory=dict)


def search_flow(unit: Unit, i: int, board: Board) -> Flow:
    """A searched unit's candidates (halving: rung by rung), its choice recorded in ``search.json``; returns it.

    The choice is made from every candidate's final result: the scheduler waits for candidates another driver is
    training, never leaving them out, so all drivers make the same choice.
    """
    cands = candidates(unit)
    outcome = (yield from halving_steps(cands, unit.eta)) if unit.mode == "halving" else None
    tuned = outcome.survivors if outcome else cands
    tuned_results = yield tuned
    by_dir = {plan(c).run_dir: r for c, r in zip(tuned, tuned_results, strict=True)}
    results = []
    for c in cands:
        stop = outcome.stopped.get((c.base_lr, c.weight_decay)) if outcome else None
        results.append(stopped_result(c, stop) if stop else by_dir.get(plan(c).run_dir) or collect(c))
    best, table = select_best(cands, results)
    for row, res in zip(table, results, strict=True):
        if "stopped_at" in res:
            row["stopped_at"] = res["stopped_at"]
    if best is None:
        reasons = {row["reason"] for row in table if row["reason"]}
        board.notes[i] = "no candidate finished: " + "; ".join(sorted(reasons))[:300]
    extra = {"search": "halving", "eta": unit.eta, "rungs": outcome.rungs} if outcome else {}
    record_choice(unit, best, table, extra)
    return best


def borrow(units: list[Unit], i: int, phases: dict[str, int], board: Board) -> None:
    """Give unit ``i``'s borrowing phases their lenders' choices (a lender that chose nothing: the fixed lr/wd)."""
    lent = {phase: board.chosen[j] for phase, j in phases.items() if board.chosen[j] is not None}
    units[i] = with_borrowed(units[i], lent)
    method = {ph: units[j].base.method for ph, j in phases.items()}
    borrowed = [f"{ph} phase lr={lr:g} wd={wd:g} from {method[ph]}" for ph, (lr, wd) in lent.items()]
    missing = [f"{ph} phase: {method[ph]} chose nothing, fixed lr/wd" for ph in phases if ph not in lent]
    board.notes[i] = "; ".join(borrowed + missing)


def unit_flow(units: list[Unit], i: int, lenders: dict[str, int], board: Board) -> Flow:
    """One unit from start to summary: (after its lenders chose) its search or fixed lr/wd, then its final seeds.

    A borrower's finals wait for its lenders' finals: FT-then-PT's final run then starts from the FT run's end
    (:mod:`vptstudy.reuse`) instead of training the FT phase again.
    """
    if lenders:
        yield Await(lambda: all(j in board.chosen for j in lenders.values()))
        borrow(units, i, lenders, board)
    unit = units[i]
    best = (yield from search_flow(unit, i, board)) if unit.search else unit.fixed
    board.chosen[i] = best
    results: list[dict[str, Any]] = []
    if best is not None:
        yield Await(lambda: all(j in board.finals_done for j in lenders.values()))
        results = yield finals(unit, *best)
    board.finals_done.add(i)
    skipped = {r.get("reason") for r in results if r.get("status") == "skipped"}
    note = "; ".join(x for x in [board.notes.get(i, ""), *sorted(s for s in skipped if s)] if x)
    return {
        "unit": unit.label,
        "task": unit.base.task,
        "method": unit.base.method,
        "chosen": best,
        "results": results,
        "note": note,
    }


def run_study(study: Study, spec: ExecutorSpec | None = None, callback: Callback | None = None) -> list[dict[str, Any]]:
    """Run a whole study; returns one summary per unit (chosen lr/wd, final results, notes).

    Every unit is a flow of its own (:func:`unit_flow`) on one scheduler: a unit's next rung, its survivors' last
    epochs and its final runs start as soon as its own previous runs are done, whatever other units are doing.
    Units whose phases borrow another unit's choice (FT-then-PT's FT phase takes FT's lr/wd) start once it is made.
    """
    return run_studies([study], spec, callback)[0]


def run_studies(
    studies: list[Study], spec: ExecutorSpec | None = None, callback: Callback | None = None
) -> list[list[dict[str, Any]]]:
    """Run several studies on one pool and one scheduler; returns each study's summaries, as :func:`run_study`.

    Workers start once, and a later study's runs fill the slots an earlier study leaves idle while its units wait
    for their own search to finish. Units borrow choices only within their own study.
    """
    spec = spec or ExecutorSpec()
    callback = callback or (lambda event, info: None)
    flows: list[Flow] = []
    sizes: list[int] = []
    planned = 0
    for study in studies:
        units = expand(study)
        links = borrowers(units)
        board = Board()
        planned += sum(len(candidates(u)) * u.search + len(u.seeds) for u in units)
        flows += [unit_flow(units, i, links.get(i, {}), board) for i in range(len(units))]
        sizes.append(len(units))
    callback("stage", {"name": "search and final runs", "runs": planned, "units": len(flows)})
    with open_pool(spec, callback) as pool:
        summaries = Scheduler(pool, callback).run(flows)
    starts = [sum(sizes[:k]) for k in range(len(sizes) + 1)]
    return [summaries[a:b] for a, b in itertools.pairwise(starts)]
