"""Seeded splits: reproducible from the seed, stratified, exact k per class, never silently shrunk."""

from __future__ import annotations

import pytest
import torch

from vptstudy.config import RunConfig
from vptstudy.data import splits
from vptstudy.data.tasks import split_from_pool
from vptstudy.data.types import ImageSet
from vptstudy.errors import UserError

LABELS = torch.arange(1000) % 10  # 10 balanced classes
UNEVEN = torch.cat([torch.zeros(600), torch.ones(300), torch.full((100,), 2)]).long()


def choose(labels=LABELS, **kw):
    args = dict(shots=None, train_size=None, split_seed=0, default=(800, 200), where="test")
    args.update(kw)
    return splits.choose(labels, **args)


def test_same_seed_same_indices_other_seed_other_indices():
    for kw in ({}, {"train_size": 400}, {"shots": 3}):
        a, b, c = choose(split_seed=5, **kw), choose(split_seed=5, **kw), choose(split_seed=6, **kw)
        assert torch.equal(a.train, b.train) and torch.equal(a.val, b.val)
        assert a.info["train_hash"] == b.info["train_hash"]
        assert not torch.equal(a.train, c.train)
        assert a.info["train_hash"] != c.info["train_hash"]


def test_default_protocol_is_800_200_disjoint():
    c = choose()
    assert (len(c.train), len(c.val)) == (800, 200)
    assert len(set(c.train.tolist()) | set(c.val.tolist())) == 1000
    assert c.info["kind"] == "train800/val200"


def test_official_split_used_at_seed_zero_only():
    c = choose(official=(700, 300))
    assert torch.equal(c.train, torch.arange(700)) and torch.equal(c.val, torch.arange(700, 1000))
    assert c.info["kind"].startswith("official")
    assert not torch.equal(choose(official=(700, 300), split_seed=1).train, torch.arange(700))


def test_train_size_gives_val_quarter_stratified_and_disjoint():
    c = choose(labels=UNEVEN, train_size=400)
    assert (len(c.train), len(c.val)) == (400, 100)
    assert not set(c.train.tolist()) & set(c.val.tolist())
    assert torch.bincount(UNEVEN[c.train]).tolist() == [240, 120, 40]
    assert torch.bincount(UNEVEN[c.val]).tolist() == [60, 30, 10]


def test_train_size_too_large_states_the_maximum():
    with pytest.raises(UserError, match=r"needs 1001 images.*has 1000.*at most 800"):
        choose(train_size=801)
    assert splits.max_train_size(1001) == 801  # 801 + 200 = 1001 fits exactly


def test_kshot_exactly_k_per_class_for_train_and_val():
    c = choose(shots=4, num_classes=10)
    assert torch.bincount(LABELS[c.train]).tolist() == [4] * 10
    assert torch.bincount(LABELS[c.val]).tolist() == [4] * 10
    assert not set(c.train.tolist()) & set(c.val.tolist())


def test_kshot_errors_on_short_or_missing_class():
    with pytest.raises(UserError, match=r"class 2 has 100 images, 51-shot needs 102.*--shots 50"):
        choose(labels=UNEVEN, shots=51)
    with pytest.raises(UserError, match="class 3 has 0 images"):
        choose(labels=UNEVEN, shots=1, num_classes=4)


def test_split_from_pool_final_merges_val_into_train():
    pool = ImageSet(torch.zeros(100, 3, 2, 2, dtype=torch.uint8), torch.arange(100) % 4)
    test = pool.subset(torch.arange(10))
    cfg = RunConfig(task="toy/digits", method="linear", split="final")
    train, val, _, info = split_from_pool("x", pool, test, cfg, (80, 20))
    assert val is None and len(train) == 100 and info["test"] == 10
    train, val, _, _ = split_from_pool("x", pool, test, cfg.replace(split="tune"), (80, 20))
    assert (len(train), len(val)) == (80, 20)
