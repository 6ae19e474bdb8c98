"""The task registry: every task's group, classes, disparity, sources and preprocessing, and how to load it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

from vptstudy.config import RunConfig
from vptstudy.data import sources, splits
from vptstudy.data.types import ImageSet, Preprocess, TaskData
from vptstudy.errors import UserError

GROUPS = ("natural", "specialized", "structured", "fgvc", "toy", "custom")
Progress = Callable[[int, int], None]
Loader = Callable[["TaskSpec", RunConfig, int, "Progress | None"], TaskData]


@dataclass(frozen=True)
class TaskSpec:
    """A registered task. ``num_classes`` is None when it comes from the data (image folders)."""

    name: str
    group: str
    disparity: str
    num_classes: int | None
    sources: tuple[str, ...]
    preprocess: str  # "resize" (VTAB: direct resize, no augmentation) or "fgvc" (256, random crop + flip)
    summary: str
    loader: Loader
    get_it: str = ""

    def make_preprocess(self, input_size: int) -> Preprocess:
        if self.preprocess == "fgvc":
            return Preprocess(resize=round(input_size * 256 / 224), crop=input_size, flip=True)
        return Preprocess(resize=input_size)


TASKS: dict[str, TaskSpec] = {}


def register(spec: TaskSpec) -> TaskSpec:
    TASKS[spec.name] = spec
    return spec


def get_task(name: str) -> TaskSpec:
    try:
        return TASKS[name]
    except KeyError:
        raise UserError(
            f"unknown task {name!r}", "--task", "run `vptstudy tasks` to list them, e.g. toy/digits or folder"
        ) from None


def split_from_pool(
    name: str, pool: ImageSet, test: ImageSet, cfg: RunConfig, default: tuple[int, int]
) -> tuple[ImageSet, ImageSet | None, ImageSet, dict]:
    """Choose train/val from ``pool`` for the request in ``cfg``; ``final`` merges val into train."""
    where = f"task {name}"
    if cfg.shots is not None:
        train_idx, val_idx = splits.kshot_split(pool.labels, cfg.shots, cfg.split_seed, where)
        kind = f"{cfg.shots}-shot"
    elif cfg.train_size is not None:
        train_idx, val_idx = splits.size_split(pool.labels, cfg.train_size, cfg.split_seed, where)
        kind = f"size {cfg.train_size}"
    else:
        n_train, n_val = default
        if n_train + n_val > len(pool):
            raise UserError(
                f"{name} has {len(pool)} train+val images, the protocol needs {n_train + n_val}",
                where,
                "add data or use --train-size",
            )
        perm = splits.permutation(len(pool), cfg.split_seed)
        train_idx, val_idx = perm[:n_train], perm[n_train : n_train + n_val]
        kind = f"train{n_train}/val{n_val}"
    info = {
        "kind": kind,
        "split_seed": cfg.split_seed,
        "train": len(train_idx),
        "val": len(val_idx),
        "test": len(test),
        "train_hash": splits.index_hash(train_idx),
        "val_hash": splits.index_hash(val_idx),
    }
    train, val = pool.subset(train_idx), pool.subset(val_idx)
    if cfg.split == "final":
        return ImageSet.concat([train, val]), None, test, info
    return train, val, test, info


def _load_digits(spec: TaskSpec, cfg: RunConfig, size: int, progress: Progress | None) -> TaskData:
    data = sources.digits_images(size)
    perm = splits.permutation(len(data), 0)  # fixed: 1000 train+val pool, 797 test
    pool, test = data.subset(perm[:1000]), data.subset(perm[1000:])
    train, val, test, info = split_from_pool(spec.name, pool, test, cfg, (800, 200))
    return TaskData(spec.name, 10, train, val, test, spec.make_preprocess(size), info)


def _load_folder(spec: TaskSpec, cfg: RunConfig, size: int, progress: Progress | None) -> TaskData:
    if not cfg.data_root:
        raise UserError(
            "task 'folder' needs a data folder",
            "--data-root",
            "pass --data-root DIR with one sub-folder of images per class",
        )
    root = Path(cfg.data_root).expanduser()
    test_root = root / "test"
    if (root / "train").is_dir() and test_root.is_dir():
        classes, items = sources.scan_image_folder(root / "train", "--data-root/train")
        test_classes, test_items = sources.scan_image_folder(test_root, "--data-root/test")
        if test_classes != classes:
            raise UserError(
                "train/ and test/ hold different class folders",
                str(root),
                "use the same class sub-folders in both",
            )
        pool = sources.decode_items(items, size, progress)
        test = sources.decode_items(test_items, size, progress)
    else:
        classes, items = sources.scan_image_folder(root)
        everything = sources.decode_items(items, size, progress)
        test_idx = splits.stratified_take(everything.labels, len(everything) // 5, 0, f"--data-root {root}")
        keep = torch.ones(len(everything), dtype=torch.bool)
        keep[test_idx] = False
        pool, test = everything.subset(torch.nonzero(keep).flatten()), everything.subset(test_idx)
    n_val = max(len(pool) // 5, 1)
    train, val, test, info = split_from_pool(spec.name, pool, test, cfg, (len(pool) - n_val, n_val))
    info["classes"] = classes
    return TaskData(spec.name, len(classes), train, val, test, spec.make_preprocess(size), info)


register(
    TaskSpec(
        "toy/digits",
        "toy",
        "low",
        10,
        ("bundled",),
        "resize",
        "scikit-learn's bundled 8x8 digits: 800/200 train/val, 797 test",
        _load_digits,
        "bundled with scikit-learn",
    )
)
register(
    TaskSpec(
        "folder",
        "custom",
        "low",
        None,
        ("image-folder",),
        "resize",
        "your own images: --data-root DIR/<class>/*.png (or DIR/train and DIR/test)",
        _load_folder,
        "--data-root DIR with one sub-folder per class",
    )
)


def load_task_data(cfg: RunConfig, input_size: int, progress: Progress | None = None) -> TaskData:
    """Load the splits a run asks for, decoded at the task's resolution for a model input of ``input_size``."""
    spec = get_task(cfg.task)
    return spec.loader(spec, cfg, input_size, progress)
