"""What data a run reads, cheaply: the resolved data root and a hash of the listings (names, sizes, mtimes) of the
files a task's loader would open, so a run folder is never reused for other data (issue 17).

Listings only: no image is read or decoded. A VTAB-1k folder is identified by its top level (the list files and
the image folders), an FGVC folder by its top level (the json files), a torchvision root by its top level, an image
folder (task ``folder``) by every file under it. Tasks that bring their own data (toy, bundled) have no root.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from vptstudy.config import RunConfig

FOLDER_WALK_LIMIT = 200_000  # entries of an image folder listed at most (the rest is not part of the hash)


@dataclass(frozen=True)
class DataIdentity:
    """The resolved data root (None: the task brings its data) and a short hash of what lies there."""

    root: str | None
    fingerprint: str


def _entry(path: Path, rel: str) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{rel}\tmissing\n"
    return f"{rel}\t{st.st_size}\t{st.st_mtime_ns}\n"


def _top_level(folder: Path, digest: hashlib._Hash) -> None:
    digest.update(f"dir {folder}\n".encode())
    try:
        names = sorted(os.listdir(folder))
    except OSError:
        digest.update(b"unreadable\n")
        return
    for name in names:
        digest.update(_entry(folder / name, name).encode())


def _walk(folder: Path, digest: hashlib._Hash) -> None:
    digest.update(f"tree {folder}\n".encode())
    count = 0
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames.sort()
        for name in sorted(filenames):
            path = Path(dirpath) / name
            digest.update(_entry(path, str(path.relative_to(folder))).encode())
            count += 1
            if count >= FOLDER_WALK_LIMIT:
                return


def _benchmark_folders(task: str, root: Path) -> list[tuple[Path, bool]]:
    """(folder, walk it whole) for each place a VTAB/FGVC task's loader may read under ``root``."""
    from vptstudy.data import benchmarks, fgvc_json, tv_common, vtab1k
    from vptstudy.data.full_datasets import FULL_SOURCES

    name = task.split("/", 1)[1]
    found: list[tuple[Path, bool]] = []
    for bench in benchmarks.VTAB:
        if bench.name == name:
            folder = vtab1k.locate(root, bench.folders)
            if folder is not None:
                found.append((folder, False))
            full = FULL_SOURCES.get(bench.name)
            full_root = tv_common.locate(root, full) if full is not None else None
            if full_root is not None:
                found.append((full_root / full.marker if (full_root / full.marker).is_dir() else full_root, False))
            images = benchmarks._image_folder(root, bench)
            if images is not None:
                found.append((images, False))
    for bench in benchmarks.FGVC:
        if bench.name == name:
            folder = fgvc_json.locate(root, bench.folders)
            if folder is not None:
                found.append((folder, False))
    return found


def data_identity(cfg: RunConfig) -> DataIdentity:
    """The data a run of ``cfg`` reads: its resolved root and a fingerprint of the task's files there."""
    from vptstudy.data.paths import data_root
    from vptstudy.data.tasks import TASKS

    spec = TASKS.get(cfg.task)
    if spec is None or spec.group == "toy":  # toy tasks bring their data; an unknown task fails when it loads
        return DataIdentity(None, "")
    root = data_root(cfg.data_root).resolve()
    digest = hashlib.sha1()
    if cfg.task == "folder":
        _walk(root, digest)
    else:
        places = _benchmark_folders(cfg.task, root) if "/" in cfg.task else []
        for folder, whole in places or [(root, False)]:
            (_walk if whole else _top_level)(folder, digest)
    return DataIdentity(str(root), digest.hexdigest()[:12])
