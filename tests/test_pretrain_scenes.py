"""``pretrain-toy --scenes``: the patch-pixel target, the scene multi-hot, and a pinned two-step stage whose
auxiliary heads train but are not saved."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from vptstudy.data import synthetic, toy_tasks
from vptstudy.models import toy
from vptstudy.pretrain import PretrainConfig, pretrain_toy
from vptstudy.pretrain_scenes import PIXEL_POOL, SceneHeads, patch_pixels


def test_patch_pixels_are_each_patchs_pooled_pixels_in_row_major_order() -> None:
    images = torch.randn(2, 3, 32, 32)
    got = patch_pixels(images, 8)
    assert got.shape == (2, 16, 48)
    for n in range(2):
        for row in range(4):
            for col in range(4):
                patch = images[n, :, 8 * row : 8 * row + 8, 8 * col : 8 * col + 8]
                expected = F.avg_pool2d(patch.unsqueeze(0), PIXEL_POOL).flatten()
                torch.testing.assert_close(got[n, 4 * row + col], expected, rtol=0, atol=1e-6)


def test_scene_multi_hot_marks_exactly_the_pairs_drawn() -> None:
    gen = torch.Generator().manual_seed(5)
    images, present = toy_tasks.upstream_scenes(64, gen)
    again = synthetic.sample_shapes(
        64,
        torch.Generator().manual_seed(5),
        pairs=toy_tasks.UPSTREAM_PAIRS,
        count=toy_tasks.SCENE_COUNT,
        radius=toy_tasks.SCENE_RADIUS,
    )
    assert images.shape == (64, 3, 32, 32) and images.dtype == torch.uint8
    names = toy_tasks.pair_names(toy_tasks.UPSTREAM_PAIRS)
    colours = list(synthetic.COLOURS)
    for i in range(64):
        drawn = {
            f"{colours[c]} {synthetic.SHAPES[s]}"
            for s, c, a in zip(again.shape[i].tolist(), again.colour[i].tolist(), again.active[i].tolist(), strict=True)
            if a
        }
        assert {names[j] for j in present[i].nonzero().flatten().tolist()} == drawn
    assert set(again.count.tolist()) <= set(range(2, 7)) and present.sum(1).min() >= 1


def test_scene_heads_train_the_tokens_they_read() -> None:
    model = toy.build_toy_vit(48)
    heads = SceneHeads(model, 48)
    images = torch.randn(4, 3, 32, 32)
    tokens = model.forward_features(images)
    heads.loss(tokens, images, slice(2, None), torch.zeros(2, 48)).backward()
    assert heads.presence.weight.grad.abs().sum() > 0 and heads.pixels.weight.grad.abs().sum() > 0
    assert model.patch_embed.proj.weight.grad.abs().sum() > 0
    assert model.head.weight.grad is None  # the class head is not part of the auxiliary loss


def test_a_scenes_stage_pins_its_losses_and_saves_no_auxiliary_head(tmp_path) -> None:
    losses: list[float] = []
    tiny = dict(steps=2, batch_size=8, warmup_steps=0, eval_images=32, curve_every=2, curve_images=16)
    cfg = PretrainConfig(scenes=True, out_dir=str(tmp_path / "scenes"), **tiny)
    card = pretrain_toy(cfg, lambda event, info: losses.append(info["loss"]) if event == "step" else None)
    assert losses == pytest.approx([9.0960, 7.5437], abs=1e-3)
    plain = pretrain_toy(PretrainConfig(out_dir=str(tmp_path / "plain"), **tiny))
    scenes_keys = toy.load_file(str(tmp_path / "scenes" / toy.TOY_WEIGHTS.name)).keys()
    assert scenes_keys == toy.load_file(str(tmp_path / "plain" / toy.TOY_WEIGHTS.name)).keys()
    assert card["command"].endswith("--scenes --out-dir " + str(tmp_path / "scenes"))
    assert "presence" in card["objective"] and plain["objective"].startswith("cross-entropy")
    assert card["data"]["images_seen"] == 16
