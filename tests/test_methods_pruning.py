"""LoRA, BitFit, adapters, partial-k, MLP-k and E2VPT: declared parameters, zero-init equivalence, counts, pruning."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import tiny_vit
from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods import METHODS, count_parameters, get_method
from vptstudy.methods.kv_prompts import KVPromptAttention
from vptstudy.methods.lora import LoRALinear, merge_lora
from vptstudy.methods.modules import transformer_blocks
from vptstudy.methods.pruning import importance, install_segment_mask, keep_tokens, prune
from vptstudy.models.prompts import PromptedViT
from vptstudy.optim import param_groups

DIM, DEPTH, CLASSES, PATCH = 32, 2, 10, 8
HEAD = DIM * CLASSES + CLASSES
X = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
Y = torch.tensor([0, 1, 2, 3])

EXPECTED_TRAINABLE = {
    "lora": lambda n: n.startswith("vit.head.") or ".lora_" in n,
    "bitfit": lambda n: n.startswith("vit.head.") or n.endswith(".bias"),
    "adapter": lambda n: n.startswith("vit.head.") or ".adapter_" in n,
    "partial-k": lambda n: n.startswith(("vit.head.", "vit.blocks.1.", "vit.norm.")),
    "mlp-k": lambda n: n.startswith("vit.head."),
    "e2vpt": lambda n: n.startswith("vit.head.") or n == "prompt" or n.endswith(".attn.kv_prompt"),
    "e2vpt-prune": lambda n: n.startswith("vit.head.") or n == "prompt" or n.endswith(".attn.kv_prompt"),
}


def config(method: str, **options) -> RunConfig:
    return RunConfig(task="toy/digits", method=method, num_prompts=4, method_options=tuple(sorted(options.items())))


def built(method: str, vit: nn.Module | None = None, phases: int = 1, **options) -> PromptedViT:
    """The model after the method's first ``phases`` phases (structure only, nothing trained)."""
    model = PromptedViT(vit if vit is not None else tiny_vit(drop_rate=0.1, drop_path_rate=0.1))
    gen = torch.Generator().manual_seed(0)
    for phase in get_method(method).phases[:phases]:
        phase.prepare(model, config(method, **options), gen)
    return model


def plain_logits(vit: nn.Module) -> torch.Tensor:
    with torch.no_grad():
        return PromptedViT(vit).eval()(X)


def test_every_new_method_is_registered_and_covered() -> None:
    assert set(EXPECTED_TRAINABLE) <= set(METHODS)


@pytest.mark.parametrize("method", list(EXPECTED_TRAINABLE))
def test_exactly_declared_parameters_get_gradients(method: str) -> None:
    model = built(method).train()
    F.cross_entropy(model(X), Y).backward()
    expected = EXPECTED_TRAINABLE[method]
    for name, param in model.named_parameters():
        if expected(name):
            assert param.requires_grad and param.grad is not None, name
        else:
            assert not param.requires_grad and param.grad is None, name
    assert not any(m.training for m in model.vit.blocks.modules()), "frozen backbone must stay in eval mode"
    names = [n for n, _ in model.trainable_parameters()]
    assert any(not n.startswith("vit.head.") for n in names) or method == "mlp-k"


@pytest.mark.parametrize("method", ["lora", "adapter"])
def test_zero_initialised_update_reproduces_the_backbone(method: str) -> None:
    vit = tiny_vit()
    before = plain_logits(vit)
    model = built(method, vit, where="both") if method == "adapter" else built(method, vit)
    with torch.no_grad():
        after = model.eval()(X)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
    names = {n for n, _ in model.vit.named_parameters()}
    assert {"blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.1.mlp.fc2.weight"} <= names


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


def bias_elements(vit: nn.Module) -> int:
    return sum(p.numel() for n, p in vit.named_parameters() if n.endswith(".bias") and not n.startswith("head."))


def block_params(vit: nn.Module, index: int) -> int:
    return sum(p.numel() for p in vit.blocks[index].parameters())


