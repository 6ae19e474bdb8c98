"""Full source datasets through ``torchvision.datasets`` (downloaded with ``--download``), in VTAB's conventions.

Each opener returns the source's training data as the pool and its test data, with labels converted to VTAB's
convention. Datasets without an official test split (SUN397, EuroSAT, Caltech-101, KITTI) hold out a fixed,
class-stratified part as test, drawn with ``HOLDOUT_SEED`` whatever the split seed, so the test set never moves.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vptstudy.data import images, vtab_labels
from vptstudy.data.catalog import Catalog, Parts
from vptstudy.data.tv_common import (
    HOLDOUT_SEED,
    FullSource,
    dataset,
    dataset_catalog,
    ensure,
    file_catalog,
    hold_out,
    parts,
    split_off,
)
from vptstudy.errors import UserError


def _cifar100(root: Path, download: bool) -> Parts:
    from torchvision.datasets import CIFAR100

    train, test = (dataset(CIFAR100, download, root=str(root), train=t) for t in (True, False))
    src = f"torchvision CIFAR100 {root}"
    return parts(
        src, dataset_catalog(src, "train", train, train.targets), dataset_catalog(src, "test", test, test.targets)
    )


def _svhn(root: Path, download: bool) -> Parts:
    from torchvision.datasets import SVHN

    train, test = (dataset(SVHN, download, root=str(root / "svhn"), split=s) for s in ("train", "test"))
    src = f"torchvision SVHN {root}"
    return parts(
        src, dataset_catalog(src, "train", train, train.labels), dataset_catalog(src, "test", test, test.labels)
    )


def _file_splits(
    cls: type, root: Path, download: bool, pool_splits: tuple[str, ...], test_split: str, **kw: Any
) -> Parts:
    """Datasets with official splits whose items are files (``_image_files``/``_images`` and ``_labels``)."""
    src = f"torchvision {cls.__name__} {root}"

    def catalog(split: str) -> Catalog:
        ds = dataset(cls, download, root=str(root), split=split, **kw)
        files = getattr(ds, "_image_files", None) or getattr(ds, "_images", None)
        if files is None or not hasattr(ds, "_labels"):
            raise UserError(f"unsupported torchvision {cls.__name__} version", src, "report this with your version")
        return file_catalog(src, split, list(files), ds._labels)

    pools = [catalog(s) for s in pool_splits]
    pool = pools[0] if len(pools) == 1 else _concat_files(src, "+".join(pool_splits), pools)
    return parts(src, pool, catalog(test_split))


def _concat_files(source: str, part: str, cats: list[Catalog]) -> Catalog:
    files = [Path(c.names[c.item(i)]) for c in cats for i in range(len(c))]
    return file_catalog(source, part, files, torch.cat([c.labels for c in cats]).tolist())


def _dtd(root: Path, download: bool) -> Parts:
    from torchvision.datasets import DTD

    return _file_splits(DTD, root, download, ("train", "val"), "test", partition=1)


def _flowers102(root: Path, download: bool) -> Parts:
    from torchvision.datasets import Flowers102

    return _file_splits(Flowers102, root, download, ("train", "val"), "test")


def _pets(root: Path, download: bool) -> Parts:
    from torchvision.datasets import OxfordIIITPet

    return _file_splits(OxfordIIITPet, root, download, ("trainval",), "test", target_types="category")


def _sun397(root: Path, download: bool) -> Parts:
    from torchvision.datasets import SUN397

    ds = dataset(SUN397, download, root=str(root))
    order = sorted(range(len(ds._image_files)), key=lambda i: str(ds._image_files[i]))  # rglob order varies
    src = f"torchvision SUN397 {root}"
    cat = file_catalog(src, "all", [ds._image_files[i] for i in order], [ds._labels[i] for i in order])
    return parts(src + " (held-out 20% test)", *hold_out(cat, 0.2))


def _eurosat(root: Path, download: bool) -> Parts:
    from torchvision.datasets import EuroSAT

    ds = dataset(EuroSAT, download, root=str(root))
    src = f"torchvision EuroSAT {root}"
    cat = file_catalog(src, "all", [Path(p) for p, _ in ds.samples], ds.targets)
    return parts(src + " (held-out 20% test)", *hold_out(cat, 0.2))


def _caltech101(root: Path, download: bool) -> Parts:
    """All 102 category folders (background included, as in VTAB); 30 images per class for the pool."""
    from torchvision.datasets import Caltech101

    folder = root / "caltech101" / "101_ObjectCategories"
    ensure(Caltech101, root, folder, download)
    dirs = sorted(d.name for d in folder.iterdir() if d.is_dir())
    label_of = vtab_labels.caltech101_label_map(dirs)
    files = [f for d in dirs for f in sorted((folder / d).glob("*.jpg"))]
    labels = [label_of[f.parent.name] for f in files]
    src = f"torchvision Caltech101 {root}"
    cat = file_catalog(src, "all", files, labels)
    gen = torch.Generator().manual_seed(HOLDOUT_SEED)
    chosen = []
    for cls in torch.unique(cat.labels).tolist():
        members = torch.nonzero(cat.labels == cls).flatten()
        chosen.append(members[torch.randperm(len(members), generator=gen)[: min(30, len(members) // 2)]])
    keep = torch.ones(len(cat), dtype=torch.bool)
    keep[torch.cat(chosen)] = False
    test, pool = split_off(cat, torch.nonzero(keep).flatten())
    return parts(src + " (30 per class for train, rest test)", pool.renamed("pool"), test.renamed("test"))


def _clevr(root: Path, download: bool, label: Callable[[list[dict]], int]) -> Parts:
    """CLEVR v1.0 scenes: train is the pool, val is the test set (the CLEVR test split has no labels)."""
    from torchvision.datasets import CLEVRClassification

    base = root / "clevr" / "CLEVR_v1.0"
    ensure(CLEVRClassification, root, base / "scenes", download)
    src = f"torchvision CLEVR {root}"

    def catalog(split: str) -> Catalog:
        path = base / "scenes" / f"CLEVR_{split}_scenes.json"
        try:
            scenes = json.loads(path.read_text())["scenes"]
        except (OSError, ValueError, KeyError) as exc:
            raise UserError(f"cannot read CLEVR scenes {str(path)!r}", type(exc).__name__, "re-download") from exc
        scenes = sorted(scenes, key=lambda s: s["image_filename"])
        files = [base / "images" / split / s["image_filename"] for s in scenes]
        return file_catalog(src, split, files, [label(s["objects"]) for s in scenes])

    return parts(src, catalog("train"), catalog("val"))


def clevr_count(objects: list[dict]) -> int:
    return vtab_labels.clevr_count_label(len(objects))


def clevr_dist(objects: list[dict]) -> int:
    return vtab_labels.clevr_dist_label(o["pixel_coords"][2] for o in objects)


def kitti_objects(label_file: Path) -> list[tuple[str, float]]:
    """``(type, z)`` per object of a KITTI label file (column 14 is the camera-frame depth z)."""
    rows = [line.split() for line in label_file.read_text().splitlines() if line.strip()]
    return [(row[0], float(row[13])) for row in rows]


def _kitti(root: Path, download: bool) -> Parts:
    """KITTI object training images; VTAB's closest-vehicle distance; a fixed 10% held out as test."""
    from torchvision.datasets import Kitti

    base = root / "Kitti" / "raw" / "training"
    ensure(Kitti, root, base / "label_2", download, train=True)
    files = sorted((base / "image_2").glob("*.png"))
    labels = [vtab_labels.kitti_dist_label(kitti_objects(base / "label_2" / f"{f.stem}.txt")) for f in files]
    src = f"torchvision Kitti {root}"
    return parts(src + " (held-out 10% test)", *hold_out(file_catalog(src, "all", files, labels), 0.1))


