"""The method registry: the one place a method is named."""

from __future__ import annotations

from vptstudy.errors import UserError
from vptstudy.methods.adapter import ADAPTER
from vptstudy.methods.base import Method, Phase, count_parameters
from vptstudy.methods.bitfit import BITFIT
from vptstudy.methods.e2vpt import E2VPT, E2VPT_PRUNE
from vptstudy.methods.ft import FT
from vptstudy.methods.ft_then_pt import FT_THEN_PT
from vptstudy.methods.linear import LINEAR
from vptstudy.methods.lora import LORA
from vptstudy.methods.mixed import MIXED
from vptstudy.methods.mlp_k import MLP_K
from vptstudy.methods.partial_k import PARTIAL_K
from vptstudy.methods.vpt_deep import VPT_DEEP
from vptstudy.methods.vpt_shallow import VPT_SHALLOW

_ALL = (
    FT,
    LINEAR,
    VPT_SHALLOW,
    VPT_DEEP,
    MIXED,
    FT_THEN_PT,
    LORA,
    BITFIT,
    ADAPTER,
    PARTIAL_K,
    MLP_K,
    E2VPT,
    E2VPT_PRUNE,
)
METHODS: dict[str, Method] = {m.name: m for m in _ALL}


def get_method(name: str) -> Method:
    """The registered method called ``name``; a :class:`UserError` listing the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown method {name!r}", "--method", f"use one of {', '.join(METHODS)}") from None


__all__ = ["METHODS", "Method", "Phase", "count_parameters", "get_method"]