@pytest.mark.parametrize(
    ("method", "options", "formula"),
    [
        ("lora", {"rank": 3}, lambda v: DEPTH * (3 * (DIM + 3 * DIM) + 3 * (DIM + DIM)) + HEAD),
        ("lora", {"rank": 2, "targets": "attn.qkv"}, lambda v: DEPTH * 2 * (DIM + 3 * DIM) + HEAD),
        ("adapter", {"reduction": 4}, lambda v: DEPTH * (2 * DIM * 8 + 8 + DIM) + HEAD),
        ("adapter", {"where": "both", "bottleneck": 5}, lambda v: 2 * DEPTH * (2 * DIM * 5 + 5 + DIM) + HEAD),
        ("bitfit", {}, lambda v: bias_elements(v) + HEAD),
        ("partial-k", {"k": 1}, lambda v: block_params(v, 1) + 2 * DIM + HEAD),
        ("partial-k", {"k": 2}, lambda v: block_params(v, 0) + block_params(v, 1) + 2 * DIM + HEAD),
        ("mlp-k", {}, lambda v: 2 * (DIM * DIM + DIM + 2 * DIM) + HEAD),
        ("mlp-k", {"k": 2, "hidden": 7}, lambda v: DIM * 7 + 7 + 2 * 7 + 7 * CLASSES + CLASSES),
        ("e2vpt", {"kv_prompts": 3}, lambda v: DEPTH * 4 * DIM + DEPTH * 3 * DIM + HEAD),
        ("e2vpt", {"kv_prompts": 3, "share_kv": False}, lambda v: DEPTH * 4 * DIM + 2 * DEPTH * 3 * DIM + HEAD),
    ],
)
def test_trainable_parameter_counts_match_formulas(method: str, options: dict, formula) -> None:
    vit = tiny_vit()
    expected = formula(vit)
    trainable, _ = count_parameters(built(method, vit, **options))
    assert trainable == expected


def test_mlp_probe_trains_in_train_mode_while_backbone_stays_in_eval() -> None:
    model = built("mlp-k").train()
    model(X)
    probe = model.vit.get_classifier()
    assert probe.training and not model.vit.blocks.training
    model.eval()
    with torch.no_grad():
        first, second = model(X), model(X)
    assert not probe.training and torch.equal(first, second)


def test_lora_and_adapter_weights_decay_but_biases_do_not() -> None:
    model = built("adapter")
    names = {id(p): n for n, p in model.named_parameters()}
    decayed, plain = ({names[id(p)] for p in g["params"]} for g in param_groups(model, 0.01))
    assert "vit.blocks.0.adapter_mlp.down.weight" in decayed and "vit.blocks.0.adapter_mlp.up.bias" in plain


def test_unknown_or_mistyped_method_options_are_user_errors() -> None:
    with pytest.raises(UserError, match="rnak"):
        built("lora", rnak=4)
    with pytest.raises(UserError, match="whole number"):
        built("lora", rank="big")
    with pytest.raises(UserError, match="k <= 2"):
        built("partial-k", k=5)
    with pytest.raises(UserError, match="targets"):
        built("lora", targets="nothing.here")


# -- E2VPT ------------------------------------------------------------------------------------------------
def test_kv_attention_without_prompts_is_timm_attention() -> None:
    vit = tiny_vit()
    tokens = torch.randn(2, 17, DIM)
    attn = vit.blocks[0].attn.eval()
    with torch.no_grad():
        expected = attn(tokens)
        wrapped = KVPromptAttention(attn, num_kv=0).eval()
        torch.testing.assert_close(wrapped(tokens), expected, rtol=0, atol=1e-6)
    assert {n for n, _ in wrapped.named_parameters()} == {n for n, _ in attn.named_parameters()} | {"kv_prompt"}


def test_e2vpt_masking_all_prompts_restores_the_backbone() -> None:
    vit = tiny_vit()
    before = plain_logits(vit)
    model = built("e2vpt", vit, kv_prompts=3).eval()
    with torch.no_grad():
        assert not torch.allclose(model(X), before, atol=1e-3)
        keep_tokens(model, torch.empty(DEPTH, 0, dtype=torch.long))
        for _, block in transformer_blocks(model.vit):
            block.attn.keep_kv(torch.empty(0, dtype=torch.long))
        torch.testing.assert_close(model(X), before, rtol=0, atol=1e-5)


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


def test_e2vpt_prune_checks_its_options_before_training() -> None:
    first = get_method("e2vpt-prune").phases[0]
    with pytest.raises(UserError, match="prompts"):
        first.prepare(PromptedViT(tiny_vit()), config("e2vpt-prune").replace(num_prompts=0), torch.Generator())
    with pytest.raises(UserError, match="fraction"):
        first.prepare(PromptedViT(tiny_vit()), config("e2vpt-prune", prune_tokens=1.5), torch.Generator())
    with pytest.raises(UserError, match="segments"):
        first.prepare(PromptedViT(tiny_vit()), config("e2vpt-prune", segments=5), torch.Generator())


