"""Successive halving over a unit's lr x wd grid: every epoch trained is an epoch of the full grid's runs.

Every candidate trains on the full schedule (the same warm-up and cosine as in the grid) but pauses at the rung
epochs (:mod:`vptstudy.rungs`; in the searched, last phase). At each rung the top ``max(1, n // eta)`` of the ``n``
candidates that reached it, by val top-1 at that epoch (ties to the smaller lr, then the smaller wd, as the grid's
rule), continue from their checkpoint; the others stay paused, marked ``stopped at epoch k``. The survivors of the
last rung train to the end and the grid's rule picks among them. A survivor's run is the grid's run, bit for bit:
only stopping differs, so halving chooses what the grid chooses whenever the grid's winner survives every rung.

Paused runs stay resumable: a later ``--search grid`` over the same folder continues them to the end. A rung is a
barrier for the candidates of one stage of a study (all units searched together), not across stages.
"""

from __future__ import annotations

from collections.abc import Callable
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
    return max(1, entered // eta)


def rank_key(score: float, cfg: RunConfig) -> tuple[float, float, float]:
    """The grid's order: higher val first; ties to the smaller lr, then the smaller wd."""
    return (-score, float(cfg.base_lr or 0.0), float(cfg.weight_decay or 0.0))


def successive_halving(groups: list[list[RunConfig]], eta: int, train: Train) -> list[Outcome]:
    """Run each group's (a unit's candidates) rungs; ``train`` runs a list of configs to their ``stop_epoch``.

    All groups' candidates of one rung level train in one ``train`` call. Returns, per group, the survivors of
    the last rung (as plain configs: the caller trains them to the end) and the stopped candidates.
    """
    alive = [list(g) for g in groups]
    outcomes = [Outcome(survivors=[]) for _ in groups]
    levels = [stop_epochs(g[0]) if g else [] for g in groups]
    for level in range(max((len(lv) for lv in levels), default=0)):
        batch = [
            c.replace(stop_epoch=levels[g][level])
            for g in range(len(groups))
            if level < len(levels[g])
            for c in alive[g]
        ]
        train(batch)
        for g in range(len(groups)):
            if level >= len(levels[g]):
                continue
            epoch = levels[g][level]
            scores = [(val_at(c, epoch), c) for c in alive[g]]
            ranked = sorted(((v, c) for v, c in scores if v is not None), key=lambda vc: rank_key(*vc))
            kept = {id(c) for _, c in ranked[: keep_count(len(alive[g]), eta)]}
            for v, c in scores:
                if id(c) not in kept and v is not None:
                    outcomes[g].stopped[(c.base_lr, c.weight_decay)] = {"stopped_at": epoch, "rung_val_acc": v}
            outcomes[g].rungs.append({"epoch": epoch, "entered": len(alive[g]), "kept": len(kept)})
            alive[g] = [c for c in alive[g] if id(c) in kept]
    for g, outcome in enumerate(outcomes):
        outcome.survivors = alive[g]
    return outcomes


def stopped_result(cfg: RunConfig, info: dict[str, Any]) -> dict[str, Any]:
    """What the search table shows for a candidate halving stopped (never chosen: it did not finish)."""
    return {
        "status": "stopped",
        "reason": f"stopped at epoch {info['stopped_at']} (successive halving; val top-1 {info['rung_val_acc']:.4f})",
        "stopped_at": info["stopped_at"],
        "run_dir": str(plan(cfg).run_dir),
    }
