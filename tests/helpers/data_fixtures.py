"""Tiny on-disk datasets in each supported format, written into a test's tmp_path, and the configs that read them."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from vptstudy.config import RunConfig


def write_image(path: Path, value: int, size: tuple[int, int] = (14, 10), fmt: str | None = None) -> None:
    """A small image whose pixels encode ``value`` (so decoded content can be checked)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(value)
    array = np.full((size[1], size[0], 3), value % 256, dtype=np.uint8)
    array[0, 0] = rng.integers(0, 255, 3)
    Image.fromarray(array).save(path, format=fmt)


def make_vtab1k(
    root: Path,
    folder: str = "diabetic_retinopathy",
    classes: int = 5,
    train: int = 40,
    val: int = 10,
    test: int = 15,
    official: bool = True,
) -> Path:
    """``root/vtab-1k/<folder>`` with PNGs and list files (train800/val200 when ``official``)."""
    task = root / "vtab-1k" / folder
    lists: dict[str, list[str]] = {"train800": [], "val200": [], "test": []}
    for part, n in (("train800", train), ("val200", val), ("test", test)):
        for i in range(n):
            rel = f"images/{part}/{i:04d}.png"
            write_image(task / rel, i)
            lists[part].append(f"{rel} {i % classes}")
    lists["train800val200"] = lists["train800"] + lists["val200"]
    if not official:
        del lists["train800"], lists["val200"]
    for name, lines in lists.items():
        (task / f"{name}.txt").write_text("\n".join(lines) + "\n")
    return task


def make_fgvc(root: Path, folder: str = "CUB_200_2011", classes: int = 4, per_class: int = 6) -> Path:
    """``root/fgvc/<folder>`` with JPEGs under images/ and train/val/test json (class ids 1..C as in VPT)."""
    task = root / "fgvc" / folder
    splits: dict[str, dict[str, int]] = {"train": {}, "val": {}, "test": {}}
    for cls in range(classes):
        for i in range(per_class):
            rel = f"{cls + 1:03d}.class/img_{i}.jpg"
            write_image(task / "images" / rel, 10 * cls + i, fmt="JPEG")
            split = "train" if i < per_class // 2 else "val" if i == per_class // 2 else "test"
            splits[split][rel] = cls + 1
    for name, mapping in splits.items():
        (task / f"{name}.json").write_text(json.dumps(mapping))
    return task


def make_image_folder(root: Path, classes: tuple[str, ...] = ("cat", "dog", "fox"), per_class: int = 5) -> Path:
    for c, name in enumerate(classes):
        for i in range(per_class):
            write_image(root / name / f"{i}.png", 20 * c + i)
    return root


def write_huge_png(path: Path, width: int, height: int) -> None:
    """A valid PNG header claiming ``width x height`` with one tiny data chunk (a few bytes on disk)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    body = chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 16)) + chunk(b"IEND", b"")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body)


def edit_line(path, lineno, text):
    lines = path.read_text().splitlines()
    lines[lineno - 1] = text
    path.write_text("\n".join(lines) + "\n")


def vtab_config(root: Path, cache: str = "cache", **kw) -> RunConfig:
    """A linear run on the ``make_vtab1k`` folder under ``root`` (vtab/retinopathy), caching in ``root/cache``."""
    return RunConfig(task="vtab/retinopathy", method="linear", data_root=str(root), cache_dir=str(root / cache), **kw)
