"""Key-value prompts (E2VPT): without prompts the attention is timm's; their dropout draws one mask per sample."""

from __future__ import annotations

import torch

from tests.conftest import tiny_vit
from tests.helpers.methods import DIM
from vptstudy.methods.kv_prompts import KVPromptAttention, add_kv_prompts


def test_kv_attention_without_prompts_is_timm_attention() -> None:
    vit = tiny_vit()
    tokens = torch.randn(2, 17, DIM)
    attn = vit.blocks[0].attn.eval()
    with torch.no_grad():
        expected = attn(tokens)
        wrapped = KVPromptAttention(attn, num_kv=0).eval()
        torch.testing.assert_close(wrapped(tokens), expected, rtol=0, atol=1e-6)
    assert {n for n, _ in wrapped.named_parameters()} == {n for n, _ in attn.named_parameters()} | {"kv_prompt"}


def test_kv_prompt_dropout_is_per_sample():
    vit = tiny_vit()
    add_kv_prompts(vit, 3, True, 0.5, torch.Generator().manual_seed(0))
    attn = vit.blocks[0].attn
    seen: list[torch.Tensor] = []
    attn.kv_dropout.register_forward_hook(lambda m, i, o: seen.append(o))
    vit.train()
    vit(torch.randn(1, 3, 32, 32).expand(4, -1, -1, -1))
    masks = seen[0] != 0
    assert masks.shape[1] == 4
    assert len({tuple(m.flatten().tolist()) for m in masks[0]}) == 4
