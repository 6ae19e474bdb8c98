"""Built-in tasks (toy, digits) at the model's input size: kept from an earlier run of this process, read from one
cache file, or built (rendered or read, then resized) and cached.

Building is the cost: the toy tasks render 3,500 images and digits imports scikit-learn, and at 224 px both resize
every image again (10-16 s per run before this cache). The key is the source's content (the generator's code and
seeds, or the bundled file's size and mtime) + the input size + the resize method + how pool and test are cut, so a
changed source, size or split definition misses.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from vptstudy import memo
from vptstudy.data import cache
from vptstudy.data.images import RESIZE_METHOD
from vptstudy.data.types import ImageSet

Build = Callable[[], tuple[ImageSet, ImageSet]]
KEPT = memo.Memo("built-in tasks")  # (pool, test) of a task at one size


def cache_key(task: str, source: dict[str, Any], size: int) -> str:
    """The identity of a built-in task's pool and test at ``size``: JSON of everything that shapes the pixels."""
    identity = {"task": task, "source": source, "size": size, "resize": RESIZE_METHOD, "torch": torch.__version__}
    return json.dumps(identity, sort_keys=True, default=str)


def cache_file(cache_dir: Path, task: str, size: int, key: str) -> Path:
    """``<cache_dir>/builtin/<task>-<size>px-<hash>.safetensors``."""
    name = re.sub(r"[^A-Za-z0-9._]+", "-", task).strip("-") or "task"
    return cache_dir / "builtin" / f"{name}-{size}px-{hashlib.sha1(key.encode()).hexdigest()[:16]}.safetensors"


def pool_and_test(
    task: str, source: dict[str, Any], size: int, build: Build, cache_dir: Path | None
) -> tuple[ImageSet, ImageSet, dict[str, Any]]:
    """The task's pool and test at ``size`` and a report for config.json (``memory``, ``read`` or ``built``).

    The tensors may be shared with later runs of this process: callers index or copy them, never write into them.
    """
    key = cache_key(task, source, size)
    report: dict[str, Any] = {"dir": str(cache_dir) if cache_dir else None}
    kept = KEPT.get(key)
    if kept is not None:
        return (
            ImageSet(kept[0].images, kept[0].labels),
            ImageSet(kept[1].images, kept[1].labels),
            {
                **report,
                "memory": ["pool", "test"],
            },
        )
    path = cache_file(cache_dir, task, size, key) if cache_dir else None
    parts = cache.load_parts(path, key, {"pool": (None, size), "test": (None, size)}) if path else None
    if parts is not None:
        pool, test = parts["pool"], parts["test"]
        report["read"] = ["pool", "test"]
    else:
        pool, test = build()
        report["built"] = ["pool", "test"]
        if path is not None:
            try:
                cache.save_parts(path, key, {"pool": pool, "test": test})
            except OSError as exc:
                report["not_written"] = f"{type(exc).__name__}: {exc}"
    tensors = [pool.images, pool.labels, test.images, test.labels]
    KEPT.put(key, (pool, test), memo.tensor_bytes(tensors), tensors)
    return ImageSet(pool.images, pool.labels), ImageSet(test.images, test.labels), report


def code_digest(*files: str | Path) -> str:
    """A hash of source files' bytes: generated data changes when the code that generates it does."""
    digest = hashlib.sha1()
    for file in files:
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()[:16]
