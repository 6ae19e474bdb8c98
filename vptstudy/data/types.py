"""Plain data containers shared by the data layer and the trainer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass
class ImageSet:
    """Decoded images of one split: ``images`` uint8 ``[N, 3, H, W]``, ``labels`` int64 ``[N]``."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4 or self.images.shape[1] != 3:
            raise ValueError(f"images must be uint8 [N, 3, H, W], got {self.images.dtype} {tuple(self.images.shape)}")
        if self.labels.shape != (self.images.shape[0],):
            raise ValueError("labels must be [N] and match the images")

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def subset(self, index: torch.Tensor) -> ImageSet:
        return ImageSet(self.images[index], self.labels[index])

    @staticmethod
    def concat(sets: list[ImageSet]) -> ImageSet:
        return ImageSet(torch.cat([s.images for s in sets]), torch.cat([s.labels for s in sets]))


@dataclass
class Preprocess:
    """How a task's images reach the model: decoded at ``resize``; training crops ``crop`` + flip when set (FGVC)."""

    resize: int
    crop: int | None = None
    flip: bool = False
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD

    @property
    def input_size(self) -> int:
        return self.crop or self.resize


@dataclass
class TaskData:
    """The splits of one run: ``train`` to fit, ``val`` to tune (None for final runs), ``test`` to report."""

    task: str
    num_classes: int
    train: ImageSet
    val: ImageSet | None
    test: ImageSet
    preprocess: Preprocess
    split_info: dict[str, Any] = field(default_factory=dict)
