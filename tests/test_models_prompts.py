"""PromptedViT: exact equivalence with timm at p = 0, token layout, deep overwrite, parameter counts, and prompt
dropout (one mask per sample)."""

from __future__ import annotations

import pytest
import torch
from timm.models.vision_transformer import VisionTransformer

from tests.conftest import tiny_vit
from vptstudy.models.prompts import PromptedViT, prompt_init_bound

VARIANTS = {
    "cls": {},
    "no-cls-avg": {"class_token": False, "global_pool": "avg"},
    "registers": {"reg_tokens": 2},
    "no-cls-registers-avg": {"class_token": False, "reg_tokens": 1, "global_pool": "avg"},
}


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("mode", ["shallow", "deep"])
def test_zero_prompts_reproduce_timm_exactly(variant: str, mode: str) -> None:
    vit = tiny_vit(**VARIANTS[variant]).eval()
    model = PromptedViT(vit)
    model.add_prompts(0, mode, 0.1)
    x = torch.randn(3, 3, 32, 32)
    assert torch.equal(model(x), vit(x))


@pytest.mark.parametrize("variant", VARIANTS)
def test_prompts_sit_after_prefix_tokens_and_are_dropped_before_pooling(variant: str) -> None:
    vit = tiny_vit(**VARIANTS[variant]).eval()
    model = PromptedViT(vit)
    model.add_prompts(5, "shallow", 0.0)
    seen = {}
    vit.blocks[0].register_forward_pre_hook(lambda mod, args: seen.setdefault("in", args[0].clone()))
    x = torch.randn(2, 3, 32, 32)
    tokens = model.forward_tokens(x)
    n_prefix, n_patches = vit.num_prefix_tokens, vit.patch_embed.num_patches
    assert tokens.shape[1] == n_prefix + 5 + n_patches
    block_in = seen["in"]
    assert torch.equal(block_in[:, n_prefix : n_prefix + 5], model.prompt[0].expand(2, -1, -1))
    plain = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
    assert torch.equal(block_in[:, :n_prefix], plain[:, :n_prefix])
    assert torch.equal(block_in[:, n_prefix + 5 :], plain[:, n_prefix:])
    assert model.forward_features(x).shape[1] == n_prefix + n_patches


def test_deep_prompts_overwrite_slots_before_every_block() -> None:
    vit = tiny_vit(depth=3).eval()
    model = PromptedViT(vit).eval()
    model.add_prompts(4, "deep", 0.1)
    inputs = []
    for block in vit.blocks:  # the deep path calls the block's parts, so read the attention's input stream
        block.norm1.register_forward_pre_hook(lambda mod, args: inputs.append(args[0].clone()))
    model(torch.randn(2, 3, 32, 32))
    assert len(inputs) == 3
    for i, block_in in enumerate(inputs):
        assert torch.equal(block_in[:, 1:5], model.prompt[i].expand(2, -1, -1)), f"block {i}"


def full_token_deep(model: PromptedViT, x: torch.Tensor) -> torch.Tensor:
    """VPT's reference computation: every block on all tokens, prompt slots overwritten, outputs dropped at the end."""
    vit, p = model.vit, model.num_prompts
    n = vit.num_prefix_tokens
    x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(x))))
    for i, block in enumerate(vit.blocks):
        prompts = model.prompt[i].expand(x.shape[0], -1, -1)
        x = block(torch.cat([x[:, :n], prompts, x[:, n + (p if i else 0) :]], dim=1))
    x = vit.norm(x)
    return vit.forward_head(torch.cat([x[:, :n], x[:, n + p :]], dim=1))


@pytest.mark.parametrize("variant", VARIANTS)
def test_deep_path_matches_full_token_blocks_in_outputs_and_gradients(variant: str) -> None:
    torch.manual_seed(0)
    vit = tiny_vit(depth=3, **VARIANTS[variant]).eval()
    model = PromptedViT(vit).eval()
    model.add_prompts(5, "deep", 0.0)
    x = torch.randn(4, 3, 32, 32)
    fast, ref = model(x), full_token_deep(model, x)
    torch.testing.assert_close(fast, ref, rtol=0, atol=1e-6)
    named = dict(model.named_parameters())
    grads_fast = torch.autograd.grad(fast.square().sum(), list(named.values()), allow_unused=True)
    grads_ref = torch.autograd.grad(ref.square().sum(), list(named.values()), allow_unused=True)
    for name, g_fast, g_ref in zip(named, grads_fast, grads_ref, strict=True):
        assert (g_fast is None) == (g_ref is None), name
        if g_fast is not None:
            torch.testing.assert_close(g_fast, g_ref, rtol=1e-5, atol=1e-6, msg=name)


