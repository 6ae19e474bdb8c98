"""Resumable checkpoints without pickle: tensors in a safetensors file, everything else as JSON in its header.

A checkpoint is one nested structure (ints, floats, strings, bools, None, lists, tuples, dicts, tensors): the
model's trained tensors, the optimizer's and scheduler's state dicts, the RNG states and a few counters. Tensors are
stored as ``t0``, ``t1``, ... in the safetensors body; the structure goes to the header's metadata as JSON, with a
tensor replaced by ``{"__tensor__": "t3"}``, a tuple by ``{"__tuple__": [...]}`` and a dict with non-string keys
(an optimizer's per-parameter state) by ``{"__items__": [[key, value], ...]}``. Floats are written with ``repr``, so
a resume continues bit-identically. Loading never executes code from the file: a run folder may come from anyone.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import save_file

from vptstudy.atomic import atomic_path

LEGACY = "checkpoint.pt"  # pickled checkpoints of earlier versions: never loaded, moved aside
REJECTED = "rejected"  # folder inside a run where unloadable checkpoints are kept for inspection
FORMAT = "vptstudy-checkpoint-1"
_TAGS = ("__tensor__", "__tuple__", "__items__")


class CheckpointError(Exception):
    """A checkpoint file that cannot be read back (torn, foreign or tampered with)."""


def _encode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, torch.Tensor):
        key = f"t{len(tensors)}"
        tensor = obj.detach().cpu().contiguous()
        if any(t.untyped_storage().data_ptr() == tensor.untyped_storage().data_ptr() for t in tensors.values()):
            tensor = tensor.clone()  # safetensors refuses tensors that share memory (tied weights)
        tensors[key] = tensor
        return {"__tensor__": key}
    if isinstance(obj, tuple):
        return {"__tuple__": [_encode(v, tensors) for v in obj]}
    if isinstance(obj, list):
        return [_encode(v, tensors) for v in obj]
    if isinstance(obj, dict):
        if all(isinstance(k, str) for k in obj) and not set(_TAGS) & obj.keys():
            return {k: _encode(v, tensors) for k, v in obj.items()}
        return {"__items__": [[_encode(k, tensors), _encode(v, tensors)] for k, v in obj.items()]}
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    raise TypeError(f"cannot store a {type(obj).__name__} in a checkpoint")


def _decode(obj: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(obj, list):
        return [_decode(v, tensors) for v in obj]
    if not isinstance(obj, dict):
        return obj
    if "__tensor__" in obj:
        return tensors[obj["__tensor__"]]
    if "__tuple__" in obj:
        return tuple(_decode(v, tensors) for v in obj["__tuple__"])
    if "__items__" in obj:
        return {_decode(k, tensors): _decode(v, tensors) for k, v in obj["__items__"]}
    return {k: _decode(v, tensors) for k, v in obj.items()}


def save(path: Path, state: dict[str, Any]) -> None:
    """Write ``state`` to ``path`` atomically (a reader sees the old checkpoint or the new one)."""
    tensors: dict[str, torch.Tensor] = {}
    tree = _encode(state, tensors)
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata={"format": FORMAT, "state": json.dumps(tree)})


def load(path: Path) -> dict[str, Any]:
    """Read a checkpoint written by :func:`save`; raises :class:`CheckpointError` for anything else."""
    try:
        with safe_open(str(path), framework="pt", device="cpu") as handle:
            meta = handle.metadata() or {}
            if meta.get("format") != FORMAT:
                raise CheckpointError(f"not a vptstudy checkpoint (format {meta.get('format')!r})")
            tensors = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118 (not a dict)
        state = _decode(json.loads(meta["state"]), tensors)
    except CheckpointError:
        raise
    except Exception as exc:  # safetensors, JSON and a missing key raise many types for a bad file
        raise CheckpointError(f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}") from None
    if not isinstance(state, dict):
        raise CheckpointError("the stored state is not a mapping")
    return state


def move_aside(path: Path) -> Path:
    """Move an unloadable checkpoint to ``<run>/rejected/`` (kept for inspection, never loaded); its new path."""
    folder = path.parent / REJECTED
    folder.mkdir(exist_ok=True)
    target = folder / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}"
    n = 0
    while target.exists():
        n += 1
        target = folder / f"{path.name}.{time.strftime('%Y%m%dT%H%M%S')}.{n}"
    path.replace(target)
    return target
