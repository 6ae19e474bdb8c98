"""The study's backbone recipe: dropout where the official ViT has it (FT only) and the official head init."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from vptstudy.config import RunConfig
from vptstudy.methods import METHODS, get_method
from vptstudy.models.backbones import create_backbone
from vptstudy.models.build import build_model
from vptstudy.models.official import SPECIAL_BIAS, study_dropout
from vptstudy.models.wrap import wrap_backbone

ARCH = {"pretrained": False, "img_size": 32}


def dropout_rates(model: nn.Module) -> dict[str, float]:
    return {name: m.p for name, m in model.named_modules() if isinstance(m, nn.Dropout)}


def test_dropout_only_after_embeddings_and_in_the_mlp():
    """K src/models/vit_backbones/vit.py:183 (embeddings), :134/:136 (MLP); attention and head dropout stay 0."""
    rates = dropout_rates(create_backbone("test_vit", 5, dropout=0.1, **ARCH))
    on = {name for name, p in rates.items() if p == 0.1}
    off = {name for name, p in rates.items() if p == 0.0}
    assert on == {"pos_drop"} | {f"blocks.{i}.mlp.drop{j}" for i in range(6) for j in (1, 2)}
    assert {f"blocks.{i}.attn.{d}" for i in range(6) for d in ("attn_drop", "proj_drop")} <= off
    assert "head_drop" in off
    assert on | off == set(rates)


def test_default_builder_has_no_dropout():
    assert set(dropout_rates(create_backbone("test_vit", 5, **ARCH)).values()) == {0.0}


def test_study_dropout_is_ft_only():
    """The plan builds the backbone with the study's dropout only for methods whose encoder trains in train mode."""
    from vptstudy.plan import plan

    with_dropout = [
        name
        for name in METHODS
        if plan(RunConfig(task="toy/digits", method=name, model="test_vit", img_size=32)).backbone_dropout
    ]
    assert with_dropout == ["ft", "ft-then-pt"]
    assert plan(RunConfig(task="toy/digits", method="ft", model="test_vit", img_size=32)).backbone_dropout == 0.1
    assert study_dropout("swin_base_patch4_window7_224", True) == 0.0  # the study's Swin: drop_rate 0


def two_passes(method: str, train: bool) -> tuple[torch.Tensor, torch.Tensor]:
    cfg = RunConfig(task="toy/digits", method=method, model="test_vit", pretrained=False, img_size=32, num_prompts=2)
    model = build_model(cfg, 5)
    get_method(method).build(model, cfg)
    model.train(train)
    x = torch.randn(4, 3, 32, 32)
    return model(x), model(x)


def test_ft_drops_in_train_mode_and_is_deterministic_in_eval():
    a, b = two_passes("ft", train=True)
    assert not torch.allclose(a, b)
    a, b = two_passes("ft", train=False)
    assert torch.equal(a, b)


@pytest.mark.parametrize("method", ["linear", "vpt-shallow", "partial-k"])
def test_frozen_encoder_methods_never_drop(method):
    """Frozen-encoder methods hold the encoder in eval mode (S src/models/vit_models.py forward, froze_enc)."""
    a, b = two_passes(method, train=True)
    assert torch.equal(a, b)


def test_official_head_init_bias_and_weight_std():
    """K src/models/mlp.py:53-57: kaiming normal fan_out (std sqrt(2 / C)) and bias -log(0.99 / 0.01)."""
    classes = 2000
    head = create_backbone("test_vit", classes, **ARCH).get_classifier()
    assert SPECIAL_BIAS == pytest.approx(-4.59511985013459, abs=1e-12)
    assert torch.all(head.bias == torch.tensor(-math.log(0.99 / 0.01), dtype=head.bias.dtype))
    assert head.weight.std().item() == pytest.approx(math.sqrt(2 / classes), rel=0.01)
    assert head.weight.mean().abs().item() < 0.01 * math.sqrt(2 / classes) * 10


def test_timm_head_init_is_kept_on_request():
    head = create_backbone("test_vit", 2000, head_init="timm", **ARCH).get_classifier()
    assert torch.all(head.bias == 0)
    assert head.weight.std().item() < 0.021


def test_unknown_head_init_is_refused():
    with pytest.raises(ValueError, match="head init"):
        create_backbone("test_vit", 5, head_init="xavier", **ARCH)


def test_wrapped_toy_backbone_gets_the_official_head():
    model = wrap_backbone(create_backbone("toy-vit", 7, pretrained=False))
    assert torch.all(model.vit.head.bias == torch.tensor(SPECIAL_BIAS, dtype=torch.float32))


def test_mixed_trains_everything_with_the_encoder_in_eval_mode():
    """S src/models/vit_prompt/vit.py:100-107: Mixed's encoder and embeddings stay in eval mode while training."""
    cfg = RunConfig(
        task="toy/digits",
        method="mixed",
        model="test_vit",
        pretrained=False,
        img_size=32,
        num_prompts=2,
        prompt_dropout=0.0,
    )
    model = wrap_backbone(create_backbone("test_vit", 5, dropout=0.1, **ARCH))  # dropout present, must not act
    get_method("mixed").build(model, cfg)
    model.train()
    assert all(p.requires_grad for p in model.parameters())
    assert model.training and not any(m.training for m in model.vit.modules())
    x = torch.randn(4, 3, 32, 32)
    assert torch.equal(model(x), model(x))
    model.prompt_dropout.p = 0.5  # prompt dropout still follows the wrapper's mode
    assert model.prompt_dropout.training
    assert not torch.allclose(model(x), model(x))
