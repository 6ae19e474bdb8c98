"""Cheap content fingerprints of data on disk: file names, sizes and modification times (stat only, no reads).

A changed, added or removed file changes the fingerprint, so caches keyed on it are rebuilt instead of served
stale. Hidden entries (``.vptstudy-cache`` next to the data, ``.DS_Store``) are skipped.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def stat_line(path: Path, name: str) -> str:
    """``name``, size and mtime (ns) of ``path``; ``missing`` when it cannot be stat'ed."""
    try:
        st = path.stat()
    except OSError:
        return f"{name}\0missing\n"
    return f"{name}\0{st.st_size}\0{st.st_mtime_ns}\n"


def files_fingerprint(root: Path, names: Iterable[str]) -> str:
    """A hash of the size and mtime of each ``root / name`` (in the given order)."""
    digest = hashlib.sha1()
    for name in names:
        digest.update(stat_line(root / name, name).encode())
    return digest.hexdigest()


def tree_files(root: Path) -> list[str]:
    """Every file under ``root`` (recursive, hidden entries skipped), as sorted relative POSIX paths."""
    if root.is_file():
        return [root.name]
    found: list[str] = []
    for folder, dirs, files in os.walk(root, followlinks=True):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        rel = Path(folder).relative_to(root)
        found.extend((rel / f).as_posix() for f in files if not f.startswith("."))
    return sorted(found)


def tree_fingerprint(root: Path) -> tuple[int, str]:
    """(number of files, hash of every file's relative path, size and mtime) of the tree under ``root``."""
    names = tree_files(root)
    base = root.parent if root.is_file() else root
    return len(names), files_fingerprint(base, names)
