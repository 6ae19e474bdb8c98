"""What PromptedViT and PromptedSwin share: declared trainable parameters, a frozen backbone kept in eval mode,
and VPT's prompt initialisation bound."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from functools import reduce
from operator import mul
from typing import ClassVar, TypeVar

import torch
from torch import nn


def vpt_init_bound(patch_size: int | tuple[int, ...] | list[int], dim: int) -> float:
    """VPT's uniform init bound ``sqrt(6 / (3 * patch_area + dim))`` (0.0625 for ViT-B/16)."""
    area = reduce(mul, patch_size, 1) if isinstance(patch_size, tuple | list) else patch_size * patch_size
    return math.sqrt(6.0 / float(3 * area + dim))


class TunableBackbone(nn.Module):
    """A timm backbone (:attr:`backbone`) whose trainable parameters a method declares with :meth:`set_trainable`.

    The backbone is the attribute named ``backbone_attr`` (``vit``, ``swin``), so that name prefixes its parameter
    names: ``vit.head.weight``, ``swin.head.fc.weight``. With ``frozen_eval`` the backbone stays in eval mode (no
    dropout, no drop-path) even while the wrapper trains, as frozen features must; :meth:`_after_frozen_eval`
    re-enables what inside it must still follow ``mode``.
    """

    backbone_attr: ClassVar[str]
    frozen_eval: bool = False

    @property
    def backbone(self) -> nn.Module:
        """The wrapped timm model."""
        return getattr(self, self.backbone_attr)

    @property
    def num_prompts(self) -> int:
        """Prompt tokens per prompted layer (0 without prompts)."""
        raise NotImplementedError

    def add_prompts(
        self, num_prompts: int, mode: str, dropout: float, generator: torch.Generator | None = None
    ) -> None:
        """Add (or replace, or with ``mode`` none remove) the VPT prompts; a mode the backbone cannot take raises."""
        raise NotImplementedError

    def is_head(self, name: str) -> bool:
        """Whether the parameter ``name`` belongs to the backbone's classifier head."""
        return name.startswith(f"{self.backbone_attr}.head.")

    def set_trainable(self, predicate: Callable[[str, nn.Parameter], bool], frozen_eval: bool) -> None:
        """Train exactly the parameters for which ``predicate(name, param)`` holds; freeze the rest."""
        for name, param in self.named_parameters():
            param.requires_grad_(bool(predicate(name, param)))
        self.frozen_eval = frozen_eval
        self.train(self.training)

    def trainable_parameters(self) -> Iterator[tuple[str, nn.Parameter]]:
        return ((n, p) for n, p in self.named_parameters() if p.requires_grad)

    def train(self, mode: bool = True) -> TunableBackbone:
        super().train(mode)
        if self.frozen_eval:
            self.backbone.eval()
            self._after_frozen_eval(mode)
        return self

    def _after_frozen_eval(self, mode: bool) -> None:
        """Modules inside the frozen backbone that still follow ``mode`` (e.g. prompt dropout); none by default."""


T = TypeVar("T")
LEGACY_PREFIX = "vit."  # every backbone, Swin's too, lived in ``vit`` before Swin's moved to ``swin``


def current_keys(model: TunableBackbone, state: Mapping[str, T]) -> dict[str, T]:
    """``state`` (a run's stored tensors or names) with the backbone's keys under ``model``'s prefix: a Swin run
    saved with ``vit.`` keys loads into today's ``swin.`` model; a ViT's keys come back unchanged."""
    prefix = f"{model.backbone_attr}."
    return {prefix + k.removeprefix(LEGACY_PREFIX) if k.startswith(LEGACY_PREFIX) else k: v for k, v in state.items()}
