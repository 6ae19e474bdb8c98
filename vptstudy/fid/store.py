"""Statistics on disk: pytorch-fid's ``.npz`` format (``mu``, ``sigma``), written atomically, and the stats cache.

Files we write also carry ``n`` (the number of images) and, in the cache, ``key`` (the JSON identity they were
computed for); pytorch-fid reads only ``mu`` and ``sigma``, so every file here also works with
``python -m pytorch_fid``.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from vptstudy.atomic import atomic_path
from vptstudy.errors import UserError
from vptstudy.fid.frechet import FrechetError, Stats

CACHE_VERSION = 1
CACHE_ENV = "VPTSTUDY_CACHE"


def write_npz(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """``np.savez_compressed`` into a temporary file beside ``path``, fsync, then rename over it."""
    with atomic_path(path) as tmp, tmp.open("wb") as handle:
        np.savez_compressed(handle, **arrays)


def stats_arrays(stats: Stats, **extra: Any) -> dict[str, np.ndarray]:
    arrays = {"mu": stats.mu, "sigma": stats.sigma}
    if stats.n is not None:
        arrays["n"] = np.asarray(stats.n, dtype=np.int64)
    arrays.update({k: np.asarray(v) for k, v in extra.items()})
    return arrays


def check_stats_target(path: Path, overwrite: bool, option: str = "--save-stats") -> Path:
    """Validate a ``--save-stats`` target before any work: ``.npz`` suffix, no silent overwrite, writable folder."""
    path = Path(path).expanduser()
    if path.suffix.lower() != ".npz":
        raise UserError(f"statistics file {str(path)!r} must end in .npz", option, "pytorch-fid reads only .npz")
    if path.exists() and not overwrite:
        raise UserError(f"{str(path)!r} already exists", option, "pick another name or pass --overwrite")
    if path.is_dir():
        raise UserError(f"{str(path)!r} is a folder", option, "name a .npz file")
    parent = path.parent if str(path.parent) else Path(".")
    if parent.exists() and not os.access(parent, os.W_OK):
        raise UserError(f"cannot write into {str(parent)!r}", option, "pick a writable folder")
    return path


def save_stats(path: Path, stats: Stats, overwrite: bool = False) -> Path:
    """Write ``stats`` as a pytorch-fid ``.npz`` (plus ``n``), atomically."""
    path = check_stats_target(path, overwrite)
    write_npz(path, stats_arrays(stats))
    return path


def load_stats(path: Path, where: str = "--reference") -> Stats:
    """Read ``mu``/``sigma`` (and ``n`` when present) from a ``.npz``; a clear :class:`UserError` otherwise."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"statistics file {str(path)!r} not found", where, "pass an existing .npz with mu and sigma")
    try:
        with np.load(path, allow_pickle=False) as data:
            missing = [k for k in ("mu", "sigma") if k not in data.files]
            if missing:
                raise UserError(
                    f"statistics file {str(path)!r} lacks {', '.join(missing)}",
                    where,
                    "write it with `vptstudy fid --save-stats` or `python -m pytorch_fid --save-stats`",
                )
            n = int(data["n"]) if "n" in data.files else None
            return Stats(data["mu"], data["sigma"], n)
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        if isinstance(exc, FrechetError):
            raise UserError(f"statistics file {str(path)!r} is invalid: {exc}", where, "recompute it") from exc
        raise UserError(
            f"cannot read statistics file {str(path)!r}: {type(exc).__name__}", where, "recompute it"
        ) from exc


def default_cache_dir() -> Path:
    """``$VPTSTUDY_CACHE/fid``, else ``$XDG_CACHE_HOME/vptstudy/fid`` (``~/.cache/vptstudy/fid``)."""
    root = os.environ.get(CACHE_ENV)
    if root:
        return Path(root).expanduser() / "fid"
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vptstudy" / "fid"


class StatsCache:
    """Statistics keyed by a JSON identity (source, split, extractor, image count, ...); ``root`` None disables it.

    A cache file is used only when it parses and records exactly the identity asked for; anything else is a miss.
    ``refresh`` recomputes (and rewrites) every entry.
    """

    def __init__(self, root: Path | None, refresh: bool = False) -> None:
        self.root = None if root is None else Path(root).expanduser()
        self.refresh = refresh

    @staticmethod
    def key(identity: dict[str, Any]) -> str:
        return json.dumps({"version": CACHE_VERSION, **identity}, sort_keys=True, default=str)

    def path(self, identity: dict[str, Any]) -> Path | None:
        if self.root is None:
            return None
        digest = hashlib.sha1(self.key(identity).encode()).hexdigest()[:20]
        return self.root / f"{digest}.npz"

    def load(self, identity: dict[str, Any]) -> Stats | None:
        path = self.path(identity)
        if path is None or self.refresh or not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["key"]) != self.key(identity):
                    return None
                return Stats(data["mu"], data["sigma"], int(data["n"]))
        except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
            return None

    def save(self, identity: dict[str, Any], stats: Stats) -> Path | None:
        """Store ``stats``; a cache folder that cannot be written is skipped (the result is still returned)."""
        path = self.path(identity)
        if path is None:
            return None
        try:
            write_npz(path, stats_arrays(stats, key=self.key(identity)))
        except OSError:
            return None
        return path
