"""RunDir: one run directory read back (config, plan, metrics, typed result); the one reader report, analysis,
figures, load_run and the executors use."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

from vptstudy import damaged, runs
from vptstudy.config import RunConfig
from vptstudy.results import RunResult


@dataclass(frozen=True)
class RunDir:
    """One run directory with its config (and result, once complete). Damaged files raise
    :class:`~vptstudy.damaged.CorruptFile` when read."""

    path: Path

    @cached_property
    def cfg(self) -> RunConfig:
        return runs.read_config(self.path)

    @cached_property
    def meta(self) -> dict[str, Any]:
        """``config.json`` as written (run, plan, resolved)."""
        return damaged.read_json_object(self.path / runs.CONFIG)

    @cached_property
    def result(self) -> RunResult | None:
        """The typed ``result.json``, or None while the run is unfinished."""
        raw = runs.read_result(self.path)
        return None if raw is None else RunResult.from_dict(raw)

    def metrics(self) -> list[dict[str, Any]]:
        return runs.read_metrics(self.path)

    @property
    def input_size(self) -> int:
        return int(self.meta.get("resolved", {}).get("input_size") or self.cfg.img_size or 224)
