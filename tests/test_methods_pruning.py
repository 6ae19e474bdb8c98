"""E2VPT's prompt pruning: the mask-gradient importance, token- then segment-wise pruning (remove or zero in place),
rewinding, and a pruned run's segment mask read back from its stored prompts."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from tests.conftest import tiny_vit
from tests.helpers.methods import CLASSES, DEPTH, DIM, X, Y, built, config
from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods import get_method
from vptstudy.methods.pruning import importance, install_segment_mask, prune
from vptstudy.models.prompts import PromptedViT
from vptstudy.optim import param_groups


def test_importance_is_the_mask_gradient_score() -> None:
    model = built("e2vpt", kv_prompts=2).eval()
    scores = importance(model, [(X, Y)])
    rho = torch.ones(DEPTH, 4, 1, requires_grad=True)
    prompt = model.prompt.detach()
    logits = torch.func.functional_call(model, {"prompt": rho * prompt}, (X,))
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, Y), rho)
    torch.testing.assert_close(scores, grad.squeeze(-1).abs(), rtol=1e-4, atol=1e-7)
    segments = importance(model, [(X, Y)], segments=4)
    assert segments.shape == (DEPTH, 4, 4)


def prune_model(tokens: float = 0.5, segments: float = 0.25) -> tuple[PromptedViT, dict[str, torch.Tensor]]:
    model = PromptedViT(tiny_vit())
    cfg = RunConfig(
        task="toy/digits",
        method="e2vpt-prune",
        num_prompts=10,
        method_options=(("kv_prompts", 2), ("prune_segments", segments), ("prune_tokens", tokens), ("segments", 4)),
    )
    first, _ = get_method("e2vpt-prune").phases
    first.prepare(model, cfg, torch.Generator().manual_seed(0))
    start = {k: v.clone() for k, v in model.e2vpt_start.items()}
    with torch.no_grad():  # stand-in for the first phase's training
        for _, param in model.trainable_parameters():
            param.add_(torch.randn_like(param) * 0.3)
    return model, start


def test_pruning_removes_the_requested_fraction_and_rewinding_retrains_the_rest() -> None:
    from vptstudy.methods.e2vpt import _train_prompts, rewind

    model, start = prune_model()
    token_scores = importance(model, [(X, Y)])
    index, keep = prune(model, lambda: [(X, Y)], 0.5, 0.25, 4)
    assert index.shape == (DEPTH, 5) and model.prompt.shape == (DEPTH, 5, DIM)
    for layer in range(DEPTH):  # the kept tokens are each layer's five most important
        assert set(index[layer].tolist()) == set(token_scores[layer].topk(5).indices.tolist())
    assert keep.shape == (DEPTH, 5, 4) and (~keep).sum(dim=(1, 2)).tolist() == [5] * DEPTH  # 25% of 20 segments
    rewind(model, index)
    install_segment_mask(model, keep)
    _train_prompts(model)
    rows = torch.arange(DEPTH).unsqueeze(1)
    mask = keep.repeat_interleave(DIM // 4, dim=-1)
    torch.testing.assert_close(model.prompt.detach(), start["prompt"][rows, index] * mask)
    torch.testing.assert_close(model.vit.head.weight.detach(), start["vit.head.weight"])
    optimizer = torch.optim.SGD(param_groups(model, 0.01), lr=0.5, momentum=0.9)
    for _ in range(2):
        optimizer.zero_grad()
        F.cross_entropy(model.train()(X), Y).backward()
        assert torch.all(model.prompt.grad[~mask] == 0) and model.prompt.grad[mask].abs().sum() > 0
        optimizer.step()
    assert torch.all(model.prompt.detach()[~mask] == 0)
    assert not torch.equal(model.prompt.detach(), start["prompt"][rows, index] * mask)


def test_zero_mode_prunes_the_same_tokens_in_place_and_keeps_them_at_zero() -> None:
    """The official E2VPT masks pruned tokens (S src/models/vit_prompt/vit_prompt_VK.py:139-143, 223-236)."""
    from vptstudy.methods.e2vpt import _train_prompts, rewind

    torch.manual_seed(0)
    removed, _ = prune_model()
    torch.manual_seed(0)
    zeroed, start = prune_model()
    torch.testing.assert_close(removed.prompt, zeroed.prompt, rtol=0, atol=0)
    index, _ = prune(removed, lambda: [(X, Y)], 0.5, 0.25, 4, "remove")
    full, keep = prune(zeroed, lambda: [(X, Y)], 0.5, 0.25, 4, "zero")
    assert zeroed.prompt.shape == (DEPTH, 10, DIM) and full.shape == (DEPTH, 10) and keep.shape == (DEPTH, 10, 4)
    token_kept = keep.any(-1)
    for layer in range(DEPTH):  # the same five tokens survive; 25% of their 20 segments are dropped on top
        assert set(index[layer].tolist()) <= set(token_kept[layer].nonzero().flatten().tolist())
        assert (~keep[layer][index[layer]]).sum() == 5 and keep[layer].sum() == 15
    rewind(zeroed, full)
    install_segment_mask(zeroed, keep)
    _train_prompts(zeroed)
    mask = keep.repeat_interleave(DIM // 4, dim=-1)
    torch.testing.assert_close(zeroed.prompt.detach(), start["prompt"] * mask)
    optimizer = torch.optim.SGD(param_groups(zeroed, 0.01), lr=0.5, momentum=0.9)
    for _ in range(2):
        optimizer.zero_grad()
        F.cross_entropy(zeroed.train()(X), Y).backward()
        optimizer.step()
    assert torch.all(zeroed.prompt.detach()[~mask] == 0) and torch.all(zeroed.prompt.detach()[mask] != 0)


def test_unknown_prune_mode_is_a_user_error() -> None:
    first = get_method("e2vpt-prune").phases[0]
    with pytest.raises(UserError, match="prune_mode"):
        first.prepare(PromptedViT(tiny_vit()), config("e2vpt-prune", prune_mode="drop"), torch.Generator())


@pytest.mark.parametrize("mode", ["remove", "zero"])
def test_a_pruned_run_reloads_its_segment_mask_from_the_stored_prompts(mode: str) -> None:
    model, _ = prune_model()
    cfg = config("e2vpt-prune", kv_prompts=2, segments=4, prune_mode=mode).replace(num_prompts=10)
    _, keep = prune(model, lambda: [(X, Y)], 0.5, 0.25, 4, mode)
    install_segment_mask(model, keep)
    stored = {n: p.detach().clone() for n, p in model.trainable_parameters()}
    fresh = PromptedViT(tiny_vit())
    first, second = get_method("e2vpt-prune").phases
    gen = torch.Generator().manual_seed(0)
    first.prepare(fresh, cfg, gen)
    second.prepare(fresh, cfg, gen)  # untrained: structure only, no data needed
    assert fresh.prompt.shape == model.prompt.shape and fresh.prompt_segments.keep.all()
    fresh.load_state_dict(stored, strict=False)
    assert torch.equal(fresh.prompt_segments.keep, keep)


# -- command line, run directories, studies ----------------------------------------------------------------


def test_pruning_every_token_leaves_only_key_value_prompts() -> None:
    model, _ = prune_model()
    index, keep = prune(model, lambda: [(X, Y)], 1.0, 0.5, 4)
    assert index.shape == (DEPTH, 0) and keep.shape == (DEPTH, 0, 4) and model.num_prompts == 0
    assert model(X).shape == (4, CLASSES)
