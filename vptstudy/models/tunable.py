"""What PromptedViT and PromptedSwin share: declared trainable parameters, a frozen backbone kept in eval mode,
and VPT's prompt initialisation bound."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from functools import reduce
from operator import mul

from torch import nn


def vpt_init_bound(patch_size: int | tuple[int, ...] | list[int], dim: int) -> float:
    """VPT's uniform init bound ``sqrt(6 / (3 * patch_area + dim))`` (0.0625 for ViT-B/16)."""
    area = reduce(mul, patch_size, 1) if isinstance(patch_size, tuple | list) else patch_size * patch_size
    return math.sqrt(6.0 / float(3 * area + dim))


class TunableBackbone(nn.Module):
    """A backbone (``self.vit``) whose trainable parameters a method declares with :meth:`set_trainable`.

    With ``frozen_eval`` the backbone stays in eval mode (no dropout, no drop-path) even while the wrapper trains,
    as frozen features must; :meth:`_after_frozen_eval` re-enables what inside it must still follow ``mode``.
    """

    vit: nn.Module
    frozen_eval: bool = False

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
            self.vit.eval()
            self._after_frozen_eval(mode)
        return self

    def _after_frozen_eval(self, mode: bool) -> None:
        """Modules inside the frozen backbone that still follow ``mode`` (e.g. prompt dropout); none by default."""
