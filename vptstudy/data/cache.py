"""The on-disk uint8 tensor cache: one safetensors file per decoded catalog, written atomically.

A file is trusted only when it parses, carries this format's version and the exact key it was asked for, and
holds tensors of the expected shape; anything else (truncated, older format, other content) counts as a miss and
is rebuilt by the caller.
"""

from __future__ import annotations

import os
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from vptstudy.atomic import atomic_path
from vptstudy.data.types import ImageSet

FORMAT = "vptstudy-tensor-cache"
VERSION = "2"


def load(path: Path, key: str, count: int, size: int) -> ImageSet | None:
    """The cached images for ``key``, or None when the file is missing, damaged, stale or for other content."""
    if not path.is_file():
        return None
    try:
        with safe_open(str(path), framework="pt") as handle:
            meta = handle.metadata() or {}
        if meta.get("format") != FORMAT or meta.get("version") != VERSION or meta.get("key") != key:
            return None
        tensors = load_file(str(path))
        data = ImageSet(tensors["images"], tensors["labels"])
    except (SafetensorError, OSError, KeyError, ValueError, RuntimeError):
        return None
    if len(data) != count or tuple(data.images.shape[1:]) != (3, size, size):
        return None
    return data


def save(path: Path, key: str, data: ImageSet) -> None:
    """Write ``data`` under ``key``: to a temporary file in the same folder, then renamed into place."""
    tensors = {"images": data.images.contiguous(), "labels": data.labels.contiguous()}
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={"format": FORMAT, "version": VERSION, "key": key})


def writable_dir(path: Path) -> bool:
    """True when ``path`` exists (or can be created) and accepts new files."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)
