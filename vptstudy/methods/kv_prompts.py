"""Key-value prompts (E2VPT): learnable vectors concatenated to every head's keys and values in a ViT block.

:class:`KVPromptAttention` replaces a timm ``Attention``. It holds that module's own submodules under their own
names (``qkv``, ``q_norm``, ``k_norm``, ``norm``, ``proj``, ...), so parameter names stay timm's and only
``kv_prompt`` is new. With no key-value prompts it computes exactly what timm's attention computes.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from timm.layers import Attention
from torch import nn

from vptstudy.methods.modules import transformer_blocks
from vptstudy.models.sharing import adopt


class KVPromptAttention(nn.Module):
    """Multi-head self-attention whose keys and values are ``concat(K, P_K)`` and ``concat(V, P_V)``.

    ``kv_prompt`` has shape ``[1 or 2, heads, n, head_dim]``: one tensor used as both P_K and P_V when shared
    (the paper's default), or separate P_K and P_V. Initialised He-uniform (the paper's default initialisation).
    """

    def __init__(
        self,
        attn: Attention,
        num_kv: int,
        shared: bool = True,
        dropout: float = 0.0,
        generator: torch.Generator | None = None,
    ) -> None:
        super().__init__()
        adopt(self, attn)
        self.gate = getattr(attn, "gate", None)
        self.num_heads, self.head_dim, self.scale = attn.num_heads, attn.head_dim, attn.scale
        self.kv_dropout = nn.Dropout(dropout)
        ref = attn.qkv.weight
        data = torch.empty(1 if shared else 2, self.num_heads, num_kv, self.head_dim)
        if num_kv:
            bound = math.sqrt(6.0 / (num_kv * self.head_dim))
            data.uniform_(-bound, bound, generator=generator)
        self.kv_prompt = nn.Parameter(data.to(ref.device, ref.dtype))

    @property
    def num_kv(self) -> int:
        return self.kv_prompt.shape[2]

    @property
    def shared(self) -> bool:
        return self.kv_prompt.shape[0] == 1

    def adapter_params(self) -> list[str]:
        return ["kv_prompt"]

    def keep_kv(self, index: torch.Tensor) -> None:
        """Keep only the key-value prompts at ``index`` (an empty index removes them all)."""
        self.kv_prompt = nn.Parameter(self.kv_prompt.detach()[:, :, index.to(self.kv_prompt.device)].clone())

    def forward(self, x: torch.Tensor, attn_mask: torch.Tensor | None = None, is_causal: bool = False) -> torch.Tensor:
        batch, n, _ = x.shape
        qkv = self.qkv(x).reshape(batch, n, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if self.num_kv:
            if is_causal:
                raise ValueError("key-value prompts cannot be combined with causal attention")
            # One dropout mask per sample, like VPT's prompt dropout (the official E2VPT has no kv-prompt dropout).
            prompts = self.kv_dropout(self.kv_prompt.unsqueeze(1).expand(-1, batch, -1, -1, -1)).to(k.dtype)
            k = torch.cat([k, prompts[0]], dim=2)
            v = torch.cat([v, prompts[-1]], dim=2)
            if attn_mask is not None:  # prompts are visible to every query
                attn_mask = F.pad(attn_mask, (0, self.num_kv), value=True if attn_mask.dtype == torch.bool else 0.0)
        out = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            dropout_p=self.attn_drop.p if self.training else 0.0,
            is_causal=is_causal,
            scale=self.scale,
        )
        out = self.norm(out.transpose(1, 2).reshape(batch, n, self.num_heads * self.head_dim))
        if self.gate is not None:
            out = out * self.gate(x).sigmoid()
        return self.proj_drop(self.proj(out))


def add_kv_prompts(
    backbone: nn.Module,
    num_kv: int,
    shared: bool = True,
    dropout: float = 0.0,
    generator: torch.Generator | None = None,
) -> list[KVPromptAttention]:
    """Replace every block's ``attn`` by a :class:`KVPromptAttention` with ``num_kv`` key-value prompts."""
    wrapped = []
    for _, block in transformer_blocks(backbone):
        if not isinstance(block.attn, Attention):
            raise TypeError(f"key-value prompts need timm Attention, found {type(block.attn).__name__}")
        block.attn = KVPromptAttention(block.attn, num_kv, shared, dropout, generator)
        wrapped.append(block.attn)
    return wrapped
