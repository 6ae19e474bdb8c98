"""The embedded toy tasks: registry entries, quadrants, deterministic data and the split protocol."""

from __future__ import annotations

import pytest
import torch

from vptstudy import memo
from vptstudy.config import RunConfig
from vptstudy.data import TASKS, load_task_data
from vptstudy.data import toy_tasks as T

NEW_TASKS = sorted(T.TOY_TASKS)


def test_every_toy_task_is_registered_with_a_quadrant():
    toy = {name for name, spec in TASKS.items() if spec.group == "toy"}
    assert toy == set(T.TOY_QUADRANTS)
    assert {q for q in T.TOY_QUADRANTS.values()} == {
        (data, task) for data in (T.SIMILAR_DATA, T.DIFFERENT_DATA) for task in (T.SIMILAR_TASK, T.DIFFERENT_TASK)
    }
    for name, (_, task) in T.TOY_QUADRANTS.items():
        assert TASKS[name].disparity == ("low" if task == T.SIMILAR_TASK else "high"), name


def test_new_classes_never_appear_upstream():
    upstream = {tuple(p) for p in T.UPSTREAM_PAIRS.tolist()}
    new = {tuple(p) for p in T.NEW_PAIRS.tolist()}
    assert len(upstream) == 48 and len(new) == 16 and not upstream & new
    assert torch.bincount(T.NEW_PAIRS[:, 0]).tolist() == [2] * 8  # every shape with two new colours
    up = T.upstream_images(300, 0)
    assert up.labels.min() >= 0 and up.labels.max() < 48


@pytest.mark.parametrize("name", NEW_TASKS)
def test_tune_and_final_splits_follow_the_protocol(name):
    tune = load_task_data(RunConfig(task=name, method="ft"), 32)
    final = load_task_data(RunConfig(task=name, method="ft", split="final"), 32)
    assert (len(tune.train), len(tune.val), len(tune.test)) == (800, 200, T.TEST_SIZE)
    assert final.val is None and len(final.train) == 1000 and torch.equal(final.test.images, tune.test.images)
    assert tune.train.images.shape[1:] == (3, 32, 32)
    classes = TASKS[name].num_classes
    for split in (tune.train, tune.val, tune.test):
        assert split.labels.min() >= 0 and split.labels.max() < classes
    assert len(tune.test.labels.unique()) == classes


@pytest.mark.parametrize("name", NEW_TASKS)
def test_data_is_fixed_and_regenerates_identically(name, tmp_path):
    first = load_task_data(RunConfig(task=name, method="ft", cache_dir=str(tmp_path / "a")), 32)
    T._native.cache_clear()
    memo.clear_all()
    again = load_task_data(RunConfig(task=name, method="ft", cache_dir=str(tmp_path / "b")), 32)
    assert again.split_info["cache"]["built"] == ["pool", "test"]  # rendered again, not read from memory or a file
    assert torch.equal(first.train.images, again.train.images) and torch.equal(first.test.labels, again.test.labels)


def test_train_size_and_shots_regimes():
    sized = load_task_data(RunConfig(task="toy/count", method="ft", train_size=400), 32)
    assert (len(sized.train), len(sized.val)) == (400, 100)
    shots = load_task_data(RunConfig(task="toy/shapes-new", method="ft", shots=1), 32)
    assert len(shots.train) == len(shots.val) == 16
    big = load_task_data(RunConfig(task="toy/sprites-position", method="ft"), 64)
    assert big.train.images.shape[1:] == (3, 64, 64)


def test_count_task_label_is_count_minus_one():
    data = T._count(64, 0)
    scenes = T.synthetic.sample_shapes(64, 0, count=(1, T.COUNT_MAX), radius=(0.08, 0.12))
    assert torch.equal(data.labels, scenes.count - 1)


def test_position_label_is_the_x_bin_of_a_small_sprite():
    assert T.POSITION_RADIUS == (0.12, 0.2)  # bins 2.4 px wide at 32 px (0.6 of the side over 8 bins)
    data = T._sprites_position(512, 0)
    scenes = T.synthetic.sample_sprites(512, 0, radius=T.POSITION_RADIUS)
    assert scenes.radius.min() >= 0.12 and scenes.radius.max() <= 0.2
    assert scenes.x.min() >= 0.2 and scenes.x.max() <= 0.8
    expected = ((scenes.x[:, 0] - 0.2) / 0.6 * T.POSITION_BINS).long().clamp(0, T.POSITION_BINS - 1)
    assert torch.equal(data.labels, expected) and set(data.labels.tolist()) == set(range(T.POSITION_BINS))


def test_scale_label_is_the_radius_bin_of_a_sprite_on_black():
    assert (T.SCALE_RADIUS, T.SCALE_BINS) == ((0.08, 0.36), 4)  # bins 0.07 of the side (2.2 px of radius at 32)
    data = T._sprites_scale(512, 0)
    scenes = T.synthetic.sample_sprites(512, 0, radius=T.SCALE_RADIUS)
    r = scenes.radius[:, 0]
    # the label is the bin "radius a-b" (a <= r < b) that its class name states
    names = T.TOY_TASKS["toy/sprites-scale"].classes
    edges = [tuple(float(v) for v in name.removeprefix("radius ").split("-")) for name in names]
    assert edges == [(0.08, 0.15), (0.15, 0.22), (0.22, 0.29), (0.29, 0.36)]
    for k, (a, b) in enumerate(edges):
        assert bool(((r[data.labels == k] >= a - 1e-6) & (r[data.labels == k] < b + 1e-6)).all()), k
    assert set(data.labels.tolist()) == {0, 1, 2, 3}
    assert set(data.images.unique().tolist()) == {0, 255}
    # the radius bounds the sprite (its enclosing disc); for each shape a larger bin draws more white pixels
    ink = (data.images[:, 0] > 0).sum(dim=(1, 2)).float()
    shape = scenes.shape[:, 0]
    for s in shape.unique().tolist():
        means = [ink[(shape == s) & (data.labels == k)].mean().item() for k in range(4)]
        assert means == sorted(means) and means[3] > 4 * means[0], (T.synthetic.SPRITES[s], means)


@pytest.mark.parametrize("name", sorted(T.TOY_TASKS))
def test_every_toy_task_names_its_classes_by_label(name):
    data = load_task_data(RunConfig(task=name, method="ft", train_size=40), 32)
    names = data.split_info["classes"]
    assert len(names) == data.num_classes == len(set(names))
    expected_first = {
        "toy/shapes-new": T.pair_names(T.NEW_PAIRS)[0],
        "toy/count": "1 object",
        "toy/sprites-orientation": "0-45 deg",
        "toy/sprites-position": "x bin 1 of 8",
        "toy/sprites-scale": "radius 0.08-0.15",
    }
    assert names[0] == expected_first[name] and names[-1] != names[0]


def test_shapes_new_class_names_describe_the_drawn_object():
    data = T._shapes_new(64, 0)
    scenes = T.synthetic.sample_shapes(64, 0, pairs=T.NEW_PAIRS, radius=T.SHAPE_RADIUS)
    names, colours = T.TOY_TASKS["toy/shapes-new"].classes, list(T.synthetic.COLOURS)
    drawn = [
        f"{colours[c]} {T.synthetic.SHAPES[s]}" for s, c in zip(scenes.shape[:, 0], scenes.colour[:, 0], strict=True)
    ]
    assert [names[y] for y in data.labels.tolist()] == drawn
