"""``--dry-run``: the plans a command or study would run, how many runs there are and how many are finished, and the
images they would process; nothing is trained or written.

Final runs of a searched unit whose search has not finished are planned at the method's default lr/wd (their lr is
the search's choice); their count and cost do not depend on it. Image counts come from the data regime (VTAB-1k
800/200, ``train_size`` N with N/4 val, ``shots`` k per class) and the test list's length where the data is
present; a final run whose test size is unknown counts its per-epoch test subsample only and is reported as such.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.plan import RunPlan, plan

DEFAULT_REGIME = (800, 200)  # VTAB-1k and the toy tasks: train800 / val200


@dataclass(frozen=True)
class PlannedRun:
    """One run of a dry run: its plan, stage (tune / final), whether it is finished and its image counts."""

    plan: RunPlan
    stage: str
    complete: bool
    train_images: int
    eval_images: int
    test_known: bool


def _test_size(cfg: RunConfig) -> int | None:
    """The test set's size without decoding anything: toy tasks by construction, VTAB-1k folders by list length."""
    from vptstudy.data import TASKS
    from vptstudy.data.toy_tasks import TEST_SIZE

    spec = TASKS.get(cfg.task)
    if spec is None:
        return None
    if cfg.task == "toy/digits":
        return 797
    if spec.group == "toy":
        return TEST_SIZE
    folder = spec.data_dir(cfg) if spec.data_dir is not None else None
    test_list = folder / "test.txt" if folder is not None else None
    if test_list is not None and test_list.is_file():
        with test_list.open("rb") as handle:
            return sum(1 for line in handle if line.strip())
    return None


def _num_classes(cfg: RunConfig) -> int | None:
    from vptstudy.data import TASKS

    spec = TASKS.get(cfg.task)
    return spec.num_classes if spec is not None else None


def _train_val(cfg: RunConfig) -> tuple[int, int]:
    """(train, val) images of a run's regime; ``final`` trains on both and has no val."""
    if cfg.shots is not None:
        k = cfg.shots * (_num_classes(cfg) or 0)
        train, val = k, k
    elif cfg.train_size is not None:
        train, val = cfg.train_size, cfg.train_size // 4
    else:
        train, val = DEFAULT_REGIME
    return (train + val, 0) if cfg.split == "final" else (train, val)


def planned(p: RunPlan, stage: str) -> PlannedRun:
    """A run's cost: images trained on (every epoch of every phase) and evaluated, as :mod:`vptstudy.train` does it:
    a tuning run evaluates val at its rung epochs and each phase's last epoch and never test; a final run evaluates
    the test subsample every epoch and the whole test set at the end. A successive-halving search stops some
    candidates early, so its counts are an upper bound."""
    from vptstudy import rungs

    cfg = p.cfg
    train, val = _train_val(cfg)
    test = _test_size(cfg)
    epochs = p.epochs_total
    if cfg.split == "tune":
        val_epochs = sum(
            sum(rungs.evaluates_val(cfg, e, e, ph.epochs) for e in range(1, ph.epochs + 1)) for ph in p.phases
        )
        evaluated = val * val_epochs
    else:
        per_epoch_test = p.test_subsample if test is None else min(p.test_subsample or test, test)
        final_test = test if (test is not None and per_epoch_test < test) else 0
        evaluated = (val + (per_epoch_test or 0)) * epochs + final_test
    return PlannedRun(
        plan=p,
        stage=stage,
        complete=runs.is_complete(p.run_dir),
        train_images=train * epochs,
        eval_images=evaluated,
        test_known=test is not None or cfg.split == "tune",
    )


def _chosen(search_json: Path) -> tuple[float, float] | None:
    try:
        chosen = json.loads(search_json.read_text()).get("chosen")
        return (float(chosen["lr"]), float(chosen["wd"])) if chosen else None
    except (OSError, ValueError, TypeError, KeyError):
        return None


def study_runs(study: Any) -> list[PlannedRun]:
    """Every run of a study, tuning candidates first, each planned once."""
    from vptstudy.methods import get_method
    from vptstudy.sweep import candidates, expand, finals, search_file

    out: list[PlannedRun] = []
    for unit in expand(study):
        if unit.search:
            out.extend(planned(plan(c), "tune") for c in candidates(unit))
            choice = _chosen(search_file(unit))
        else:
            choice = unit.fixed
        if choice is None:
            method = get_method(unit.base.method)
            choice = (method.default_lr, method.default_wd)  # placeholder: the search chooses
        out.extend(planned(plan(c), "final") for c in finals(unit, *choice))
    return out


def _values(values: list[float]) -> str:
    distinct = sorted(set(values), reverse=True)
    if len(distinct) <= 3:
        return ",".join(f"{v:g}" for v in distinct)
    return f"{distinct[0]:g}..{distinct[-1]:g} ({len(distinct)})"


def _row_key(p: RunPlan, phase_index: int) -> tuple[Any, ...]:
    ph = p.phases[phase_index]
    return (
        p.cfg.method,
        p.cfg.model,
        phase_index,
        ph.name,
        ph.optimizer,
        ph.batch_size,
        ph.warmup_epochs,
        ph.epochs,
        ph.backbone_dropout,
        p.prompt_dropout,
        p.head_init,
        p.input_size,
        p.test_subsample,
    )


