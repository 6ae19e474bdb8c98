"""Content digests of the weight files a run starts from, for its identity.

A run folder is named by the hash of its resolved plan. Without the weights' content in it, retraining the toy
backbone (``pretrain-toy`` rewrites ``assets/toy_vit.safetensors`` in place) or replacing a ``--weights`` file at
the same path would let every old run count as finished. A file is read once per process and size / mtime.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

EMBEDDED_WEIGHTS = {"toy-vit": Path(__file__).resolve().parent / "assets" / "toy_vit.safetensors"}
CHUNK = 1 << 20


def weights_file(model: str, pretrained: bool, weights: str | None) -> Path | None:
    """The file a run's backbone is loaded from: ``weights``, else an embedded backbone's, else None (hub or
    random init)."""
    if weights:
        return Path(weights).expanduser()
    return EMBEDDED_WEIGHTS.get(model) if pretrained else None


def file_sha256(path: Path) -> str | None:
    """The sha256 of ``path``'s bytes (None when it cannot be read); cached on path, size and mtime."""
    try:
        st = path.stat()
    except OSError:
        return None
    return _sha256(str(path.resolve()), st.st_size, st.st_mtime_ns)


@lru_cache(maxsize=64)
def _sha256(path: str, size: int, mtime_ns: int) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            while block := fh.read(CHUNK):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()