# -- command line, run directories, studies ----------------------------------------------------------------
TINY = ["--model", "test_vit", "--no-pretrained", "--img-size", "32", "--batch-size", "64", "--test-subsample", "64"]


def test_train_help_lists_every_registered_method(capsys, monkeypatch) -> None:
    from tests.helpers.cli import run_cli

    res = run_cli(["train", "--help"], capsys, monkeypatch)
    assert res.code == 0
    assert all(name in res.out for name in METHODS) and "--method-option" in res.out


def test_method_options_reach_the_run_and_bad_ones_fail_cleanly(tmp_path, capsys, monkeypatch) -> None:
    import json

    from tests.helpers.cli import run_cli
    from vptstudy import runs

    args = ["train", "--task", "toy/digits", "--method", "lora", *TINY, "--epochs", "1", "--out-dir", str(tmp_path)]
    res = run_cli([*args, "--method-option", "rank=2", "--method-option", "targets=attn.qkv"], capsys, monkeypatch)
    assert res.code == 0, res.err
    (run,) = runs.iter_runs(tmp_path)
    config = json.loads((run / runs.CONFIG).read_text())["run"]
    assert config["method_options"] == {"rank": 2, "targets": "attn.qkv"}
    result = json.loads((run / runs.RESULT).read_text())
    assert result["trainable_params"] == 6 * 2 * (64 + 3 * 64) + 10 * 64 + 10  # test_vit: 6 blocks, width 64
    bad = run_cli([*args, "--method-option", "rank"], capsys, monkeypatch)
    assert bad.code == 2 and "KEY=VALUE" in bad.err


@pytest.mark.parametrize("mode", ["remove", "zero"])
def test_e2vpt_prune_trains_prunes_rewinds_and_reloads(mode: str, tmp_path, capsys, monkeypatch) -> None:
    import json

    from safetensors.torch import load_file

    from tests.helpers.cli import run_cli
    from vptstudy import runs
    from vptstudy.load import load_run

    args = ["train", "--task", "toy/digits", "--method", "e2vpt-prune", *TINY, "--epochs", "1", "--prompts", "4"]
    options = ["--method-option", "prune_segments=0.5", "--method-option", f"prune_mode={mode}"]
    res = run_cli([*args, "--out-dir", str(tmp_path), *options], capsys, monkeypatch)
    assert res.code == 0, res.err
    (run,) = runs.iter_runs(tmp_path)
    result = json.loads((run / runs.RESULT).read_text())
    first, second = result["phases"]
    prompt = load_file(str(run / runs.TRAINABLE))["prompt"]
    tokens = 2 if mode == "remove" else 4  # zero: the 2 pruned tokens per layer stay in place, all zero
    removed = 6 * 2 * 64 if mode == "remove" else 0
    assert first["trainable_params"] - second["trainable_params"] == removed  # half of the 4 tokens per layer
    assert prompt.shape == (6, tokens, 64)
    zero_segments = (prompt.view(6, tokens, 8, 8) == 0).all(-1)
    if mode == "zero":
        assert (zero_segments.all(-1).sum(-1) == 2).all()  # two whole tokens zeroed per layer
    assert zero_segments.sum(dim=(1, 2)).tolist() == [8 + 8 * (tokens - 2)] * 6  # + half of the 16 kept segments
    model = load_run(run)
    assert torch.equal(model.prompt_segments.keep, (prompt.view(6, tokens, 8, 8) != 0).any(-1))


def test_study_method_options_table_is_parsed_per_method() -> None:
    from vptstudy.study import parse_study

    data = {
        "name": "s",
        "kind": "search",
        "tasks": ["toy/digits"],
        "methods": ["lora", "adapter"],
        "run": {"epochs": 1},
        "method_options": {"lora": {"rank": 4, "targets": "attn.qkv"}},
    }
    study = parse_study(data)
    assert study.run_for("lora")["method_options"] == (("rank", 4), ("targets", "attn.qkv"))
    assert "method_options" not in study.run_for("adapter")
    with pytest.raises(UserError, match="unknown method"):
        parse_study({**data, "method_options": {"nope": {"rank": 4}}})
    with pytest.raises(UserError, match="option = value"):
        parse_study({**data, "method_options": {"lora": {"rank": [1, 2]}}})


def test_pruning_every_token_leaves_only_key_value_prompts() -> None:
    model, _ = prune_model()
    index, keep = prune(model, lambda: [(X, Y)], 1.0, 0.5, 4)
    assert index.shape == (DEPTH, 0) and keep.shape == (DEPTH, 0, 4) and model.num_prompts == 0
    assert model(X).shape == (4, CLASSES)
