"""Prompt dropout draws one mask per sample, as the official VPT code drops after expanding to the batch
(S src/models/vit_prompt/vit.py:93, 125)."""

from __future__ import annotations

import torch

from tests.conftest import tiny_vit
from vptstudy.methods.kv_prompts import add_kv_prompts
from vptstudy.models.prompts import PromptedViT


def prompted(mode: str, p: float = 0.5) -> PromptedViT:
    model = PromptedViT(tiny_vit())
    model.add_prompts(4, mode, p)
    model.set_trainable(lambda name, param: name == "prompt", frozen_eval=True)
    return model


def test_each_sample_gets_its_own_mask_in_train_mode():
    model = prompted("deep").train()
    tokens = model._prompt_tokens(1, batch=8)
    kept = tokens != 0
    assert tokens.shape == (8, 4, model.vit.embed_dim)
    assert len({tuple(m.flatten().tolist()) for m in kept}) == 8  # eight different masks
    scale = 1 / (1 - 0.5)
    assert torch.allclose(tokens[kept], (model.prompt[1].unsqueeze(0).expand(8, -1, -1) * scale)[kept])


def test_samples_with_equal_images_get_different_outputs_only_in_train_mode():
    for mode in ("shallow", "deep"):
        model = prompted(mode)
        x = torch.randn(1, 3, 32, 32).expand(4, -1, -1, -1)
        out = model.train()(x)
        assert not torch.allclose(out[0], out[1])
        out = model.eval()(x)
        assert torch.allclose(out[0], out[1], atol=1e-6)


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
