"""Seeded, reproducible splits. Every function returns index tensors and never shrinks a request silently."""

from __future__ import annotations

import hashlib

import torch

from vptstudy.errors import UserError


def permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def index_hash(index: torch.Tensor) -> str:
    """A short hash of chosen indices, recorded in config.json so a split can be checked later."""
    return hashlib.sha1(index.to(torch.int64).numpy().tobytes()).hexdigest()[:12]


def train_val_test_split(
    n: int, n_train: int, n_val: int, seed: int, where: str
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Seeded split of ``n`` items into ``n_train``/``n_val`` and the rest as test."""
    if n_train + n_val >= n:
        raise UserError(
            f"cannot take {n_train}+{n_val} train/val images from {n}",
            where,
            f"ask for at most {n - 1} train+val images in all",
        )
    perm = permutation(n, seed)
    return perm[:n_train], perm[n_train : n_train + n_val], perm[n_train + n_val :]


def stratified_take(labels: torch.Tensor, n: int, seed: int, where: str) -> torch.Tensor:
    """``n`` indices drawn so each class keeps its share (largest remainders), seeded; errors if ``n`` > len."""
    total = int(labels.shape[0])
    if n > total:
        raise UserError(f"cannot take {n} images from a pool of {total}", where, f"ask for at most {total}")
    gen = torch.Generator().manual_seed(seed)
    classes, counts = torch.unique(labels, return_counts=True)
    quota = counts.double() * n / total
    take = quota.floor().long()
    remainder = n - int(take.sum())
    if remainder:
        order = torch.argsort(quota - take.double(), descending=True, stable=True)
        take[order[:remainder]] += 1
    chosen = []
    for cls, k in zip(classes.tolist(), take.tolist(), strict=True):
        members = torch.nonzero(labels == cls).flatten()
        chosen.append(members[torch.randperm(len(members), generator=gen)[:k]])
    index = torch.cat(chosen)
    return index[torch.randperm(len(index), generator=gen)]


def size_split(labels: torch.Tensor, n_train: int, seed: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Train ``n_train`` and val ``n_train // 4`` (the paper's 4:1), disjoint and class-stratified."""
    n_val = n_train // 4
    if n_train + n_val > labels.shape[0]:
        raise UserError(
            f"train size {n_train} needs {n_train + n_val} images (4:1 train:val), the source has {labels.shape[0]}",
            where,
            f"use a train size of at most {labels.shape[0] * 4 // 5}",
        )
    both = stratified_take(labels, n_train + n_val, seed, where)
    val = stratified_take(labels[both], n_val, seed + 1, where)
    mask = torch.ones(len(both), dtype=torch.bool)
    mask[val] = False
    return both[mask], both[val]


def kshot_split(labels: torch.Tensor, k: int, seed: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` images per class for train and another ``k`` per class for val."""
    gen = torch.Generator().manual_seed(seed)
    train, val = [], []
    for cls in torch.unique(labels).tolist():
        members = torch.nonzero(labels == cls).flatten()
        if len(members) < 2 * k:
            raise UserError(
                f"class {cls} has {len(members)} images, {k}-shot needs {2 * k} (train + val)",
                where,
                f"use --shots {max(len(members) // 2, 1) if len(members) >= 2 else 1} or fewer",
            )
        pick = members[torch.randperm(len(members), generator=gen)]
        train.append(pick[:k])
        val.append(pick[k : 2 * k])
    return torch.cat(train), torch.cat(val)
