"""Seeded, reproducible splits. Every function returns index tensors and never shrinks a request silently."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

import torch

from vptstudy.errors import UserError


def permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def index_hash(index: torch.Tensor) -> str:
    """A short hash of chosen indices, recorded in config.json so a split can be checked later."""
    return hashlib.sha1(index.to(torch.int64).numpy().tobytes()).hexdigest()[:12]


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


def max_train_size(total: int) -> int:
    """The largest N with N + N // 4 <= ``total`` (train N, val N/4)."""
    n = total * 4 // 5
    while (n + 1) + (n + 1) // 4 <= total:
        n += 1
    return n


def size_split(labels: torch.Tensor, n_train: int, seed: int, where: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Train ``n_train`` and val ``n_train // 4`` (the paper's 4:1), disjoint and class-stratified."""
    n_val = n_train // 4
    total = int(labels.shape[0])
    if n_train + n_val > total:
        raise UserError(
            f"train size {n_train} needs {n_train + n_val} images (4:1 train:val), the source has {total}",
            where,
            f"use a train size of at most {max_train_size(total)}",
        )
    both = stratified_take(labels, n_train + n_val, seed, where)
    val = stratified_take(labels[both], n_val, seed + 1, where)
    mask = torch.ones(len(both), dtype=torch.bool)
    mask[val] = False
    return both[mask], both[val]


def kshot_split(
    labels: torch.Tensor, k: int, seed: int, where: str, num_classes: int | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """``k`` images per class for train and another ``k`` per class for val (every class of ``num_classes``)."""
    gen = torch.Generator().manual_seed(seed)
    classes = range(num_classes) if num_classes is not None else torch.unique(labels).tolist()
    train, val = [], []
    for cls in classes:
        members = torch.nonzero(labels == cls).flatten()
        if len(members) < 2 * k:
            most = len(members) // 2
            raise UserError(
                f"class {cls} has {len(members)} images, {k}-shot needs {2 * k} (train + val)",
                where,
                f"use --shots {most} or fewer" if most else "this class cannot supply a k-shot split",
            )
        pick = members[torch.randperm(len(members), generator=gen)]
        train.append(pick[:k])
        val.append(pick[k : 2 * k])
    return torch.cat(train), torch.cat(val)


def _per_class(
    labels: torch.Tensor, positions: torch.Tensor, k: int, gen: torch.Generator, classes: list[int]
) -> tuple[torch.Tensor, list[int]]:
    """Up to ``k`` of ``positions`` per class (all of a class that has fewer), seeded, class by class."""
    picked, short = [], []
    for cls in classes:
        members = positions[labels[positions] == cls]
        if len(members) < k:
            short.append(cls)
        picked.append(members[torch.randperm(len(members), generator=gen)[:k]])
    return torch.cat(picked), short


def study_kshot(
    labels: torch.Tensor,
    k: int,
    seed: int,
    official: tuple[int, int],
    final: bool,
    num_classes: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """The study code's k-shot split over a pool ``[train800, val200]`` (S src/data/datasets/tf_dataset.py:99-134).

    Tuning: ``k`` per class from the official train part and ``k`` per class from the official val part, each
    drawn with the fixed ``seed`` (the study re-seeds Python's ``random`` with 0 before each split). Final: a
    fresh draw of ``2 * k`` per class from train+val (its ``trainval`` split), not the union of the tuning draws;
    val is empty. A class with fewer images gives all it has, as ``min(len(images), k)`` does there. Returns
    (train, val, classes that gave fewer than asked).
    """
    n_train, n_val = official
    classes = list(range(num_classes)) if num_classes is not None else torch.unique(labels).tolist()
    if final:
        train, short = _per_class(
            labels, torch.arange(n_train + n_val), 2 * k, torch.Generator().manual_seed(seed), classes
        )
        return train, torch.empty(0, dtype=torch.long), short
    train, short_train = _per_class(labels, torch.arange(n_train), k, torch.Generator().manual_seed(seed), classes)
    val, short_val = _per_class(
        labels, torch.arange(n_train, n_train + n_val), k, torch.Generator().manual_seed(seed), classes
    )
    return train, val, sorted(set(short_train) | set(short_val))


@dataclass(frozen=True)
class Choice:
    """Train and val indices into a pool, and what config.json records about them."""

    train: torch.Tensor
    val: torch.Tensor
    info: dict[str, Any]


def choose(
    labels: torch.Tensor,
    *,
    shots: int | None,
    train_size: int | None,
    split_seed: int,
    default: tuple[int, int],
    where: str,
    official: tuple[int, int] | None = None,
    num_classes: int | None = None,
    shots_protocol: str = "draws",
    final: bool = False,
) -> Choice:
    """The train/val indices a run asks for.

    ``shots`` k: k per class each (``shots_protocol`` ``study``: the study code's fixed draws from the official
    train and val parts, see :func:`study_kshot`; ``final`` then gives its train+val draw); ``train_size`` N: N
    train + N//4 val, stratified; otherwise the ``default`` sizes: the source's own split when it has one
    (``official``) and ``split_seed`` is 0, else a seeded draw.
    """
    extra: dict[str, Any] = {}
    if shots is not None and shots_protocol == "study":
        train, val, short = _study_kshot_checked(labels, shots, split_seed, official, final, num_classes, where)
        kind = f"{shots}-shot (study: {'train800val200' if final else 'train800 / val200'})"
        extra = {"shots_protocol": "study", "classes_short": short}
    elif shots is not None:
        train, val = kshot_split(labels, shots, split_seed, where, num_classes)
        kind = f"{shots}-shot"
    elif train_size is not None:
        train, val = size_split(labels, train_size, split_seed, where)
        kind = f"size {train_size} (val {train_size // 4})"
    elif official is not None and split_seed == 0:
        n_train, n_val = official
        train, val = torch.arange(n_train), torch.arange(n_train, n_train + n_val)
        kind = f"official train{n_train}/val{n_val}"
    else:
        train, val = _seeded_draw(labels, default, split_seed, where)
        kind = f"train{default[0]}/val{default[1]}"
    info = {
        "kind": kind,
        "split_seed": split_seed,
        "pool": len(labels),
        "train": len(train),
        "val": len(val),
        "train_hash": index_hash(train),
        "val_hash": index_hash(val),
        **extra,
    }
    return Choice(train, val, info)


def _study_kshot_checked(
    labels: torch.Tensor,
    shots: int,
    split_seed: int,
    official: tuple[int, int] | None,
    final: bool,
    num_classes: int | None,
    where: str,
) -> tuple[torch.Tensor, torch.Tensor, list[int]]:
    """:func:`study_kshot`, after checking that the source has the official split it draws from."""
    if official is None:
        raise UserError(
            "the study's one-shot protocol draws from an official train800/val200 split, and this source has none",
            where,
            "use the VTAB-1k folder of the task, or --shots-protocol draws",
        )
    return study_kshot(labels, shots, split_seed, official, final, num_classes)


def _seeded_draw(
    labels: torch.Tensor, default: tuple[int, int], split_seed: int, where: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """``default`` (train, val) sizes drawn from one seeded permutation of the pool."""
    n_train, n_val = default
    if n_train + n_val > len(labels):
        raise UserError(
            f"the protocol needs {n_train}+{n_val} train+val images, the source has {len(labels)}",
            where,
            "add data or use --train-size",
        )
    perm = permutation(len(labels), split_seed)
    return perm[:n_train], perm[n_train : n_train + n_val]
