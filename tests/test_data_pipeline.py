"""On-device batches: vectorised FGVC crops, normalisation, and the non-resident path."""

from __future__ import annotations

import torch

from vptstudy.data.pipeline import DeviceImages, random_crops
from vptstudy.data.types import ImageSet, Preprocess


def images(n=10, size=12) -> ImageSet:
    x = torch.randint(0, 256, (n, 3, size, size), generator=torch.Generator().manual_seed(0), dtype=torch.uint8)
    return ImageSet(x, torch.arange(n) % 3)


def test_random_crops_match_slicing():
    x = images().images
    tops, lefts = torch.tensor([0, 1, 2, 3, 4, 0, 4, 2, 1, 3]), torch.tensor([4, 3, 2, 1, 0, 0, 4, 1, 2, 3])
    expected = torch.stack([x[i, :, t : t + 8, s : s + 8] for i, (t, s) in enumerate(zip(tops, lefts, strict=True))])
    assert torch.equal(random_crops(x, 8, tops, lefts), expected)


def test_eval_centre_crop_and_normalisation():
    data = images()
    pre = Preprocess(resize=12, crop=8, flip=True)
    batches = list(DeviceImages(data, pre, torch.device("cpu"), train=False).batches(4))
    x, y = torch.cat([b[0] for b in batches]), torch.cat([b[1] for b in batches])
    mean = torch.tensor(pre.mean).view(1, 3, 1, 1) * 255
    std = torch.tensor(pre.std).view(1, 3, 1, 1) * 255
    assert torch.equal(x, (data.images[:, :, 2:10, 2:10].float() - mean) / std)  # in-place ops, same values
    assert torch.equal(y, data.labels)


def test_non_resident_batches_equal_resident_ones():
    data, pre = images(), Preprocess(resize=12, crop=8, flip=True)
    out = []
    for resident in (True, False):
        split = DeviceImages(data, pre, torch.device("cpu"), train=True, resident=resident)
        gen = torch.Generator().manual_seed(3)
        out.append([(x.clone(), y.clone()) for x, y in split.batches(4, gen)])
    for (xa, ya), (xb, yb) in zip(*out, strict=True):
        assert torch.equal(xa, xb) and torch.equal(ya, yb)
    assert out[0][0][0].shape == (4, 3, 8, 8)
