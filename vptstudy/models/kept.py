"""Backbones kept between the runs of one process: built (weights read, or randomly initialised) once, copied after.

The key is everything the build reads: the model name, head size, input size, options, the weight file's name,
size and mtime, and the state of torch's CPU generator when the build starts (a random init and the new head draw
from it). A hit hands out a deep copy of the kept module and sets the generator to the state the build left it in,
so the run sees the same weights and the same random stream as a build in a fresh process; the kept module itself
is never handed out, so a run that trains its copy changes nothing here.
"""

from __future__ import annotations

import copy
import hashlib
from collections.abc import Callable, Hashable

import torch
from torch import nn

from vptstudy import memo

KEPT = memo.Memo("backbones")


def _rng_digest() -> str:
    return hashlib.sha1(torch.get_rng_state().numpy().tobytes()).hexdigest()


def module_bytes(module: nn.Module) -> int:
    return memo.tensor_bytes([*module.parameters(), *module.buffers()])


def build_kept(identity: Hashable, build: Callable[[], nn.Module]) -> nn.Module:
    """``build()``, or a copy of what it returned for the same ``identity`` and generator state in this process."""
    key = (identity, _rng_digest())
    kept = KEPT.get(key)
    if kept is not None:
        module, rng_after = kept
        torch.set_rng_state(rng_after)
        return copy.deepcopy(module)
    model = build()
    rng_after = torch.get_rng_state()
    size = module_bytes(model)
    if KEPT.fits(size):
        KEPT.put(key, (copy.deepcopy(model), rng_after), size)
    return model
