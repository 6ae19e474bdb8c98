"""Backbones kept between runs of one process: a second build reads no weights and creates nothing, hands out a copy
equal to a fresh build with the generator where a fresh build leaves it; training the copy changes nothing kept; a
changed weight file, seed or head size builds again."""

from __future__ import annotations

import os

import torch

import vptstudy.models.backbones as backbones
from vptstudy.models.backbones import create_backbone
from vptstudy.models.kept import KEPT
from vptstudy.models.toy import TOY_WEIGHTS, save_weights


def states_equal(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa.keys() == sb.keys() and all(torch.equal(sa[k], sb[k]) for k in sa)


def build(seed: int = 42, classes: int = 10, **kw) -> tuple[torch.nn.Module, torch.Tensor]:
    torch.manual_seed(seed)
    model = create_backbone("toy-vit", classes, **kw)
    return model, torch.get_rng_state()


def test_second_build_is_a_copy_with_the_fresh_generator_state(monkeypatch):
    calls = []
    create = backbones._create
    monkeypatch.setattr(backbones, "_create", lambda *a, **k: calls.append(a) or create(*a, **k))
    first, rng_first = build()
    with torch.no_grad():
        for p in first.parameters():
            p.add_(1.0)  # as training would
    second, rng_second = build()
    assert len(calls) == 1 and KEPT.hits == 1
    assert torch.equal(rng_second, rng_first) and not states_equal(first, second)
    KEPT.clear()
    fresh, rng_fresh = build()
    assert len(calls) == 2 and states_equal(second, fresh) and torch.equal(rng_fresh, rng_second)
    assert second.blocks[0].attn.qkv.weight is not fresh.blocks[0].attn.qkv.weight


def test_seed_head_size_and_weight_file_are_part_of_the_key(tmp_path, monkeypatch):
    calls = []
    create = backbones._create
    monkeypatch.setattr(backbones, "_create", lambda *a, **k: calls.append(a) or create(*a, **k))
    build()
    build(seed=43)
    build(classes=6)
    assert len(calls) == 3
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(TOY_WEIGHTS.read_bytes())
    a, _ = build(weights=str(weights))
    model, _ = build(weights=str(weights))
    assert len(calls) == 4 and states_equal(a, model)
    with torch.no_grad():
        model.blocks[0].attn.qkv.weight.mul_(0.5)
    save_weights(model, weights)
    st = weights.stat()
    os.utime(weights, ns=(st.st_mtime_ns + 10**9, st.st_mtime_ns + 10**9))
    changed, _ = build(weights=str(weights))
    assert len(calls) == 5 and not torch.equal(changed.blocks[0].attn.qkv.weight, a.blocks[0].attn.qkv.weight)
