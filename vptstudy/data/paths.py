"""Where data lives: the data root, safe relative paths, and the tensor cache folder."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath, PureWindowsPath

from vptstudy.data import cache
from vptstudy.errors import UserError

DATA_ROOT_ENV = "VPTSTUDY_DATA"
CACHE_ENV = "VPTSTUDY_CACHE"
ALLOW_SYMLINKS_ENV = "VPTSTUDY_ALLOW_SYMLINKS"  # "1": follow symlinks that leave the data folder (--allow-symlinks)


def data_root(option: str | None) -> Path:
    """``--data-root``, else ``$VPTSTUDY_DATA``, else ``./data``."""
    return Path(option or os.environ.get(DATA_ROOT_ENV) or "data").expanduser()


def cache_root(option: str | None, near: Path | None) -> Path | None:
    """The tensor cache folder: ``--cache-dir``, else ``$VPTSTUDY_CACHE``, else ``.vptstudy-cache`` next to the
    data when that is writable, else ``~/.cache/vptstudy``; None when that fails too (then nothing is cached)."""
    explicit = option or os.environ.get(CACHE_ENV)
    if explicit:
        path = Path(explicit).expanduser()
        if not cache.writable_dir(path):
            raise UserError(f"cache folder {str(path)!r} is not writable", "--cache-dir", "pass a writable folder")
        return path
    candidates = [near / ".vptstudy-cache"] if near is not None else []
    home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vptstudy"
    for path in [*candidates, home]:
        if cache.writable_dir(path):
            return path
    return None


def safe_relpath(rel: str, where: str) -> str:
    """``rel`` if it stays inside its folder; a :class:`UserError` for absolute paths and ``..`` parts."""
    posix, windows = PurePosixPath(rel), PureWindowsPath(rel)
    if not rel or posix.is_absolute() or windows.is_absolute() or windows.drive or ".." in windows.parts:
        raise UserError(
            f"unsafe path {rel!r} escapes the data folder",
            where,
            "list files must hold paths relative to their folder, without '..'",
        )
    return rel


def symlinks_allowed() -> bool:
    return os.environ.get(ALLOW_SYMLINKS_ENV, "") not in ("", "0")


def ensure_inside(root: Path, rel: str, where: str, real_root: Path | None = None) -> None:
    """Refuse ``root/rel`` when its real path (symlinks resolved) leaves ``root``, like a ``..`` path.

    A listed symlink to ``/etc/passwd`` would otherwise be read. ``--allow-symlinks`` (``VPTSTUDY_ALLOW_SYMLINKS=1``)
    lifts this for users who keep their data behind links. ``real_root``: ``root.resolve()``, computed once per list.
    """
    if symlinks_allowed():
        return
    real_root = real_root or root.resolve()
    target = (root / rel).resolve()
    if target != real_root and real_root not in target.parents:
        raise UserError(
            f"unsafe path {rel!r} escapes the data folder (a symlink to {str(target)!r})",
            where,
            "copy the files into the data folder, or pass --allow-symlinks to follow links out of it",
        )
