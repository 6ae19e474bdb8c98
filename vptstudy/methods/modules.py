"""Shared pieces of the extra methods: method options, the backbone's blocks, and adapter-parameter discovery.

Modules a method adds to a backbone (LoRA layers, adapters, key-value prompts) declare their own trainable
parameters through ``adapter_params()`` (torchtune style); :func:`adapter_param_names` collects their full names, so
a method trains exactly those plus the head.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Protocol, runtime_checkable

from torch import nn

from vptstudy.errors import UserError
from vptstudy.methods.option_values import method_options  # noqa: F401  (re-exported: methods import it from here)
from vptstudy.models.tunable import TunableBackbone

_BLOCK = re.compile(r"(^|\.)blocks\.\d+$")


@runtime_checkable
class AdapterModule(Protocol):
    """A module that names its own trainable parameters (relative to itself)."""

    def adapter_params(self) -> list[str]: ...


def adapter_param_names(model: nn.Module) -> set[str]:
    """Full names of every parameter declared by an :class:`AdapterModule` inside ``model``."""
    names: set[str] = set()
    for prefix, module in model.named_modules():
        if isinstance(module, AdapterModule):
            names |= {f"{prefix}.{name}" if prefix else name for name in module.adapter_params()}
    return names


def transformer_blocks(backbone: nn.Module) -> list[tuple[str, nn.Module]]:
    """The backbone's transformer blocks in order, with their names (``blocks.3``, ``layers.2.blocks.5``, ...)."""
    return [(name, module) for name, module in backbone.named_modules() if _BLOCK.search(name)]


def block_dim(block: nn.Module) -> int:
    """The token width of a transformer block (its first norm's size)."""
    return int(block.norm1.normalized_shape[-1])


def replace_module(root: nn.Module, name: str, new: nn.Module) -> None:
    """Put ``new`` where the submodule called ``name`` is."""
    parent_name, _, attr = name.rpartition(".")
    setattr(root.get_submodule(parent_name) if parent_name else root, attr, new)


def require_backbone(model: TunableBackbone, method: str, supported: tuple[type, ...]) -> None:
    """Raise a UserError when ``model.backbone`` is not one of the ``supported`` backbone classes."""
    if not isinstance(model.backbone, supported):
        names = ", ".join(cls.__name__ for cls in supported)
        raise UserError(
            f"method {method} does not support a {type(model.backbone).__name__} backbone",
            "--method/--model",
            f"{method} supports: {names}; pick another method or a backbone of that kind",
        )


def named_linears(backbone: nn.Module, suffixes: tuple[str, ...]) -> Iterator[tuple[str, nn.Linear]]:
    """Every ``nn.Linear`` inside a transformer block whose name ends with one of ``suffixes`` (``attn.qkv``...)."""
    for block_name, block in transformer_blocks(backbone):
        for name, module in block.named_modules():
            if isinstance(module, nn.Linear) and any(name == s or name.endswith(f".{s}") for s in suffixes):
                yield f"{block_name}.{name}", module
