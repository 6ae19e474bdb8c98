"""Run directories and run configs for tests: fake finished runs (no training) and tiny real ones."""

from __future__ import annotations

from pathlib import Path

from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.plan import plan

TINY_RUN = {
    "model": "test_vit",
    "pretrained": False,
    "img_size": 32,
    "epochs": 1,
    "batch_size": 128,
    "test_subsample": 100,
}


def fake_run(root: Path, task: str, method: str, seed: int = 42, train_size: int | None = None, **result) -> Path:
    """A run directory with config.json (and result.json when ``result`` is given), no training."""
    cfg = RunConfig(
        task=task,
        method=method,
        model="test_vit",
        pretrained=False,
        seed=seed,
        train_size=train_size,
        split="final" if train_size else "tune",
        out_dir=str(root),
        study="fake",
    )
    path = plan(cfg.replace(base_lr=0.001, weight_decay=0.0)).run_dir
    runs.atomic_write_json(path / runs.CONFIG, {"run": cfg.to_dict(), "resolved": {"input_size": 32}})
    if result:
        ident = {"task": task, "method": method, "seed": seed, "split": cfg.split, "study": cfg.study}
        runs.atomic_write_json(path / runs.RESULT, {"status": "ok", **ident, **result})
    return path


def four_configs(tmp_path: Path) -> list[RunConfig]:
    """Four short runs (80 images): what an executor test checks is where runs go, not what they learn."""
    return [
        RunConfig(task="toy/digits", method="linear", seed=s, out_dir=str(tmp_path), train_size=80, **TINY_RUN)
        for s in (1, 2, 3, 4)
    ]
