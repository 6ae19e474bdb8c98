"""Batches from resident uint8 tensors: shuffling, FGVC crops and normalisation all happen on the device."""

from __future__ import annotations

from collections.abc import Iterator

import torch

from vptstudy.data.types import ImageSet, Preprocess


class DeviceImages:
    """One split held on the device as uint8; yields normalised float batches."""

    def __init__(self, data: ImageSet, preprocess: Preprocess, device: torch.device, train: bool) -> None:
        self.images = data.images.to(device, non_blocking=True)
        self.labels = data.labels.to(device, non_blocking=True)
        self.preprocess = preprocess
        self.train = train
        self.device = device
        self.mean = torch.tensor(preprocess.mean, device=device).view(1, 3, 1, 1) * 255.0
        self.std = torch.tensor(preprocess.std, device=device).view(1, 3, 1, 1) * 255.0

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    def num_batches(self, batch_size: int) -> int:
        return -(-len(self) // batch_size)

    def _crop(self, x: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        size = self.preprocess.crop
        if size is None or size == x.shape[-1]:
            return x
        h, w = x.shape[-2:]
        if not self.train:
            top, left = (h - size) // 2, (w - size) // 2
            return x[..., top : top + size, left : left + size]
        # one random crop per batch element, gathered with unfold-free indexing
        tops = torch.randint(0, h - size + 1, (x.shape[0],), generator=generator, device="cpu")
        lefts = torch.randint(0, w - size + 1, (x.shape[0],), generator=generator, device="cpu")
        return torch.stack(
            [
                x[i, :, t : t + size, s : s + size]
                for i, (t, s) in enumerate(zip(tops.tolist(), lefts.tolist(), strict=True))
            ]
        )

    def normalise(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        x = self._crop(x, generator)
        if self.train and self.preprocess.flip:
            flip = torch.rand(x.shape[0], generator=generator).to(x.device) < 0.5
            x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
        return (x.float() - self.mean) / self.std

    def batches(
        self, batch_size: int, generator: torch.Generator | None = None
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Normalised ``(images, labels)`` batches; shuffled with ``generator`` when training."""
        n = len(self)
        order = torch.randperm(n, generator=generator).to(self.device) if self.train else None
        for start in range(0, n, batch_size):
            if order is None:
                x, y = self.images[start : start + batch_size], self.labels[start : start + batch_size]
            else:
                idx = order[start : start + batch_size]
                x, y = self.images[idx], self.labels[idx]
            yield self.normalise(x, generator), y
