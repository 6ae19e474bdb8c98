"""The on-disk uint8 tensor cache: one safetensors file per decoded catalog (or per built-in task's parts), written
atomically.

A file is used only when it parses, carries this format's version and the exact key it was asked for, and holds
tensors of the expected shape. A file of another version or key is stale: a miss, overwritten by the rebuild. A
damaged one (truncated, garbage, tensors missing or of the wrong shape for its key) is reported with one warning
line on stderr, moved to ``rejected/`` beside it, and rebuilt; it is never read again.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.torch import load_file, save_file

from vptstudy.atomic import atomic_path
from vptstudy.damaged import set_aside
from vptstudy.data.types import ImageSet

FORMAT = "vptstudy-tensor-cache"
VERSION = "2"
Expect = dict[str, tuple[int | None, int]]  # part -> (image count or None for any, side in pixels)


class _Damaged(Exception):
    pass


def _names(part: str) -> tuple[str, str]:
    return ("images", "labels") if not part else (f"{part}.images", f"{part}.labels")


def load(path: Path, key: str, count: int, size: int) -> ImageSet | None:
    """The cached images for ``key``, or None when the file is missing, stale or damaged (then reported)."""
    parts = load_parts(path, key, {"": (count, size)})
    return None if parts is None else parts[""]


def load_parts(path: Path, key: str, expect: Expect) -> dict[str, ImageSet] | None:
    """The parts named in ``expect`` from one file written by :func:`save_parts`, or None (see :func:`load`)."""
    if not path.is_file():
        return None
    try:
        try:
            with safe_open(str(path), framework="pt") as handle:
                meta = handle.metadata() or {}
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise _Damaged(f"not a complete safetensors file ({str(exc).splitlines()[0][:100]})") from None
        if meta.get("format") != FORMAT or meta.get("version") != VERSION or meta.get("key") != key:
            return None
        return _read(path, expect)
    except _Damaged as exc:
        _reject(path, str(exc))
        return None


def _read(path: Path, expect: Expect) -> dict[str, ImageSet]:
    try:
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
        raise _Damaged(f"unreadable tensors ({str(exc).splitlines()[0][:100]})") from None
    parts = {}
    for part, (count, size) in expect.items():
        images, labels = _names(part)
        if images not in tensors or labels not in tensors:
            raise _Damaged(f"no {images!r} or {labels!r} tensor")
        try:
            data = ImageSet(tensors[images], tensors[labels])
        except ValueError as exc:
            raise _Damaged(str(exc)) from None
        if (count is not None and len(data) != count) or tuple(data.images.shape[2:]) != (size, size):
            raise _Damaged(f"{images} has shape {tuple(data.images.shape)}, expected {count} x 3 x {size} x {size}")
        parts[part] = data
    return parts


def _reject(path: Path, why: str) -> None:
    try:
        moved = set_aside([path])
        where = f"moved to {moved[0]}" if moved else "already gone"
    except OSError as exc:  # another worker moved it first, or the folder is read-only: the rebuild overwrites it
        where = f"not moved ({type(exc).__name__})"
    print(f"vptstudy: warning: damaged data cache {path}: {why}; {where}; rebuilding it", file=sys.stderr, flush=True)


def save(path: Path, key: str, data: ImageSet) -> None:
    """Write ``data`` under ``key``: to a temporary file in the same folder, then renamed into place."""
    save_parts(path, key, {"": data})


def save_parts(path: Path, key: str, parts: dict[str, ImageSet]) -> None:
    """Write several named parts (``pool``, ``test``) to one file under ``key``, atomically."""
    tensors = {}
    for part, data in parts.items():
        images, labels = _names(part)
        tensors[images], tensors[labels] = data.images.contiguous(), data.labels.contiguous()
    with atomic_path(path) as tmp:
        save_file(tensors, tmp, metadata={"format": FORMAT, "version": VERSION, "key": key})


def writable_dir(path: Path) -> bool:
    """True when ``path`` exists (or can be created) and accepts new files."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError:
        return False
    return os.access(path, os.W_OK)
