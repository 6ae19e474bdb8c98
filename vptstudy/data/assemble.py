"""From a source's parts to a run's TaskData: choose the split, decode (or read the cache), record it all."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vptstudy.config import RunConfig
from vptstudy.data import splits, subsets
from vptstudy.data.catalog import Parts, check_labels
from vptstudy.data.materialize import materialize
from vptstudy.data.paths import cache_root
from vptstudy.data.types import Preprocess, TaskData

Progress = Callable[[int, int], None]


def choose_split(parts: Parts, cfg: RunConfig, num_classes: int, default: tuple[int, int], where: str) -> splits.Choice:
    """The seeded train/val choice of ``cfg`` over ``parts.pool`` (labels are checked first)."""
    check_labels(parts.pool.labels, num_classes, where)
    check_labels(parts.test.labels, num_classes, where)
    return splits.choose(
        parts.pool.labels,
        shots=cfg.shots,
        train_size=cfg.train_size,
        split_seed=cfg.split_seed,
        default=default,
        where=where,
        official=parts.official,
        num_classes=num_classes,
        shots_protocol=cfg.shots_protocol,
        final=cfg.split == "final",
    )


def assemble(
    task: str,
    parts: Parts,
    cfg: RunConfig,
    num_classes: int,
    preprocess: Preprocess,
    default: tuple[int, int],
    progress: Progress | None = None,
    data_dir: Path | None = None,
) -> TaskData:
    """Choose the split, decode the needed images at ``preprocess.resize`` (cached) and build the TaskData.

    A large pool (``parts.whole`` false) decodes only the chosen train and val images; a small one is decoded
    whole, so every regime over it shares one cache file. ``split: final`` merges val into train.
    """
    choice = choose_split(parts, cfg, num_classes, default, f"task {task}, {parts.source}")
    pool = parts.pool
    train_pos, val_pos = choice.train, choice.val
    if not parts.whole:
        union = torch.cat([choice.train, choice.val]).unique()  # sorted
        pool = pool.subset(union).renamed(f"{pool.part}-{len(union)}")
        train_pos, val_pos = torch.searchsorted(union, choice.train), torch.searchsorted(union, choice.val)
    cache_dir = cache_root(cfg.cache_dir, data_dir)
    (pool_data, test), report = materialize([pool, parts.test], preprocess.resize, cache_dir, progress)
    info: dict[str, Any] = {**choice.info, "test": len(test), "source": parts.source, "cache": report}
    if cfg.split == "final":  # the same rows as concatenating train and val, in one copy
        train = subsets.take(pool_data, torch.cat([train_pos, val_pos]))
        return TaskData(task, num_classes, train, None, test, preprocess, info)
    train, val = subsets.take(pool_data, train_pos), subsets.take(pool_data, val_pos)
    return TaskData(task, num_classes, train, val, test, preprocess, info)
