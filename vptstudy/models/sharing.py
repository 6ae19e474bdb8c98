"""Wrap a timm module without renaming its parameters."""

from __future__ import annotations

from torch import nn


def adopt(wrapper: nn.Module, module: nn.Module) -> None:
    """Register ``module``'s own children, parameters and buffers on ``wrapper`` under the same names.

    The tensors are shared, not copied, so a wrapper that replaces a timm module keeps timm's parameter names.
    """
    for name, child in module.named_children():
        wrapper.add_module(name, child)
    for name, param in module.named_parameters(recurse=False):
        wrapper.register_parameter(name, param)
    for name, buffer in module.named_buffers(recurse=False):
        wrapper.register_buffer(name, buffer, persistent=name not in module._non_persistent_buffers_set)
