"""Optimizer groups and learning-rate schedule: weight decay skips biases, norms and embeddings but not prompts;
linear warm-up, cosine to zero; lr scales with batch size."""

from __future__ import annotations

import math

import pytest

from tests.helpers.methods import built
from vptstudy.config import RunConfig
from vptstudy.optim import param_groups, warmup_cosine
from vptstudy.plan import plan


def test_warmup_is_linear_then_cosine_reaches_zero() -> None:
    f = warmup_cosine(total_steps=100, warmup_steps=10)
    assert [f(s) for s in range(10)] == pytest.approx([(s + 1) / 10 for s in range(10)])
    assert f(10) == pytest.approx(1.0)
    assert f(55) == pytest.approx(0.5 * (1 + math.cos(math.pi * 45 / 90)))
    assert f(100) == pytest.approx(0.0, abs=1e-12)
    assert all(f(s) >= f(s + 1) for s in range(10, 100))


def test_default_warmup_is_the_recipe_scaled_to_the_epochs() -> None:
    def warmup(method: str, **kw) -> int:
        return plan(RunConfig(task="toy/digits", method=method, model="test_vit", **kw)).phases[0].warmup_epochs

    assert warmup("ft", epochs=100) == 5 and warmup("vpt-deep", epochs=100) == 10
    assert warmup("ft", epochs=3) == 0
    assert warmup("ft", epochs=30, warmup_epochs=5) == 5


def test_weight_decay_skips_biases_norms_embeddings_but_not_prompts() -> None:
    model = built("mixed")  # every parameter trains: prompts, embeddings, norms and the head
    groups = param_groups(model, 0.01)
    names = {id(p): n for n, p in model.named_parameters()}
    decayed = {names[id(p)] for p in groups[0]["params"]}
    plain = {names[id(p)] for p in groups[1]["params"]}
    assert groups[0]["weight_decay"] == 0.01 and groups[1]["weight_decay"] == 0.0
    assert "prompt" in decayed and "vit.head.weight" in decayed and "vit.blocks.0.attn.qkv.weight" in decayed
    assert {"vit.head.bias", "vit.pos_embed", "vit.cls_token", "vit.norm.weight", "vit.blocks.0.norm1.bias"} <= plain
