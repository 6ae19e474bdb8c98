"""A run made ready: plan checked, data loaded, model built and on its device; and its ``config.json``."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vptstudy import reuse, runs
from vptstudy.config import LAYOUT, RunConfig
from vptstudy.data import TaskData, load_task_data
from vptstudy.device import resolve_device, use_bf16
from vptstudy.methods import Method, get_method
from vptstudy.models.build import build_model
from vptstudy.models.tunable import TunableBackbone
from vptstudy.plan import RunPlan, as_plan

Callback = Callable[[str, dict[str, Any]], None]
TEST_SUBSAMPLE_SEED = 0


def quiet(event: str, info: dict[str, Any]) -> None:
    """The callback that reports nothing."""
    return None


@dataclass
class Prepared:
    """Everything a run needs, checked before any file is written. ``cfg`` is the plan's resolved config."""

    plan: RunPlan
    method: Method
    device: torch.device
    data: TaskData
    model: TunableBackbone
    input_size: int
    run_dir: Path

    @property
    def cfg(self) -> RunConfig:
        return self.plan.resolved


def prepare(run: RunConfig | RunPlan, callback: Callback = quiet) -> Prepared:
    """Validate the plan, load the data and build the model; raises :class:`UserError` before any write."""
    p = as_plan(run)
    cfg = p.resolved
    method = get_method(cfg.method)
    device = resolve_device(cfg.device)
    data = load_task_data(cfg, p.input_size, lambda done, total: callback("load", {"done": done, "total": total}))
    callback("data", {"cache": data.split_info.get("cache")})  # where the tensors came from; timed by bench --startup
    model = build_model(p, data.num_classes)
    callback("model", {"model": cfg.model})
    method.check(model, cfg)
    return Prepared(p, method, device, data, model.to(device), p.input_size, p.run_dir)


def test_subsample(data: TaskData, p: RunPlan) -> torch.Tensor | None:
    """The fixed test indices the per-epoch curve evaluates, or None for the whole test set."""
    n = len(data.test)
    if p.test_subsample is None or p.test_subsample >= n:
        return None
    return torch.randperm(n, generator=torch.Generator().manual_seed(TEST_SUBSAMPLE_SEED))[: p.test_subsample]


def write_config(p: Prepared, borrowed: reuse.Borrowed | None = None) -> None:
    """``config.json``: the run as asked, its plan, and what was resolved on this machine."""
    resolved = {
        "input_size": p.input_size,
        "num_classes": p.data.num_classes,
        "device": str(p.device),
        "bf16": use_bf16(p.cfg, p.device),
        "phases": [dataclasses.asdict(ph) for ph in p.plan.phases],
        "split": p.data.split_info,
        "preprocess": vars(p.data.preprocess),
        "versions": {"torch": torch.__version__},
    }
    runs.atomic_write_json(
        p.run_dir / runs.CONFIG,
        {
            "layout": LAYOUT,
            "run": p.plan.cfg.replace(stop_epoch=None).to_dict(),
            "plan": p.plan.summary(),
            "resolved": resolved,
            **({"reused": borrowed.link} if borrowed else {}),
        },
    )
