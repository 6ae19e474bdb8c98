"""Shared pieces of the torchvision-backed sources: locating, instantiating, catalogs and held-out tests."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vptstudy.data import images, splits
from vptstudy.data.catalog import Catalog, Parts
from vptstudy.errors import UserError

HOLDOUT_SEED = 0
CONTAINERS = ("torchvision", "")


@dataclass(frozen=True)
class FullSource:
    """One torchvision-backed source: its class, the file that shows it is present, its size and opener."""

    dataset: str
    marker: str
    download_size: str
    open: Callable[[Path, bool], Parts]


def locate(root: Path, source: FullSource) -> Path | None:
    """The torchvision root (``<root>/torchvision`` or ``<root>``) that holds ``source``'s files."""
    return next((root / c for c in CONTAINERS if (root / c / source.marker).exists()), None)


def download_root(root: Path) -> Path:
    return root / CONTAINERS[0]


def dataset(cls: type, download: bool, **kwargs: Any) -> Any:
    """Instantiate a torchvision dataset; missing data and failed downloads become :class:`UserError`."""
    where = str(kwargs.get("root"))
    try:
        return cls(download=download, **kwargs)
    except (RuntimeError, OSError, ImportError) as exc:  # not found, network, disk, bad archive, no gdown
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if download:
            raise UserError(f"download of torchvision {cls.__name__} failed: {reason}", where, "retry later") from exc
        raise UserError(
            f"torchvision {cls.__name__} not found or incomplete ({reason})",
            where,
            "pass --download to fetch it, or --data-root pointing at a folder that holds it",
        ) from exc


def ensure(cls: type, root: Path, marker: Path, download: bool, **kwargs: Any) -> None:
    """Make sure ``marker`` exists, downloading through ``cls`` when asked; never parses the data twice."""
    if not marker.exists():
        dataset(cls, download, root=str(root), **kwargs)


def _labels(values: Any) -> torch.Tensor:
    return torch.as_tensor(list(values) if not hasattr(values, "tolist") else values.tolist(), dtype=torch.long)


def file_catalog(source: str, part: str, files: list[Path], labels: list[int]) -> Catalog:
    """Items read from image files (names are the paths)."""
    names = tuple(str(f) for f in files)

    def read(i: int, size: int) -> torch.Tensor:
        return images.decode_resized(Path(names[i]), size)

    return Catalog(source, part, names, _labels(labels), read, root=Path("."))


def dataset_catalog(source: str, part: str, ds: Any, labels: Any) -> Catalog:
    """Items read through a torchvision dataset's ``__getitem__`` (names are indices)."""

    def read(i: int, size: int) -> torch.Tensor:
        try:
            return images.pil_to_uint8(ds[i][0], size)
        except (OSError, ValueError, images.Image.DecompressionBombError) as exc:
            raise UserError(f"cannot decode item {i} of {source}", type(exc).__name__, "re-download it") from exc

    return Catalog(source, part, tuple(str(i) for i in range(len(ds))), _labels(labels), read)


def split_off(cat: Catalog, test_idx: torch.Tensor) -> tuple[Catalog, Catalog]:
    """(pool, test) of ``cat``, with ``test_idx`` as the test part."""
    keep = torch.ones(len(cat), dtype=torch.bool)
    keep[test_idx] = False
    return cat.subset(torch.nonzero(keep).flatten()).renamed("pool"), cat.subset(test_idx.sort().values).renamed("test")


def hold_out(cat: Catalog, fraction: float) -> tuple[Catalog, Catalog]:
    """(pool, test): a fixed, class-stratified ``fraction`` of ``cat`` as test (seed ``HOLDOUT_SEED``)."""
    return split_off(cat, splits.stratified_take(cat.labels, round(len(cat) * fraction), HOLDOUT_SEED, cat.source))


def parts(source: str, pool: Catalog, test: Catalog) -> Parts:
    """Parts of a large source: only the chosen pool items are decoded."""
    return Parts(pool, test, source, official=None, whole=False)
