"""Visual prompts (VPT) around an unmodified timm VisionTransformer.

The wrapper calls timm's own pieces in order (``patch_embed -> _pos_embed -> patch_drop -> norm_pre -> blocks ->
norm -> forward_head``) and inserts prompt tokens after the prefix tokens (CLS and registers), so the token order
is ``[CLS, registers, P, patches]``. Prompts carry no position embedding. Shallow prompts are inserted once before
block 1; deep prompts overwrite the prompt slots before every block with that block's own prompts. Prompt outputs
are dropped before pooling, so the head sees exactly what timm's head would see.

A deep prompt's output is overwritten by the next block's prompt (or dropped after the last block), so for timm's
standard pre-norm ``Block`` the prompt tokens only serve as keys and values: their outputs are cut right after
attention and the MLP runs on the real tokens only. The real tokens' outputs are those of the full-token block
(the same per-token operations on fewer rows); about 10/75 of the MLP work is saved for p = 10 on 64 patches.
"""

from __future__ import annotations

import torch
from timm.models.vision_transformer import Block, VisionTransformer
from torch import nn

from vptstudy.models.tunable import TunableBackbone, vpt_init_bound

PROMPT_MODES = ("none", "shallow", "deep")


def prompt_init_bound(vit: VisionTransformer) -> float:
    """VPT's uniform init bound for this ViT's patch size and width (0.0625 for ViT-B/16)."""
    return vpt_init_bound(vit.patch_embed.patch_size, vit.embed_dim)


class PromptedViT(TunableBackbone):
    """A timm ViT (with its own classification head) plus optional VPT prompts.

    Which parameters train is declared by :meth:`set_trainable`; with ``frozen_eval`` the backbone stays in eval
    mode (no dropout, no drop-path) even while the wrapper trains, as frozen features must.
    """

    backbone_attr = "vit"

    def __init__(self, vit: VisionTransformer) -> None:
        super().__init__()
        if not isinstance(vit, VisionTransformer):
            raise TypeError(f"PromptedViT wraps a timm VisionTransformer, got {type(vit).__name__}")
        self.vit = vit
        self.prompt_mode = "none"
        self.prompt: nn.Parameter | None = None
        self.prompt_dropout = nn.Dropout(0.0)

    # -- structure ---------------------------------------------------------------------------------------
    @property
    def num_prompts(self) -> int:
        return 0 if self.prompt is None else self.prompt.shape[1]

    def add_prompts(
        self, num_prompts: int, mode: str, dropout: float, generator: torch.Generator | None = None
    ) -> None:
        """Add ``num_prompts`` learnable prompts (``mode`` shallow or deep), initialised as in VPT."""
        if mode not in PROMPT_MODES:
            raise ValueError(f"prompt mode {mode!r} is not one of {PROMPT_MODES}")
        if mode == "none" or num_prompts == 0:
            self.prompt_mode, self.prompt = "none", None
            return
        sets = len(self.vit.blocks) if mode == "deep" else 1
        bound = prompt_init_bound(self.vit)
        ref = next(self.vit.parameters())
        data = torch.empty(sets, num_prompts, self.vit.embed_dim)  # on CPU, so a CPU generator seeds it
        data.uniform_(-bound, bound, generator=generator)
        self.prompt = nn.Parameter(data.to(device=ref.device, dtype=ref.dtype))
        self.prompt_mode = mode
        self.prompt_dropout = nn.Dropout(dropout).train(self.training)

    # -- forward -----------------------------------------------------------------------------------------
    def _prompt_tokens(self, index: int, batch: int) -> torch.Tensor:
        assert self.prompt is not None
        # Dropout after expanding to the batch: one mask per sample, as the official code (S vit_prompt/vit.py:93, 125).
        return self.prompt_dropout(self.prompt[index].unsqueeze(0).expand(batch, -1, -1))

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        vit = self.vit
        return vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))

    def _insert(self, x: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        n_prefix = self.vit.num_prefix_tokens
        return torch.cat([x[:, :n_prefix], prompts.to(x.dtype), x[:, n_prefix:]], dim=1)

    def drop_prompt_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        p = self.num_prompts
        if p == 0:
            return tokens
        n_prefix = self.vit.num_prefix_tokens
        return torch.cat([tokens[:, :n_prefix], tokens[:, n_prefix + p :]], dim=1)

    def _deep_block(self, block: nn.Module, x: torch.Tensor, prompts: torch.Tensor) -> torch.Tensor:
        """``block`` on ``[prefix, prompts, patches]``, returning the real tokens only (prompt outputs are unused)."""
        if type(block).forward is not Block.forward:  # an unknown block: run it whole, then drop the prompt outputs
            return self.drop_prompt_tokens(block(self._insert(x, prompts)))
        attended = block.attn(block.norm1(self._insert(x, prompts)))
        x = x + block.drop_path1(block.ls1(self.drop_prompt_tokens(attended)))
        return x + block.drop_path2(block.ls2(block.mlp(block.norm2(x))))

    def forward_tokens(self, x: torch.Tensor) -> torch.Tensor:
        """All tokens after the final norm: ``[B, prefix + p + patches, D]`` for shallow prompts; deep prompts'
        outputs are never computed, so with deep prompts this is ``[B, prefix + patches, D]``."""
        vit = self.vit
        x = self._embed(x)
        if self.num_prompts == 0:  # no concatenation at all: keeps timm's exact numerics (see library facts)
            return vit.norm(vit.blocks(x))
        batch = x.shape[0]
        if self.prompt_mode == "deep":
            for i, block in enumerate(vit.blocks):
                x = self._deep_block(block, x, self._prompt_tokens(i, batch))
            return vit.norm(x)
        return vit.norm(vit.blocks(self._insert(x, self._prompt_tokens(0, batch))))

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Tokens after the final norm with prompt outputs removed (timm's ``forward_features`` layout)."""
        tokens = self.forward_tokens(x)
        return tokens if self.prompt_mode == "deep" else self.drop_prompt_tokens(tokens)

    def pre_logits(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the head reads (CLS for the paper's ViTs)."""
        return self.vit.forward_head(self.forward_features(x), pre_logits=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit.forward_head(self.forward_features(x))