def plan_rows(items: list[PlannedRun]) -> list[dict[str, Any]]:
    """One row per method phase and distinct resolved values, in first-seen order; the values that vary by task or
    search (lr, wd, prompt length) are listed."""
    rows: dict[tuple[Any, ...], dict[str, Any]] = {}
    for item in items:
        p = item.plan
        for i, ph in enumerate(p.phases):
            row = rows.setdefault(
                _row_key(p, i),
                {
                    "method": p.cfg.method,
                    "model": p.cfg.model,
                    "phase": ph.name,
                    "optimizer": ph.optimizer,
                    "base_lr": set(),
                    "lr": set(),
                    "weight_decay": set(),
                    "batch_size": ph.batch_size,
                    "warmup_epochs": ph.warmup_epochs,
                    "epochs": ph.epochs,
                    "backbone_dropout": ph.backbone_dropout,
                    "num_prompts": set(),
                    "prompt_dropout": p.prompt_dropout,
                    "head_init": p.head_init,
                    "input_size": p.input_size,
                    "test_subsample": p.test_subsample,
                    "tasks": [],
                    "runs": 0,
                },
            )
            row["base_lr"].add(ph.base_lr)
            row["lr"].add(ph.lr)
            row["weight_decay"].add(ph.weight_decay)
            if p.num_prompts is not None:
                row["num_prompts"].add(p.num_prompts)
            if p.cfg.task not in row["tasks"]:
                row["tasks"].append(p.cfg.task)
            row["runs"] += 1
    for row in rows.values():
        for key in ("base_lr", "lr", "weight_decay"):
            row[key] = sorted(row[key], reverse=True)
        row["num_prompts"] = sorted(row["num_prompts"]) or None
    return list(rows.values())


def summary(items: list[PlannedRun]) -> dict[str, Any]:
    """The dry run as plain data (``--json``)."""
    return {
        "runs": len(items),
        "finished": sum(i.complete for i in items),
        "tune_runs": sum(i.stage == "tune" for i in items),
        "final_runs": sum(i.stage == "final" for i in items),
        "train_images": sum(i.train_images for i in items),
        "eval_images": sum(i.eval_images for i in items),
        "runs_with_unknown_test_size": sum(not i.test_known for i in items),
        "plans": plan_rows(items),
        "run_list": [
            {"run_dir": str(i.plan.run_dir), "stage": i.stage, "finished": i.complete, "identity": i.plan.identity}
            for i in items
        ],
    }


SHARED = ("model", "input_size", "head_init", "test_subsample")  # shown once when every row agrees


def table(data: dict[str, Any], title: str) -> Any:
    """The plans as a rich table, one row per method phase and distinct values; values every row shares go in the
    caption."""
    from rich.table import Table

    rows = data["plans"]
    shared = {k: rows[0][k] for k in SHARED if rows and len({str(r[k]) for r in rows}) == 1}
    names = {"model": "model", "input_size": "input", "head_init": "head init", "test_subsample": "test/epoch"}
    caption = ", ".join(f"{names[k]} {'all' if v is None else v}" for k, v in shared.items())
    tab = Table(title=title, caption=f"lr = base lr x batch / 256; {caption}" if caption else None)
    cols = ["method", "phase", "optim", "base lr", "lr", "wd", "batch", "warm-up", "epochs", "dropout", "prompts"]
    cols += ["p-drop", *(names[k] for k in SHARED if k not in shared), "tasks", "runs"]
    for col in cols:
        tab.add_column(col, overflow="fold")
    for row in rows:
        extra = [str(row[k]) if row[k] is not None else "all" for k in SHARED if k not in shared]
        tab.add_row(
            row["method"],
            row["phase"],
            row["optimizer"],
            _values(row["base_lr"]),
            _values(row["lr"]),
            _values(row["weight_decay"]),
            str(row["batch_size"]),
            str(row["warmup_epochs"]),
            str(row["epochs"]),
            f"{row['backbone_dropout']:g}",
            "-" if row["num_prompts"] is None else ",".join(map(str, row["num_prompts"])),
            "-" if row["prompt_dropout"] is None else f"{row['prompt_dropout']:g}",
            *extra,
            str(len(row["tasks"])) if len(row["tasks"]) > 1 else row["tasks"][0],
            str(row["runs"]),
        )
    return tab


def plan_lines(data: dict[str, Any]) -> list[str]:
    """The plans as one line each (narrow terminals, where the table would not fit)."""
    lines = []
    for row in data["plans"]:
        prompts = "-" if row["num_prompts"] is None else ",".join(map(str, row["num_prompts"]))
        p_drop = "-" if row["prompt_dropout"] is None else f"{row['prompt_dropout']:g}"
        lines.append(
            f"{row['method']} / {row['phase']}: {row['optimizer']}, base lr {_values(row['base_lr'])} -> lr "
            f"{_values(row['lr'])}, wd {_values(row['weight_decay'])}, batch {row['batch_size']}, warm-up "
            f"{row['warmup_epochs']} of {row['epochs']} epochs, dropout {row['backbone_dropout']:g}, prompts {prompts} "
            f"(dropout {p_drop}), head {row['head_init']}, input {row['input_size']}, test/epoch "
            f"{'all' if row['test_subsample'] is None else row['test_subsample']}; {len(row['tasks'])} task(s), "
            f"{row['runs']} runs"
        )
    return lines


def totals_line(data: dict[str, Any]) -> str:
    line = (
        f"{data['runs']} runs ({data['tune_runs']} tuning, {data['final_runs']} final), {data['finished']} finished; "
        f"{data['train_images']:,} training and {data['eval_images']:,} evaluation images"
    )
    if data["runs_with_unknown_test_size"]:
        line += f" ({data['runs_with_unknown_test_size']} runs' test sets not found: per-epoch subsample counted)"
    return line
