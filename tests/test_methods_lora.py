"""LoRA: merging folds the updates into plain timm layers with the same logits and names."""

from __future__ import annotations

import torch

from tests.conftest import tiny_vit
from tests.helpers.methods import X, built, plain_logits
from vptstudy.methods.lora import LoRALinear, merge_lora


def test_lora_merge_gives_the_same_logits_and_plain_timm_names() -> None:
    vit = tiny_vit()
    reference_keys = set(vit.state_dict())
    model = built("lora", vit, rank=2, alpha=4.0).eval()
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoRALinear):
                module.lora_b.weight.normal_(0, 0.5)  # a trained update
        unmerged = model(X)
        merged = merge_lora(model)(X)
    assert not any(isinstance(m, LoRALinear) for m in model.modules())
    torch.testing.assert_close(merged, unmerged, rtol=1e-5, atol=1e-5)
    assert set(model.vit.state_dict()) == reference_keys
    assert not torch.allclose(unmerged, plain_logits(tiny_vit()))
