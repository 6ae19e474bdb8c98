"""Turning catalogs into uint8 tensors: kept from an earlier run of this process, read from the tensor cache, or
decoded (in threads) and cached."""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import torch

from vptstudy import memo
from vptstudy.data import cache
from vptstudy.data.catalog import Catalog
from vptstudy.data.types import ImageSet

Progress = Callable[[int, int], None]
KEPT = memo.Memo("decoded catalogs")  # one entry per call: a task's pool and test at one size


def decode_workers() -> int:
    """Decoding threads: ``$VPTSTUDY_DECODE_WORKERS``, else the usable cores (at most 8)."""
    env = os.environ.get("VPTSTUDY_DECODE_WORKERS")
    if env and env.isascii() and env.isdigit() and int(env) > 0:
        return int(env)
    return max(1, min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1))


def decode(cat: Catalog, size: int, step: Callable[[int], None] | None = None) -> ImageSet:
    """Decode every item of ``cat`` at ``size x size``; ``step(done)`` after each image."""
    n = len(cat)
    images = torch.empty(n, 3, size, size, dtype=torch.uint8)
    rows = images.numpy()  # numpy row writes: no torch dispatch per image
    items = [cat.item(i) for i in range(n)]

    def one(i: int) -> int:
        rows[i] = cat.read(items[i], size).numpy()
        return i

    workers = decode_workers()
    if workers == 1 or n < 32:
        for i in range(n):
            one(i)
            if step is not None:
                step(i + 1)
    else:
        pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="vptstudy-decode")
        try:
            for done, _ in enumerate(pool.map(one, range(n)), start=1):
                if step is not None:
                    step(done)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    return ImageSet(images, cat.labels.clone())


def cache_path(cache_dir: Path, cat: Catalog, size: int, key: str) -> Path:
    """``<cache_dir>/<source>/<part>-<size>px-<hash>.safetensors``, readable and unique per content."""
    source = re.sub(r"[^A-Za-z0-9._]+", "-", cat.source).strip("-")[-80:] or "source"
    part = re.sub(r"[^A-Za-z0-9._]+", "-", cat.part).strip("-")[:40] or "part"
    digest = hashlib.sha1(key.encode()).hexdigest()[:16]
    return cache_dir / source / f"{part}-{size}px-{digest}.safetensors"


def materialize(
    catalogs: list[Catalog], size: int, cache_dir: Path | None, progress: Progress | None = None
) -> tuple[list[ImageSet], dict[str, Any]]:
    """Decoded images for each catalog: kept in memory from an earlier call with the same content, else from the
    cache where it holds a valid copy, else decoded.

    Progress counts only images that are decoded, over all catalogs together. Returns the images and a report
    (cache folder, parts read from it, parts decoded, or ``memory``) for the run's config.json. The returned tensors
    may be shared with later calls: callers index or copy them and never write into them.
    """
    report: dict[str, Any] = {"dir": str(cache_dir) if cache_dir else None, "read": [], "decoded": []}
    keys = [cat.key(size) for cat in catalogs]
    kept = KEPT.get(tuple(keys))
    if kept is not None:
        return [ImageSet(d.images, d.labels) for d in kept], {**report, "memory": [cat.part for cat in catalogs]}
    results: dict[str, ImageSet] = {}
    todo: list[tuple[str, Catalog, Path | None]] = []
    for cat, key in zip(catalogs, keys, strict=True):
        if key in results or any(key == k for k, _, _ in todo):
            continue
        path = cache_path(cache_dir, cat, size, key) if cache_dir else None
        hit = cache.load(path, key, len(cat), size) if path else None
        if hit is not None:
            results[key] = hit
            report["read"].append(cat.part)
        else:
            todo.append((key, cat, path))
    _decode_all(todo, size, results, report, progress)
    found = [results[k] for k in keys]
    tensors = [t for data in results.values() for t in (data.images, data.labels)]
    KEPT.put(tuple(keys), tuple(found), memo.tensor_bytes(tensors), tensors)
    return found, report


def _decode_all(
    todo: list[tuple[str, Catalog, Path | None]],
    size: int,
    results: dict[str, ImageSet],
    report: dict[str, Any],
    progress: Progress | None,
) -> None:
    """Decode each catalog of ``todo`` into ``results`` and write it to its cache file (when it has one)."""
    total, offset = sum(len(cat) for _, cat, _ in todo), 0
    for key, cat, path in todo:

        def step(done: int, offset: int = offset) -> None:
            if progress is not None:
                progress(offset + done, total)

        data = decode(cat, size, step)
        offset += len(cat)
        results[key] = data
        report["decoded"].append(cat.part)
        if path is not None:
            try:
                cache.save(path, key, data)
            except OSError as exc:
                report["not_written"] = f"{type(exc).__name__}: {exc}"