def test_deep_prompt_outputs_skip_the_mlp() -> None:
    vit = tiny_vit(depth=2).eval()
    model = PromptedViT(vit).eval()
    model.add_prompts(6, "deep", 0.0)
    attn_rows, mlp_rows = [], []
    for block in vit.blocks:
        block.attn.register_forward_pre_hook(lambda mod, args: attn_rows.append(args[0].shape[1]))
        block.mlp.register_forward_pre_hook(lambda mod, args: mlp_rows.append(args[0].shape[1]))
    model(torch.randn(2, 3, 32, 32))
    real = vit.num_prefix_tokens + vit.patch_embed.num_patches
    assert attn_rows == [real + 6, real + 6] and mlp_rows == [real, real]


def test_unknown_block_types_run_whole_with_the_same_result() -> None:
    from timm.models.vision_transformer import Block

    class PostNormBlock(Block):
        def forward(self, x: torch.Tensor, attn_mask=None, is_causal: bool = False) -> torch.Tensor:
            x = self.norm1(x + self.attn(x))
            return self.norm2(x + self.mlp(x))

    torch.manual_seed(0)
    vit = tiny_vit(depth=2, block_fn=PostNormBlock).eval()
    model = PromptedViT(vit).eval()
    model.add_prompts(3, "deep", 0.0)
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(model(x), full_token_deep(model, x), rtol=0, atol=1e-6)


def test_prompt_counts_and_init_bound() -> None:
    vit = tiny_vit(depth=3, embed_dim=32)
    model = PromptedViT(vit)
    model.add_prompts(7, "deep", 0.1)
    assert model.prompt.numel() == 3 * 7 * 32
    bound = prompt_init_bound(vit)
    assert bound == pytest.approx((6 / (3 * 8 * 8 + 32)) ** 0.5)
    assert model.prompt.abs().max() <= bound
    shallow = PromptedViT(tiny_vit())
    shallow.add_prompts(7, "shallow", 0.0)
    assert shallow.prompt.shape == (1, 7, 32)


def test_vit_b16_bound_is_vpt_value() -> None:
    vit = VisionTransformer(img_size=224, patch_size=16, embed_dim=768, depth=1, num_heads=12)
    assert prompt_init_bound(vit) == pytest.approx(0.0625)


def test_frozen_backbone_stays_in_eval_while_prompt_dropout_trains() -> None:
    vit = tiny_vit(drop_rate=0.1, drop_path_rate=0.1)
    model = PromptedViT(vit)
    model.add_prompts(3, "deep", 0.1)
    model.set_trainable(lambda name, p: name == "prompt" or name.startswith("vit.head."), frozen_eval=True)
    model.train()
    assert model.training and model.prompt_dropout.training
    assert not any(m.training for m in vit.modules())


def test_deep_path_under_bf16_autocast_matches_the_reference_and_trains_prompts() -> None:
    torch.manual_seed(0)
    vit = tiny_vit(depth=3).eval()
    model = PromptedViT(vit).eval()
    model.add_prompts(4, "deep", 0.0)
    x = torch.randn(4, 3, 32, 32)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        fast, ref = model(x), full_token_deep(model, x)
    assert fast.dtype == ref.dtype == torch.bfloat16
    torch.testing.assert_close(fast.float(), ref.float(), rtol=0, atol=2e-2)
    (grad,) = torch.autograd.grad(fast.float().square().sum(), [model.prompt])
    assert grad.dtype == torch.float32 and grad.abs().sum() > 0 and grad[-1].abs().sum() > 0


# -- prompt dropout: one mask per sample, as the official code drops after expanding to the batch
# (S src/models/vit_prompt/vit.py:93, 125) -------------------------------------------------------------
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
