"""The procedural generator: seeded determinism, and that each factor shows up in the pixels."""

from __future__ import annotations

import dataclasses
import math

import pytest
import torch
from scipy import ndimage

from vptstudy.data import synthetic as S


def _centred(scenes: S.Scenes, shape: torch.Tensor) -> S.Scenes:
    n = len(scenes)
    half = torch.full((n, 1), 0.5)
    return dataclasses.replace(scenes, shape=shape.view(n, 1), x=half, y=half.clone())


@pytest.mark.parametrize("make", [S.shapes, S.sprites])
def test_same_seed_same_images_and_factors(make):
    a, fa = make(64, seed=3)
    b, fb = make(64, seed=3)
    c, _ = make(64, seed=4)
    assert a.dtype == torch.uint8 and a.shape == (64, 3, 32, 32)
    assert torch.equal(a, b)
    assert all(torch.equal(getattr(fa, f), getattr(fb, f)) for f in fa.__dataclass_fields__)
    assert (a != c).any(dim=(1, 2, 3)).float().mean() > 0.9  # almost every image differs


def test_renders_at_any_size_with_the_same_layout():
    scenes = S.sample_shapes(16, 0, backgrounds=("plain",))
    small, large = S.render_shapes(scenes, 32), S.render_shapes(scenes, 64)
    assert large.shape == (16, 3, 64, 64)
    down = torch.nn.functional.avg_pool2d(large.float(), 2)
    assert (down - small.float()).abs().mean() < 6  # same scene, only the sampling differs


def test_count_equals_connected_objects():
    scenes = S.sample_shapes(200, 7, count=(1, 6), radius=(0.08, 0.12))
    black = dataclasses.replace(scenes, background=torch.zeros(200, dtype=torch.long), bg_rgb=torch.zeros(200, 2, 3))
    images = S.render_shapes(black)
    found = [ndimage.label(img.amax(0).numpy() > 60, structure=torch.ones(3, 3).numpy())[1] for img in images]
    assert found == scenes.count.tolist()
    assert set(found) == set(range(1, 7))


def test_colour_and_pairs_are_honoured():
    pairs = torch.tensor([[0, 2], [5, 6]])  # (circle, yellow), (semicircle, purple)
    scenes = S.sample_shapes(100, 1, pairs=pairs, radius=(0.3, 0.3), backgrounds=("plain",))
    chosen = torch.stack([scenes.shape[:, 0], scenes.colour[:, 0]], 1)
    assert ((chosen == pairs[0]).all(1) | (chosen == pairs[1]).all(1)).all()
    circles = _centred(scenes, torch.zeros(100, dtype=torch.long))
    centre = S.render_shapes(circles)[:, :, 16, 16].float()
    assert (centre - circles.rgb[:, 0]).abs().max() <= 0.5  # the object's own colour, unblended


def test_sprite_rotation_turns_the_image():
    scenes = S.sample_sprites(5, 0, radius=(0.3, 0.3), angle=(0.0, 0.0))
    upright = _centred(scenes, torch.arange(5))
    turned = dataclasses.replace(upright, angle=torch.full((5, 1), math.pi / 2))
    a, b = S.render_sprites(upright), S.render_sprites(turned)
    assert torch.equal(torch.rot90(a, 1, dims=(-2, -1)), b)  # counter-clockwise on screen
    assert (a != b)[:4].any(dim=(1, 2, 3)).all()  # all but the square change
    assert set(a.unique().tolist()) == {0, 255}  # binary, white on black


def test_shape_orientation_changes_the_image():
    scenes = S.sample_shapes(8, 2, radius=(0.3, 0.3), angle=(0.0, 0.0), backgrounds=("plain",))
    upright = _centred(scenes, torch.arange(8))
    turned = dataclasses.replace(upright, angle=torch.full((8, 1), 0.5))
    changed = (S.render_shapes(upright) != S.render_shapes(turned)).any(dim=(1, 2, 3))
    assert changed.tolist() == [name not in ("circle", "ring") for name in S.SHAPES]


def test_sprite_position_is_its_centre_of_mass():
    scenes = S.sample_sprites(50, 5, shapes=("ellipse", "square"))
    mask = S.render_sprites(scenes)[:, 0].float() / 255
    grid = (torch.arange(32).float() + 0.5) / 32
    mass = mask.sum((1, 2))
    cx, cy = (mask * grid).sum((1, 2)) / mass, (mask * grid[:, None]).sum((1, 2)) / mass
    assert (cx - scenes.x[:, 0]).abs().max() < 0.02 and (cy - scenes.y[:, 0]).abs().max() < 0.02
