"""The task registry: every task's group, classes, disparity, sources and preprocessing, and how to load it."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from vptstudy.config import RunConfig
from vptstudy.data import builtin, sources, splits, subsets
from vptstudy.data.assemble import assemble
from vptstudy.data.catalog import Parts
from vptstudy.data.fingerprint import tree_fingerprint
from vptstudy.data.paths import cache_root
from vptstudy.data.tv_common import hold_out
from vptstudy.data.types import ImageSet, Preprocess, TaskData
from vptstudy.errors import UserError

GROUP_ORDER = ("natural", "specialized", "structured", "fgvc", "toy", "custom")
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
    available: Callable[[Path], list[str]] | None = None  # the sources present under a data root
    data_dir: Callable[[RunConfig], Path | None] | None = None  # the folder a run reads; None: built-in data

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
    choice = splits.choose(
        pool.labels,
        shots=cfg.shots,
        train_size=cfg.train_size,
        split_seed=cfg.split_seed,
        default=default,
        where=f"task {name}",
    )
    info = {**choice.info, "test": len(test)}
    if cfg.split == "final":  # the same rows as concatenating train and val, in one copy
        return subsets.take(pool, torch.cat([choice.train, choice.val])), None, test, info
    return subsets.take(pool, choice.train), subsets.take(pool, choice.val), test, info


DIGITS_POOL = 1000  # a fixed permutation (seed 0): the first 1000 images are the train+val pool, 797 test


def _digits_pool_and_test(size: int) -> tuple[ImageSet, ImageSet]:
    data = sources.digits_images(size)
    perm = splits.permutation(len(data), 0)
    return data.subset(perm[:DIGITS_POOL]), data.subset(perm[DIGITS_POOL:])


def _load_digits(spec: TaskSpec, cfg: RunConfig, size: int, progress: Progress | None) -> TaskData:
    digits = {**sources.digits_source(), "split": f"permutation seed 0, pool {DIGITS_POOL}"}
    pool, test, report = builtin.pool_and_test(
        spec.name, digits, size, lambda: _digits_pool_and_test(size), cache_root(cfg.cache_dir, None)
    )
    train, val, test, info = split_from_pool(spec.name, pool, test, cfg, (800, 200))
    info["cache"] = report
    info["classes"] = [str(digit) for digit in range(10)]
    return TaskData(spec.name, 10, train, val, test, spec.make_preprocess(size), info)


def _load_folder(spec: TaskSpec, cfg: RunConfig, size: int, progress: Progress | None) -> TaskData:
    if not cfg.data_root:
        raise UserError(
            "task 'folder' needs a data folder",
            "--data-root",
            "pass --data-root DIR with one sub-folder of images per class",
        )
    root = Path(cfg.data_root).expanduser()
    if (root / "train").is_dir() and (root / "test").is_dir():
        classes, pool = sources.image_folder_catalog(root / "train", "--data-root/train")
        test_classes, test = sources.image_folder_catalog(root / "test", "--data-root/test")
        if test_classes != classes:
            raise UserError(
                "train/ and test/ hold different class folders",
                str(root),
                "use the same class sub-folders in both",
            )
        parts = Parts(pool, test, f"image folder {root} (train/ and test/)")
    else:
        classes, everything = sources.image_folder_catalog(root)
        pool, test = hold_out(everything, 0.2)
        parts = Parts(pool, test, f"image folder {root} (held-out 20% test)")
    n_val = max(len(parts.pool) // 5, 1)
    data = assemble(
        spec.name,
        parts,
        cfg,
        len(classes),
        spec.make_preprocess(size),
        (len(parts.pool) - n_val, n_val),
        progress,
        root,
    )
    data.split_info["classes"] = classes
    return data


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
        data_dir=lambda cfg: Path(cfg.data_root).expanduser() if cfg.data_root else None,
    )
)


def load_task_data(cfg: RunConfig, input_size: int, progress: Progress | None = None) -> TaskData:
    """Load the splits a run asks for, decoded at the task's resolution for a model input of ``input_size``."""
    from vptstudy.normalize import stats

    spec = get_task(cfg.task)
    data = spec.loader(spec, cfg, input_size, progress)
    mean, std = stats(cfg.normalize, cfg.model)  # --normalize: ImageNet's (default) or the backbone's own
    data.preprocess = replace(data.preprocess, mean=mean, std=std)
    return data


def content_key(cfg: RunConfig) -> dict[str, str | int | None]:
    """What data a run of ``cfg`` reads, cheaply: the resolved folder and a fingerprint of every file under it
    (relative names, sizes, mtimes; no image is read). Built-in data gives ``{"data_dir": None, ...}``.

    Two runs with equal keys read the same files; an edited, added or removed image changes ``fingerprint``.
    """
    spec = get_task(cfg.task)
    folder = spec.data_dir(cfg) if spec.data_dir is not None else None
    if folder is None or not folder.exists():
        return {"data_dir": None, "files": 0, "fingerprint": None}
    count, digest = tree_fingerprint(folder)
    return {"data_dir": str(folder.resolve()), "files": count, "fingerprint": digest}
