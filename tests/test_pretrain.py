"""Pretraining the toy backbone (`vptstudy pretrain-toy`): a tiny run writes loadable weights, its card and the
held-out sample; a later stage starts from given weights and its card records every stage."""

from __future__ import annotations

import pytest
import torch

from vptstudy.data import toy_tasks
from vptstudy.errors import UserError
from vptstudy.models import toy
from vptstudy.models.backbones import create_backbone
from vptstudy.pretrain import (
    HELDOUT_IMAGES,
    PretrainConfig,
    evaluate_shipped,
    load_heldout_sample,
    pretrain_toy,
)


def test_tiny_pretraining_writes_loadable_weights_and_card(tmp_path):
    cfg = PretrainConfig(
        steps=3, batch_size=8, warmup_steps=1, eval_images=32, curve_every=2, curve_images=16, out_dir=str(tmp_path)
    )
    card = pretrain_toy(cfg)
    weights = tmp_path / toy.TOY_WEIGHTS.name
    assert (tmp_path / toy.TOY_CARD.name).is_file()
    assert [p["step"] for p in card["curve"]] == [2, 3]
    assert card["data"]["images_seen"] == 24 and f"--out-dir {tmp_path}" in card["command"]
    loss, acc = evaluate_shipped(weights, 32, toy_tasks.UPSTREAM_EVAL_SEED)
    assert (loss, acc) == (card["upstream_accuracy"]["loss"], card["upstream_accuracy"]["top1"])
    sample = load_heldout_sample(tmp_path / toy.TOY_HELDOUT.name)
    assert len(sample) == HELDOUT_IMAGES and card["packaged_sample"]["images"] == HELDOUT_IMAGES
    model = create_backbone("toy-vit", num_classes=4, weights=str(weights))
    assert model.head.out_features == 4


def test_a_later_stage_starts_from_the_given_weights_and_records_every_stage(tmp_path):
    first, second = tmp_path / "one", tmp_path / "two"
    tiny = dict(batch_size=8, warmup_steps=0, eval_images=32, curve_every=1, curve_images=16)
    card1 = pretrain_toy(PretrainConfig(steps=2, out_dir=str(first), **tiny))
    init = first / toy.TOY_WEIGHTS.name
    # lr 1e-12: the second stage barely moves, so it starts where the first ended (not from random weights)
    card2 = pretrain_toy(PretrainConfig(steps=1, lr=1e-12, seed=1, init=str(init), out_dir=str(second), **tiny))
    before, after = toy.load_file(str(init)), toy.load_file(str(second / toy.TOY_WEIGHTS.name))
    assert before.keys() == after.keys() and all(torch.equal(before[k], after[k]) for k in before)
    assert card2["stages"] == [card1["command"], card2["command"]] and f"--init {init}" in card2["command"]
    assert card2["init"]["sha256"] == card1["weights"]["sha256"]
    assert card2["images_seen_all_stages"] == 2 * 8 + 1 * 8
    third = tmp_path / "three"
    card3 = pretrain_toy(PretrainConfig(steps=1, init=str(second / toy.TOY_WEIGHTS.name), out_dir=str(third), **tiny))
    assert card3["stages"] == [card1["command"], card2["command"], card3["command"]]
    assert card3["images_seen_all_stages"] == 2 * 8 + 1 * 8 + 1 * 8  # every stage, not the last two
    total = card1["train_seconds"] + card2["train_seconds"] + card3["train_seconds"]
    assert card3["train_seconds_all_stages"] == pytest.approx(total, rel=1e-9)
    with pytest.raises(UserError, match="not found"):
        PretrainConfig(init=str(tmp_path / "missing.safetensors"))


def test_an_init_under_home_is_expanded_like_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    tiny = dict(batch_size=8, warmup_steps=0, eval_images=32, curve_every=1, curve_images=16)
    card1 = pretrain_toy(PretrainConfig(steps=1, out_dir=str(tmp_path / "one"), **tiny))
    card2 = pretrain_toy(
        PretrainConfig(steps=1, init="~/one/toy_vit.safetensors", out_dir=str(tmp_path / "two"), **tiny)
    )
    # the card beside the ~ path was read: both stages are recorded, and the init's digest is the first card's
    assert card2["stages"] == [card1["command"], card2["command"]]
    assert card2["init"]["sha256"] == card1["weights"]["sha256"]
