"""GradCAM on the patch-token grid (prompt, CLS and register tokens excluded), IG shapes, image selection."""

from __future__ import annotations

import pytest
import torch

from tests.conftest import tiny_vit
from vptstudy.errors import UserError
from vptstudy.figures.attribution import (
    gradcam,
    gradcam_maps,
    integrated_gradients,
    patch_grid_tap,
    select_images,
)
from vptstudy.models.prompts import PromptedViT


def prompted(reg_tokens: int = 0, prompts: int = 0, mode: str = "deep") -> PromptedViT:
    model = PromptedViT(tiny_vit(num_classes=5, reg_tokens=reg_tokens))
    if prompts:
        model.add_prompts(prompts, mode, 0.0, generator=torch.Generator().manual_seed(1))
    return model.eval()


def by_hand(model: PromptedViT, x: torch.Tensor, target: torch.Tensor, start: int) -> torch.Tensor:
    """GradCAM from the norm1 output tokens ``start : start + grid`` and their gradients."""
    saved = {}

    def keep(module, args, out):
        out.retain_grad()
        saved["out"] = out

    handle = model.vit.blocks[-1].norm1.register_forward_hook(keep)
    try:
        logits = model(x.clone().requires_grad_(True))
        logits.gather(1, target[:, None]).sum().backward()
    finally:
        handle.remove()
    gh, gw = model.vit.patch_embed.grid_size
    acts = saved["out"][:, start : start + gh * gw].detach()
    grads = saved["out"].grad[:, start : start + gh * gw]
    cam = torch.relu((acts * grads.mean(1, keepdim=True)).sum(-1))
    return cam.reshape(-1, 1, gh, gw)


@pytest.mark.parametrize(("reg_tokens", "prompts", "mode"), [(0, 0, "deep"), (0, 3, "deep"), (2, 2, "shallow")])
def test_gradcam_equals_hand_computation_on_patch_tokens(reg_tokens, prompts, mode):
    model = prompted(reg_tokens, prompts, mode)
    x, target = torch.randn(3, 3, 32, 32), torch.tensor([0, 3, 4])
    cam = gradcam_maps(model, x, target)
    assert cam.shape == (3, 1, 4, 4)
    skip = model.vit.num_prefix_tokens + model.num_prompts
    assert skip == 1 + reg_tokens + prompts
    expected = by_hand(model, x, target, skip)
    assert torch.allclose(cam, expected, atol=1e-6, rtol=1e-4)
    assert cam.abs().sum() > 0
    if prompts:  # a reshape that dropped only CLS (as grad-cam's ViT helper does) reads prompt tokens instead
        assert not torch.allclose(cam, by_hand(model, x, target, 1 + reg_tokens), atol=1e-6)


def test_tap_leaves_the_forward_pass_unchanged_and_is_removed():
    model = prompted(prompts=3)
    x = torch.randn(2, 3, 32, 32)
    ref = model(x)
    with patch_grid_tap(model):
        assert torch.equal(model(x), ref)
    assert not model.vit.blocks[-1].norm1._forward_hooks


def test_upsampled_gradcam_and_ig_shapes():
    model = prompted(prompts=2)
    x, target = torch.randn(2, 3, 32, 32), torch.tensor([1, 2])
    cam = gradcam(model, x, target)
    assert cam.shape == (2, 32, 32) and (cam >= 0).all()
    ig = integrated_gradients(model.requires_grad_(False), x, target, steps=8)
    assert ig.shape == (2, 32, 32) and (ig >= 0).all() and ig.sum() > 0


def test_select_images_modes():
    labels = torch.tensor([0, 1, 2, 3, 4, 5])
    ft = torch.tensor([0, 9, 2, 9, 4, 9])  # right on 0, 2, 4
    vpt = torch.tensor([0, 1, 9, 3, 9, 9])  # right on 0, 1, 3
    assert select_images(ft, vpt, labels, "ft-wrong-vpt-right", 10).tolist() == [1, 3]
    assert select_images(ft, vpt, labels, "vpt-wrong-ft-right", 10).tolist() == [2, 4]
    assert select_images(ft, vpt, labels, "both-right", 10).tolist() == [0]
    assert select_images(ft, vpt, labels, "both-wrong", 10).tolist() == [5]
    assert len(select_images(ft, vpt, labels, "ft-wrong-vpt-right", 1, seed=3)) == 1
    with pytest.raises(UserError, match="unknown selection"):
        select_images(ft, vpt, labels, "sometimes", 1)
