"""VPT-deep prompts inside the window attention of an unmodified timm SwinTransformer.

Swin attends within local windows, so the block input has no prompt slots as in a ViT. Instead every block gets
its own ``p`` prompts (width of its stage), normalised by the block's ``norm1`` like the tokens they join, and
prepended to each window's tokens inside :class:`PromptedWindowAttention`. The relative position bias and the
shifted-window mask are padded with zeros for them: prompts see, and are seen by, every token of every window,
with no position bias. Their outputs are dropped (fresh prompts at every block), and patch merging never sees them.

:class:`PromptedSwin` has the interface of :class:`~vptstudy.models.prompts.PromptedViT`. It keeps the backbone in
the attribute ``swin`` (parameter names ``swin.head.fc.weight``, ``swin.layers.0.blocks.0.attn.prompt``); methods
reach it as :attr:`~vptstudy.models.tunable.TunableBackbone.backbone`. Runs saved while it was called ``vit`` load
through :func:`~vptstudy.models.tunable.current_keys`.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
import torch.nn.functional as F
from timm.models.swin_transformer import SwinTransformer, WindowAttention
from torch import nn

from vptstudy.errors import UserError
from vptstudy.models.sharing import adopt
from vptstudy.models.tunable import TunableBackbone, vpt_init_bound

SWIN_PROMPT_MODES = ("none", "deep")


class PromptedWindowAttention(nn.Module):
    """A timm ``WindowAttention`` with ``p`` prompt tokens prepended to every window.

    The wrapped module's ``qkv``, ``proj``, relative position table and index are held here under their own
    names, so the backbone's parameter names do not change; ``prompt`` (``[p, C]``) is new. ``norm`` is the
    block's ``norm1`` and ``base`` the wrapped module (references, not children).
    """

    def __init__(self, attn: WindowAttention, norm: nn.Module, prompt: torch.Tensor, dropout: float) -> None:
        super().__init__()
        adopt(self, attn)
        self.num_heads, self.scale, self.window_area = attn.num_heads, attn.scale, attn.window_area
        self.prompt = nn.Parameter(prompt)
        self.prompt_dropout = nn.Dropout(dropout)
        object.__setattr__(self, "norm", norm)
        object.__setattr__(self, "base", attn)

    def unwrap(self) -> WindowAttention:
        """The wrapped timm module, with this wrapper's (possibly moved) buffers."""
        for name in self.base._buffers:
            self.base._buffers[name] = self._buffers[name]
        return self.base

    def relative_bias(self) -> torch.Tensor:
        """The window's relative position bias, ``[1, heads, area, area]``."""
        area = self.window_area
        bias = self.relative_position_bias_table[self.relative_position_index.view(-1)].view(area, area, -1)
        return bias.permute(2, 0, 1).unsqueeze(0)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        windows, n, channels = x.shape
        p = self.prompt.shape[0]
        if p:
            # One mask for the whole batch: the official Swin drops deep prompts before expanding them
            # (S src/models/vit_prompt/swin_transformer.py:255), unlike its ViT (one mask per sample).
            prompts = self.norm(self.prompt_dropout(self.prompt)).to(x.dtype)
            x = torch.cat([prompts.unsqueeze(0).expand(windows, -1, -1), x], dim=1)
        total = n + p
        q, k, v = self.qkv(x).reshape(windows, total, 3, self.num_heads, -1).permute(2, 0, 3, 1, 4).unbind(0)
        bias = F.pad(self.relative_bias(), (p, 0, p, 0))
        if mask is not None:
            groups = mask.shape[0]
            mask = F.pad(mask, (p, 0, p, 0)).view(1, groups, 1, total, total)
            bias = (
                (bias.unsqueeze(1) + mask).expand(windows // groups, -1, -1, -1, -1).reshape(windows, -1, total, total)
            )
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias.to(q.dtype), dropout_p=self.attn_drop.p if self.training else 0.0, scale=self.scale
        )
        out = out.transpose(1, 2).reshape(windows, total, channels)[:, p:]
        return self.proj_drop(self.proj(out))


def _blocks(swin: SwinTransformer) -> Iterator[nn.Module]:
    for stage in swin.layers:
        yield from stage.blocks


class PromptedSwin(TunableBackbone):
    """A timm SwinTransformer (with its own head) plus optional VPT-deep prompts inside every window attention."""

    backbone_attr = "swin"

    def __init__(self, swin: SwinTransformer) -> None:
        super().__init__()
        if not isinstance(swin, SwinTransformer):
            raise TypeError(f"PromptedSwin wraps a timm SwinTransformer, got {type(swin).__name__}")
        self.swin = swin
        self.prompt_mode = "none"

    # -- structure ---------------------------------------------------------------------------------------
    def _prompted(self) -> list[PromptedWindowAttention]:
        return [b.attn for b in _blocks(self.swin) if isinstance(b.attn, PromptedWindowAttention)]

    @property
    def num_prompts(self) -> int:
        prompted = self._prompted()
        return prompted[0].prompt.shape[0] if prompted else 0

    def add_prompts(
        self, num_prompts: int, mode: str, dropout: float, generator: torch.Generator | None = None
    ) -> None:
        """Add ``num_prompts`` prompts per block (``mode`` deep), uniform(-v, v) with VPT's bound per stage width."""
        if mode not in SWIN_PROMPT_MODES:
            raise UserError(
                f"prompt mode {mode!r} is not supported on Swin backbones",
                "--method/--model",
                f"Swin supports the prompt modes {', '.join(SWIN_PROMPT_MODES)} (vpt-deep, mixed, ft-then-pt); "
                "use a ViT backbone for vpt-shallow",
            )
        for block in _blocks(self.swin):
            if isinstance(block.attn, PromptedWindowAttention):  # adding prompts again replaces them
                block.attn = block.attn.unwrap()
        if mode == "none" or num_prompts == 0:
            self.prompt_mode = "none"
            return
        for block in _blocks(self.swin):
            dim = block.norm1.normalized_shape[-1]
            bound = vpt_init_bound(self.swin.patch_embed.patch_size, dim)
            ref = block.norm1.weight
            data = torch.empty(num_prompts, dim).uniform_(-bound, bound, generator=generator)
            block.attn = PromptedWindowAttention(block.attn, block.norm1, data.to(ref.device, ref.dtype), dropout)
        self.prompt_mode = mode
        self.train(self.training)

    def _after_frozen_eval(self, mode: bool) -> None:
        for attn in self._prompted():  # the prompts live inside the frozen backbone; their dropout follows mode
            attn.prompt_dropout.train(mode)

    # -- forward -----------------------------------------------------------------------------------------
    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """timm's feature map ``[B, H, W, C]`` after the final norm."""
        return self.swin.forward_features(x)

    def pre_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the head reads."""
        return self.swin.forward_head(self.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.swin.forward_head(self.forward_features(x))
