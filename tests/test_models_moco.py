"""MoCo v3 and MAE ViT weights from local files (synthetic checkpoints; no download)."""

from __future__ import annotations

import pytest
import timm
import torch

from vptstudy.errors import UserError
from vptstudy.models.backbones import create_backbone
from vptstudy.models.moco import MOCO_PREFIX, is_moco_v3, moco_v3_to_timm

ARCH = dict(img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=2)


def encoder_state(seed: int, **arch) -> dict[str, torch.Tensor]:
    torch.manual_seed(seed)
    return timm.create_model("test_vit", pretrained=False, num_classes=0, **{**ARCH, **arch}).state_dict()


def moco_checkpoint(path, state: dict[str, torch.Tensor]) -> None:
    """The layout of MoCo v3's vit-b-300ep.pth.tar: both encoders, a projection head and a predictor."""
    dim = state["cls_token"].shape[-1]
    entries = {f"{MOCO_PREFIX}{k}": v for k, v in state.items()}
    entries |= {f"module.momentum_encoder.{k}": v + 1 for k, v in state.items()}
    entries |= {f"{MOCO_PREFIX}head.0.weight": torch.randn(64, dim), f"{MOCO_PREFIX}head.0.bias": torch.randn(64)}
    entries |= {"module.predictor.0.weight": torch.randn(64, 64)}
    torch.save({"epoch": 300, "arch": "vit_base", "state_dict": entries}, path)


def test_mapping_keeps_the_base_encoder_without_its_head() -> None:
    state = encoder_state(0)
    mapped = moco_v3_to_timm({f"{MOCO_PREFIX}{k}": v for k, v in state.items()} | {f"{MOCO_PREFIX}head.0.weight": 1})
    assert set(mapped) == set(state)
    model = timm.create_model("test_vit", pretrained=False, num_classes=4, **ARCH)
    missing, unexpected = model.load_state_dict(mapped, strict=False)
    assert sorted(missing) == ["head.bias", "head.weight"] and not unexpected


def test_create_backbone_loads_a_moco_v3_checkpoint(tmp_path) -> None:
    state = encoder_state(0)
    path = tmp_path / "vit-b-300ep.pth.tar"
    moco_checkpoint(path, state)
    assert is_moco_v3(path)
    model = create_backbone("test_vit", 7, weights=str(path), **ARCH)
    loaded = model.state_dict()
    assert loaded["head.weight"].shape == (7, 32)
    for key, value in state.items():
        assert torch.equal(loaded[key], value), key  # the base encoder, not the momentum encoder


def test_moco_position_embedding_is_resampled_for_another_input_size(tmp_path) -> None:
    path = tmp_path / "moco.pth.tar"
    moco_checkpoint(path, encoder_state(0, img_size=64))
    model = create_backbone("test_vit", 3, weights=str(path), **ARCH)
    assert model.pos_embed.shape == (1, 1 + 16, 32)


def test_a_moco_checkpoint_of_another_architecture_is_a_user_error(tmp_path) -> None:
    path = tmp_path / "moco.pth.tar"
    moco_checkpoint(path, encoder_state(0, depth=1))
    with pytest.raises(UserError, match="missing"):
        create_backbone("test_vit", 3, weights=str(path), **ARCH)


def test_mae_style_checkpoint_loads_through_timm(tmp_path) -> None:
    """MAE's released encoder file: ``{"model": state}`` without a head, loaded with the ``.mae`` architecture."""
    state = encoder_state(1)
    path = tmp_path / "mae_pretrain_vit_base.pth"
    torch.save({"model": state}, path)
    assert not is_moco_v3(path)
    model = create_backbone("test_vit", 5, weights=str(path), **ARCH)
    assert torch.equal(model.state_dict()["blocks.1.mlp.fc2.weight"], state["blocks.1.mlp.fc2.weight"])
    assert model.state_dict()["head.weight"].shape == (5, 32)
