"""Where images for the Fréchet distance come from: a reference folder, list file or ``.npz``, and task splits.

A reference folder is scanned recursively for pytorch-fid's image extensions in any case (``.PNG`` too), skipping
hidden files and folders, and sorted by path as pytorch-fid sorts. A list file holds one image path per line
(``path`` or VTAB-style ``path label``), relative to the list file's folder unless absolute; ``#`` starts a comment.
``toy-upstream`` names the embedded backbone's pretraining data: 1000 held-out images of the upstream task
(``--max-images`` changes the count), rendered at the extractor's input size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from vptstudy.data.vtab1k import is_label
from vptstudy.errors import UserError

# pytorch-fid's IMAGE_EXTENSIONS (fid_score.py), matched case-insensitively here
IMAGE_EXTENSIONS = frozenset({"bmp", "jpg", "jpeg", "pgm", "png", "ppm", "tif", "tiff", "webp"})
SPLITS = ("trainval", "train", "val", "test")
DEFAULT_SPLIT = "trainval"
TOY_UPSTREAM = "toy-upstream"  # built-in reference: held-out images of the toy backbone's pretraining task
TOY_UPSTREAM_IMAGES = 1000


@dataclass
class Reference:
    """The pretraining side: saved statistics (``stats_file``) or image ``files``; ``identity`` for the cache."""

    kind: str  # "stats", "folder", "list" or "toy-upstream"
    path: Path
    files: list[Path] = field(default_factory=list)
    identity: dict[str, Any] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return f"{self.kind} {self.path}"


def is_image(path: Path) -> bool:
    return path.suffix.lower().lstrip(".") in IMAGE_EXTENSIONS


def scan_folder(root: Path) -> list[Path]:
    """Image files under ``root`` (recursive, any extension case, hidden entries skipped), sorted by path."""
    files = []
    for path in root.rglob("*"):
        rel = path.relative_to(root).parts
        if any(part.startswith(".") for part in rel) or not is_image(path) or not path.is_file():
            continue
        files.append(path)
    return sorted(files)


def read_list_file(path: Path, where: str = "--reference") -> list[Path]:
    """Image paths of a list file (see module doc); each must exist."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(
            f"cannot read list file {str(path)!r}: {type(exc).__name__}", where, "pass a text file"
        ) from exc
    files = []
    for number, line in enumerate(lines, 1):
        text = line.split("#", 1)[0].strip()
        if not text:
            continue
        parts = text.rsplit(None, 1)
        name = parts[0] if len(parts) == 2 and is_label(parts[1]) else text
        file = Path(name).expanduser()
        file = file if file.is_absolute() else path.parent / file
        if not file.is_file():
            raise UserError(
                f"image {name!r} listed in {str(path)!r} line {number} not found",
                where,
                "list paths relative to the list file's folder, or absolute paths",
            )
        files.append(file)
    return files


def fingerprint(files: list[Path]) -> str:
    """A hash of the files' paths, sizes and modification times (stat only: no image is read)."""
    digest = hashlib.sha1()
    for file in files:
        stat = file.stat()
        digest.update(f"{file.resolve()}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def resolve_reference(path: str | Path) -> Reference:
    """A folder, a list file or a ``.npz`` of statistics; :class:`UserError` when it is none of them."""
    if str(path) == TOY_UPSTREAM and not Path(path).exists():
        return Reference(TOY_UPSTREAM, Path(TOY_UPSTREAM), identity={"reference": TOY_UPSTREAM})
    ref = Path(path).expanduser()
    if not ref.exists():
        raise UserError(
            f"reference {str(ref)!r} not found",
            "--reference",
            f"pass a folder of images, a list file of image paths, a .npz with mu and sigma, or {TOY_UPSTREAM}",
        )
    if ref.is_file() and ref.suffix.lower() == ".npz":
        return Reference("stats", ref, identity={"stats_file": str(ref.resolve())})
    if ref.is_dir():
        files, kind = scan_folder(ref), "folder"
        if not files:
            raise UserError(
                f"reference folder {str(ref)!r} holds no images",
                "--reference",
                f"add images ({', '.join(sorted(IMAGE_EXTENSIONS))}, any case, sub-folders too)",
            )
    else:
        files, kind = read_list_file(ref), "list"
        if not files:
            raise UserError(f"list file {str(ref)!r} names no images", "--reference", "one image path per line")
    return Reference(kind, ref, files, {"reference": kind, "path": str(ref.resolve())})


def sample_indices(total: int, max_images: int | None, seed: int) -> torch.Tensor | None:
    """Sorted, seeded choice of ``max_images`` of ``total`` indices; None when the cap keeps everything."""
    if max_images is None or max_images >= total:
        return None
    rng = np.random.default_rng(seed)
    return torch.from_numpy(np.sort(rng.choice(total, size=max_images, replace=False)))


def split_config(task: str, split: str, data_root: str | None = None, cache_dir: str | None = None) -> Any:
    """The RunConfig whose data holds ``split`` of ``task`` (``trainval`` and ``test`` come from a final run)."""
    from vptstudy.config import RunConfig

    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}", "--split", f"use one of {', '.join(SPLITS)}")
    run_split = "final" if split in ("trainval", "test") else "tune"
    return RunConfig(task=task, method="ft", split=run_split, data_root=data_root, cache_dir=cache_dir)


def load_task_split(
    task: str,
    split: str,
    size: int,
    data_root: str | None = None,
    cache_dir: str | None = None,
    progress: Any = None,
) -> tuple[torch.Tensor, int | None]:
    """The uint8 images of a task's split decoded for an input of ``size``, and the eval centre crop (or None).

    ``trainval`` is the tuning data of the paper's protocol (train800val200 for VTAB-1k): train and val together.
    """
    from vptstudy.data import load_task_data

    data = load_task_data(split_config(task, split, data_root, cache_dir), size, progress)
    chosen = {"trainval": data.train, "train": data.train, "val": data.val, "test": data.test}[split]
    if chosen is None:
        raise UserError(f"task {task} has no {split} split", "--split", "use trainval, train or test")
    return chosen.images, data.preprocess.crop
