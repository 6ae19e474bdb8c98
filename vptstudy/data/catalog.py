"""Catalogs: what a source holds (item names and labels), known before any image is decoded."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

from vptstudy.data.fingerprint import stat_line
from vptstudy.errors import UserError

Reader = Callable[[int, int], torch.Tensor]  # (item, size) -> uint8 [3, size, size]


@dataclass(frozen=True)
class Catalog:
    """Items of one part of a source: ``names[i]`` identifies item ``i`` (a relative path or an index),
    ``labels[i]`` is its label in the task's convention and ``read(i, size)`` decodes it.

    ``index`` selects items of the underlying lists; ``subset`` composes it, so nothing is copied or decoded.
    ``root`` is set when ``names`` are files under it: then the key also covers each file's size and mtime, so an
    edited image is decoded again instead of read stale from the cache.
    """

    source: str
    part: str
    names: tuple[str, ...]
    all_labels: torch.Tensor
    read: Reader
    index: torch.Tensor = field(default=None)  # type: ignore[assignment]
    root: Path | None = None

    def __post_init__(self) -> None:
        if self.index is None:
            object.__setattr__(self, "index", torch.arange(len(self.names)))

    def __len__(self) -> int:
        return int(self.index.shape[0])

    @property
    def labels(self) -> torch.Tensor:
        return self.all_labels[self.index]

    def item(self, i: int) -> int:
        """The underlying item number of position ``i``."""
        return int(self.index[i])

    def subset(self, index: torch.Tensor) -> Catalog:
        return replace(self, index=self.index[index])

    def renamed(self, part: str) -> Catalog:
        return replace(self, part=part)

    def key(self, size: int) -> str:
        """Identity of the decoded content: source, part, size, every selected name and label (and file stat)."""
        digest = hashlib.sha1()
        for i, label in zip(self.index.tolist(), self.labels.tolist(), strict=True):
            digest.update(f"{self.names[i]}\t{label}\n".encode())
            if self.root is not None:
                digest.update(stat_line(self.root / self.names[i], self.names[i]).encode())
        return f"{self.source}|{self.part}|{size}px|{len(self)}|{digest.hexdigest()}"


def check_labels(labels: torch.Tensor, num_classes: int, where: str) -> None:
    """Raise when a label lies outside ``[0, num_classes)``."""
    if labels.numel() == 0:
        return
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= num_classes:
        bad = low if low < 0 else high
        raise UserError(
            f"label {bad} outside [0, {num_classes})", where, f"labels must be 0..{num_classes - 1} for this task"
        )


@dataclass(frozen=True)
class Parts:
    """What a source offers a task: the training ``pool`` and the ``test`` set.

    ``official`` is ``(n_train, n_val)`` when the first ``n_train`` pool items are the source's own train split and
    the next ``n_val`` its val split (VTAB-1k lists, FGVC json); ``whole`` says the pool is small enough to decode
    and cache whole (otherwise only the chosen items are decoded).
    """

    pool: Catalog
    test: Catalog
    source: str
    official: tuple[int, int] | None = None
    whole: bool = True
