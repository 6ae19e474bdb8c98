"""Successive halving over a unit's lr x wd grid: every epoch trained is an epoch of the full grid's runs.

Every candidate trains on the full schedule (the same warm-up and cosine as in the grid) but pauses at the rung
epochs (:mod:`vptstudy.rungs`; in the searched, last phase). At each rung the top ``ceil(n / eta)`` of the ``n``
candidates that reached it, by val top-1 at that epoch (ties to the smaller lr, then the smaller wd, as the grid's
rule), continue from their checkpoint; the others stay paused, marked ``stopped at epoch k``. The survivors of the
last rung train to the end and the grid's rule picks among them. A survivor's run is the grid's run, bit for bit:
only stopping differs, so halving chooses what the grid chooses whenever the grid's winner survives every rung.

Paused runs stay resumable: a later ``--search grid`` over the same folder continues them to the end. A rung is a
barrier only within its unit (:func:`halving_steps`): a study's scheduler (:mod:`vptstudy.scheduler`) starts a
unit's next rung as soon as that unit's runs reach the current one, while other units' runs keep the workers busy.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.plan import plan
from vptstudy.rungs import DEFAULT_RUNGS, rung_epochs

SEARCHES = ("grid", "halving")
Train = Callable[[list[RunConfig]], list[dict[str, Any]]]


@dataclass
class Outcome:
    """One unit's halving: who survived every rung, who stopped where (and its val there), each rung's counts."""

    survivors: list[RunConfig]
    stopped: dict[tuple[float, float], dict[str, Any]] = field(default_factory=dict)
    rungs: list[dict[str, Any]] = field(default_factory=list)


def stop_epochs(cfg: RunConfig) -> list[int]:
    """The global epochs at which a candidate like ``cfg`` pauses: its rungs, inside its last (searched) phase."""
    p = plan(cfg)
    offset = sum(ph.epochs for ph in p.phases[:-1])
    return [offset + e for e in rung_epochs(cfg.rungs or DEFAULT_RUNGS, p.phases[-1].epochs)]


def val_at(cfg: RunConfig, epoch: int) -> float | None:
    """A candidate's val top-1 at ``epoch`` from its metrics (None: not evaluated there, or it failed at or before
    that epoch). A run that failed later was alive at ``epoch``: the answer does not depend on how far it went."""
    run = plan(cfg).run_dir
    result = runs.read_result(run)
    rows = runs.read_metrics(run)
    if result is not None and result.get("status") != "ok" and epoch >= len(rows):
        return None
    for row in rows:
        if row.get("epoch") == epoch:
            value = row.get("val_acc")
            return float(value) if isinstance(value, int | float) else None
    return None


def keep_count(entered: int, eta: int) -> int:
    """How many of ``entered`` candidates go on from a rung: the top ``ceil(entered / eta)``.

    The ceiling, not ``entered // eta``: a small grid keeps a margin (4 -> 2 -> 1, not 4 -> 1). On the study's
    40-configuration grid with rungs 10 and 30 of 100 and eta 3 it trains 40 -> 14 -> 5 candidates, 1,030 of the
    grid's 4,000 epochs (25.75%; the floor's 40 -> 13 -> 4 trained 940, 23.5%).
    """
    return max(1, -(-entered // eta))


def rank_key(score: float, cfg: RunConfig) -> tuple[float, float, float]:
    """The grid's order: higher val first; ties to the smaller lr, then the smaller wd."""
    return (-score, float(cfg.base_lr or 0.0), float(cfg.weight_decay or 0.0))


def scheduled_epochs(configs: int, eta: int, rungs: tuple[int, ...], epochs: int) -> int:
    """Epochs a halving search of ``configs`` candidates trains when none diverges (rungs in epochs of ``epochs``)."""
    total, alive, previous = 0, configs, 0
    for rung in rungs:
        total += alive * (rung - previous)
        alive, previous = keep_count(alive, eta), rung
    return total + alive * (epochs - previous)


def halving_steps(candidates: list[RunConfig], eta: int) -> Generator[list[RunConfig], Any, Outcome]:
    """One unit's successive halving, one rung at a time: yields the runs of each rung (each to its stop epoch);
    once the caller has run them, the survivors are picked from their val at that rung (read from the runs)."""
    outcome = Outcome(survivors=[])
    alive = list(candidates)
    for epoch in stop_epochs(candidates[0]) if candidates else []:
        yield [c.replace(stop_epoch=epoch) for c in alive]
        scores = [(val_at(c, epoch), c) for c in alive]
        ranked = sorted(((v, c) for v, c in scores if v is not None), key=lambda vc: rank_key(*vc))
        kept = {id(c) for _, c in ranked[: keep_count(len(alive), eta)]}
        for v, c in scores:
            if id(c) not in kept and v is not None:
                outcome.stopped[(c.base_lr, c.weight_decay)] = {"stopped_at": epoch, "rung_val_acc": v}
        outcome.rungs.append({"epoch": epoch, "entered": len(alive), "kept": len(kept)})
        alive = [c for c in alive if id(c) in kept]
    outcome.survivors = alive
    return outcome


def successive_halving(groups: list[list[RunConfig]], eta: int, train: Train) -> list[Outcome]:
    """Every group's (a unit's candidates) rungs in lock step: ``train`` runs a list of configs to their
    ``stop_epoch``, one call per rung level for all groups together (a barrier across groups, as a sequential
    reference; studies schedule each unit's rungs on their own, :mod:`vptstudy.scheduler`). Returns, per group,
    the survivors of the last rung (as plain configs: the caller trains them to the end) and the stopped ones."""
    steps = [halving_steps(g, eta) for g in groups]
    outcomes: list[Outcome | None] = [None] * len(groups)
    batches: dict[int, list[RunConfig]] = {}
    for g, step in enumerate(steps):
        _advance(g, step, batches, outcomes)
    while batches:
        train([c for batch in batches.values() for c in batch])
        for g in list(batches):
            del batches[g]
            _advance(g, steps[g], batches, outcomes)
    return [o for o in outcomes if o is not None]


def _advance(g: int, step: Generator, batches: dict[int, list[RunConfig]], outcomes: list[Outcome | None]) -> None:
    try:
        batches[g] = next(step)
    except StopIteration as done:
        outcomes[g] = done.value


def stopped_result(cfg: RunConfig, info: dict[str, Any]) -> dict[str, Any]:
    """What the search table shows for a candidate halving stopped (never chosen: it did not finish)."""
    return {
        "status": "stopped",
        "reason": f"stopped at epoch {info['stopped_at']} (successive halving; val top-1 {info['rung_val_acc']:.4f})",
        "stopped_at": info["stopped_at"],
        "run_dir": str(plan(cfg).run_dir),
    }
