"""The paper's methods on methods.base: each declares exactly which parameters train, counts match the papers'
Tuned/Total, FT-then-PT's second phase starts from its first, and an unknown name lists the known ones."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from timm.models.vision_transformer import VisionTransformer

from tests.conftest import tiny_vit
from vptstudy.config import RunConfig
from vptstudy.methods import METHODS, count_parameters, get_method
from vptstudy.models.prompts import PromptedViT

EXPECTED_TRAINABLE = {
    "ft": lambda name: True,
    "mixed": lambda name: True,
    "linear": lambda name: name.startswith("vit.head."),
    "vpt-shallow": lambda name: name.startswith("vit.head.") or name == "prompt",
    "vpt-deep": lambda name: name.startswith("vit.head.") or name == "prompt",
    "ft-then-pt": lambda name: name.startswith("vit.head.") or name == "prompt",  # after both phases
}


def built(method: str, **cfg_overrides) -> PromptedViT:
    cfg = RunConfig(task="toy/digits", method=method, **cfg_overrides)
    return get_method(method).build(PromptedViT(tiny_vit(drop_rate=0.1, drop_path_rate=0.1)), cfg)


def test_every_registered_method_is_covered() -> None:
    assert set(EXPECTED_TRAINABLE) <= set(METHODS)


@pytest.mark.parametrize("method", list(EXPECTED_TRAINABLE))
def test_exactly_declared_parameters_get_gradients(method: str) -> None:
    model = built(method).train()
    loss = F.cross_entropy(model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3]))
    loss.backward()
    expected = EXPECTED_TRAINABLE[method]
    for name, param in model.named_parameters():
        if expected(name):
            assert param.requires_grad and param.grad is not None, name
        else:
            assert not param.requires_grad and param.grad is None, name
    frozen = method in {"linear", "vpt-shallow", "vpt-deep", "ft-then-pt", "mixed"}  # Mixed: encoder in eval mode
    assert all(not m.training for m in model.vit.modules()) == frozen


def test_vit_b16_vpt_deep_trains_169060_parameters() -> None:
    vit = VisionTransformer(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12, num_classes=100)
    model = get_method("vpt-deep").build(PromptedViT(vit), RunConfig(task="toy/digits", method="vpt-deep"))
    trainable, total = count_parameters(model)
    assert model.prompt.numel() == 12 * 10 * 768
    assert trainable == 169_060
    assert f"{100 * trainable / total:.2f}" == "0.20"


def test_ft_then_pt_second_phase_starts_from_first_with_backbone_frozen() -> None:
    method = get_method("ft-then-pt")
    cfg = RunConfig(task="toy/digits", method="ft-then-pt")
    model = PromptedViT(tiny_vit())
    gen = torch.Generator().manual_seed(0)
    ft_phase, pt_phase = method.phases
    ft_phase.prepare(model, cfg, gen)
    assert model.prompt is None and all(p.requires_grad for p in model.parameters())
    with torch.no_grad():  # stand-in for phase-1 training
        for p in model.parameters():
            p.add_(0.5)
    tuned = {k: v.clone() for k, v in model.vit.state_dict().items()}
    pt_phase.prepare(model, cfg, gen)
    assert model.prompt is not None and model.prompt.shape[0] == len(model.vit.blocks)
    for k, v in model.vit.state_dict().items():
        assert torch.equal(v, tuned[k]), k
    assert {n for n, p in model.named_parameters() if p.requires_grad} == {"prompt", "vit.head.weight", "vit.head.bias"}


def test_unknown_method_lists_known_ones() -> None:
    with pytest.raises(Exception, match="vpt-deep") as info:
        get_method("vpt-deeep")
    assert "unknown method" in str(info.value)
