"""Gather the runs a figure is drawn from, and check what a figure needs of them (one task, stored weights)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from vptstudy import damaged, runs
from vptstudy.errors import UserError
from vptstudy.methods import METHODS
from vptstudy.rundir import RunDir


@dataclass(frozen=True)
class Run(RunDir):
    """One run directory a figure draws (:class:`RunDir` with a legend label)."""

    @property
    def label(self) -> str:
        """Short run name for legends and titles: method, seed, and the data regime when there is one."""
        regime = runs.split_name(self.cfg)
        return f"{self.cfg.method} seed{self.cfg.seed}" + ("" if regime in ("tune", "final") else f" {regime}")

    def class_name(self, label: int) -> str:
        """The name the task recorded for ``label`` (config.json's split info), else the number."""
        names = (self.meta.get("resolved", {}).get("split") or {}).get("classes") or []
        return str(names[label]) if 0 <= label < len(names) else str(label)


def find_runs(paths: Iterable[str | Path], complete: bool = False, corrupt: list[str] | None = None) -> list[Run]:
    """Every run directory at or under ``paths`` (sorted, no duplicates); ``complete`` keeps finished ones only.

    A run with a damaged file is left out; its ``corrupt: <path>: <why>`` lines go to ``corrupt`` when given.
    """
    found: dict[Path, Run] = {}
    given = [Path(p) for p in paths]
    excluded: set[Path] = set()
    for path in given:
        if not path.exists():
            raise UserError(f"{str(path)!r} does not exist", str(path), "pass run directories or a folder of runs")
        for run in runs.iter_runs(path):
            if run.resolve() in found or run.resolve() in excluded:
                continue
            if complete and not runs.is_complete(run):
                continue
            damage = runs.damage(run)
            if not damage:
                try:
                    runs.read_config(run)  # every figure reads the config
                except damaged.CorruptFile as exc:
                    damage = [exc]
            if damage:
                excluded.add(run.resolve())
                if corrupt is not None:
                    corrupt.extend(e.listing for e in damage)
                continue
            found[run.resolve()] = Run(run)
    if not found and excluded:
        raise UserError(
            f"every run found is damaged ({len(excluded)})",
            ", ".join(str(p) for p in given),
            "see `vptstudy report` for the damaged files; rerun the sweep to train them again",
        )
    if not found:
        where = ", ".join(str(p) for p in given) or "no paths given"
        kind = "finished runs" if complete else "runs"
        raise UserError(f"no {kind} found", where, "pass run directories (or folders of them) written by vptstudy")
    return sorted(found.values(), key=lambda r: str(r.path))


def one_task(selected: Sequence[Run], what: str = "this figure") -> str:
    """The single task of ``selected``; a :class:`UserError` naming the tasks when there are several."""
    tasks = sorted({r.cfg.task for r in selected})
    if len(tasks) != 1:
        raise UserError(
            f"{what} needs runs of one task, got {len(tasks)}: {', '.join(tasks)}",
            ", ".join(str(r.path) for r in selected),
            "pass runs of the same task",
        )
    return tasks[0]


def require_weights(run: Run) -> None:
    """A :class:`UserError` unless the run stored its trained tensors."""
    if not (run.path / runs.TRAINABLE).is_file():
        raise UserError(
            f"run {str(run.path)!r} has no stored weights",
            str(run.path / runs.TRAINABLE),
            "train it again without --no-save-weights",
        )


def method_order(methods: Iterable[str]) -> list[str]:
    """Methods in registry order (unknown ones last, sorted), so styles are assigned consistently."""
    known = list(METHODS)
    return sorted(set(methods), key=lambda m: (known.index(m) if m in known else len(known), m))


def output_target(out: str | Path | None, fmt: str | None, name: str) -> tuple[Path, tuple[str, ...]]:
    """Where a figure goes and in which format: ``--format`` wins, else ``--out``'s suffix, else PNG.

    ``out`` defaults to ``figures/<name>``; its suffix is replaced by the format's.
    """
    from vptstudy.figures.style import FORMATS

    path = Path(out) if out is not None else Path("figures") / name
    suffix = path.suffix.lower().lstrip(".")
    chosen = (fmt or (suffix if suffix in FORMATS else "png")).lower().lstrip(".")
    if chosen not in FORMATS:
        raise UserError(f"unknown figure format {chosen!r}", "--format", f"use one of {', '.join(FORMATS)}")
    return (path.with_suffix("") if suffix in FORMATS else path), (chosen,)
