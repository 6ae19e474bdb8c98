"""The method registry: the one place a method is named."""

from __future__ import annotations

from vptstudy.errors import UserError
from vptstudy.methods.base import Method, Phase, count_parameters
from vptstudy.methods.ft import FT
from vptstudy.methods.ft_then_pt import FT_THEN_PT
from vptstudy.methods.linear import LINEAR
from vptstudy.methods.mixed import MIXED
from vptstudy.methods.vpt_deep import VPT_DEEP
from vptstudy.methods.vpt_shallow import VPT_SHALLOW

METHODS: dict[str, Method] = {m.name: m for m in (FT, LINEAR, VPT_SHALLOW, VPT_DEEP, MIXED, FT_THEN_PT)}


def get_method(name: str) -> Method:
    """The registered method called ``name``; a :class:`UserError` listing the known ones otherwise."""
    try:
        return METHODS[name]
    except KeyError:
        raise UserError(f"unknown method {name!r}", "--method", f"use one of {', '.join(METHODS)}") from None


__all__ = ["METHODS", "Method", "Phase", "count_parameters", "get_method"]