class H5Images:
    """Items of an HDF5 image array (PCAM), read through one open handle shared by the decoding threads."""

    def __init__(self, path: Path) -> None:
        self.path, self.lock, self.handle = path, threading.Lock(), None

    def __call__(self, i: int, size: int) -> torch.Tensor:
        import h5py
        from PIL import Image

        with self.lock:
            if self.handle is None:
                self.handle = h5py.File(self.path, "r")
            array = self.handle["x"][i]
        return images.pil_to_uint8(Image.fromarray(array), size)


def _pcam(root: Path, download: bool) -> Parts:
    """PatchCamelyon: train + val are the pool, test is the test set."""
    import h5py
    from torchvision.datasets import PCAM

    base = root / "pcam"
    src = f"torchvision PCAM {root}"

    def catalog(split: str) -> Catalog:
        files = PCAM._FILES[split]
        ensure(PCAM, root, base / files["targets"][0], download, split=split)
        with h5py.File(base / files["targets"][0], "r") as f:
            labels = torch.from_numpy(f["y"][:].reshape(-1).astype("int64"))
        reader = H5Images(base / files["images"][0])
        return Catalog(f"pcam:{base}", split, tuple(str(i) for i in range(len(labels))), labels, reader)

    train, val = catalog("train"), catalog("val")
    pool_labels = torch.cat([train.labels, val.labels])
    n_train = len(train)

    def read(i: int, size: int) -> torch.Tensor:
        return train.read(i, size) if i < n_train else val.read(i - n_train, size)

    names = tuple(f"train:{i}" for i in range(n_train)) + tuple(f"val:{i}" for i in range(len(val)))
    return parts(src, Catalog(f"pcam:{base}", "train+val", names, pool_labels, read), catalog("test"))


FULL_SOURCES: dict[str, FullSource] = {
    "cifar100": FullSource("CIFAR100", "cifar-100-python/train", "0.2 GB", _cifar100),
    "caltech101": FullSource("Caltech101", "caltech101/101_ObjectCategories", "0.1 GB", _caltech101),
    "dtd": FullSource("DTD", "dtd/dtd/labels", "0.6 GB", _dtd),
    "flowers102": FullSource("Flowers102", "flowers-102/jpg", "0.3 GB", _flowers102),
    "pets": FullSource("OxfordIIITPet", "oxford-iiit-pet/annotations", "0.8 GB", _pets),
    "svhn": FullSource("SVHN", "svhn/train_32x32.mat", "0.2 GB", _svhn),
    "sun397": FullSource("SUN397", "SUN397/ClassName.txt", "37 GB", _sun397),
    "patch_camelyon": FullSource("PCAM", "pcam/camelyonpatch_level_2_split_train_y.h5", "7 GB, needs gdown", _pcam),
    "eurosat": FullSource("EuroSAT", "eurosat/2750", "0.1 GB", _eurosat),
    "clevr_count": FullSource(
        "CLEVRClassification", "clevr/CLEVR_v1.0/scenes", "18 GB", lambda r, d: _clevr(r, d, clevr_count)
    ),
    "clevr_dist": FullSource("CLEVR scenes", "clevr/CLEVR_v1.0/scenes", "18 GB", lambda r, d: _clevr(r, d, clevr_dist)),
    "kitti_dist": FullSource("Kitti", "Kitti/raw/training/label_2", "12 GB", _kitti),
}
