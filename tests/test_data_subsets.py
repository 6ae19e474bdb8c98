"""A run's train/val rows are copied once per worker for the same pool and split, never from another pool or after
an in-place change; a final run's train+val is the concatenation of the tuning run's train and val."""

from __future__ import annotations

import torch

from vptstudy.config import RunConfig
from vptstudy.data import load_task_data, subsets
from vptstudy.data.types import ImageSet


def test_same_split_in_the_same_process_is_not_copied_again(tmp_path):
    cfg = RunConfig(task="toy/count", method="ft", cache_dir=str(tmp_path))
    tune = load_task_data(cfg, 32)
    again = load_task_data(cfg.replace(base_lr=0.5), 32)
    assert again.train.images is tune.train.images and again.val.images is tune.val.images
    final = load_task_data(cfg.replace(split="final"), 32)
    assert torch.equal(final.train.images, torch.cat([tune.train.images, tune.val.images]))
    assert torch.equal(final.train.labels, torch.cat([tune.train.labels, tune.val.labels]))


def test_rows_are_taken_again_from_another_or_a_changed_pool():
    pool = ImageSet(torch.arange(4 * 3 * 2 * 2, dtype=torch.uint8).view(4, 3, 2, 2), torch.arange(4))
    index = torch.tensor([2, 0])
    first = subsets.take(pool, index)
    assert subsets.take(pool, index).images is first.images
    twin = ImageSet(pool.images.clone(), pool.labels)
    assert subsets.take(twin, index).images is not first.images  # equal content, another tensor: not assumed equal
    pool.images[2].zero_()
    changed = subsets.take(pool, index)
    assert changed.images is not first.images and int(changed.images[0].sum()) == 0
