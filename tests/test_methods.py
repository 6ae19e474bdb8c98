"""Every registered method, parametrised over the registry (as timm's tests are over ``list_models``): forward
shape, exactly the declared parameters get gradients, frozen parts stay in eval mode while training, the trainable
count follows its formula, and the loss after two steps per phase is the pinned one (tests/helpers/recipe_losses.py).

A method added to the registry without a row in ``SPECS`` (and in the pinned losses) fails here. Then the methods
beyond the paper's four: declared parameters, zero-init equivalence, counts by formula per option, the MLP probe's
mode, weight decay of adapters, and `train --help` listing every method.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from tests.conftest import tiny_vit
from tests.helpers import methods as tiny
from tests.helpers.recipe_losses import RECORDED, losses_after_two_steps
from vptstudy.config import RunConfig
from vptstudy.methods import METHODS, count_parameters, get_method
from vptstudy.models.prompts import PromptedViT
from vptstudy.optim import param_groups

# tiny_vit: 32x32 input, patch 8 (16 patches), width 32, depth 2, MLP 64; 4 prompts a layer in these tests
DIM, DEPTH, MLP, PATCHES, CLASSES, PROMPTS = 32, 2, 64, 16, 10, 4
HEAD = DIM * CLASSES + CLASSES
BLOCK = 2 * DIM + (DIM * 3 * DIM + 3 * DIM) + (DIM * DIM + DIM) + 2 * DIM + (DIM * MLP + MLP) + (MLP * DIM + DIM)
BLOCK_BIASES = DIM + 3 * DIM + DIM + DIM + MLP + DIM  # norm1, qkv, proj, norm2, fc1, fc2
EMBED = 3 * 8 * 8 * DIM + DIM + DIM + (PATCHES + 1) * DIM  # patch projection and bias, cls token, positions
VIT = EMBED + DEPTH * BLOCK + 2 * DIM + HEAD
DEEP_PROMPTS = DEPTH * PROMPTS * DIM
X = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
Y = torch.tensor([0, 1, 2, 3])


def head(n: str) -> bool:
    return n.startswith("vit.head.")


@dataclass(frozen=True)
class Spec:
    """What a method declares: which parameters train (after all its phases), how many there are with the default
    options, and whether the backbone is held in eval mode while training."""

    trains: Callable[[str], bool]
    count: int
    backbone_eval: bool = True


SPECS: dict[str, Spec] = {
    "ft": Spec(lambda n: True, VIT, backbone_eval=False),
    "linear": Spec(head, HEAD),
    "vpt-shallow": Spec(lambda n: head(n) or n == "prompt", PROMPTS * DIM + HEAD),
    "vpt-deep": Spec(lambda n: head(n) or n == "prompt", DEEP_PROMPTS + HEAD),
    "mixed": Spec(lambda n: True, VIT + DEEP_PROMPTS),  # everything trains, the encoder in eval mode
    "ft-then-pt": Spec(lambda n: head(n) or n == "prompt", DEEP_PROMPTS + HEAD),  # after the PT phase
    "lora": Spec(lambda n: head(n) or ".lora_" in n, DEPTH * 8 * ((DIM + 3 * DIM) + (DIM + DIM)) + HEAD),  # r 8
    "bitfit": Spec(lambda n: head(n) or n.endswith(".bias"), DEPTH * BLOCK_BIASES + 2 * DIM + HEAD),  # + patch, norm
    "adapter": Spec(lambda n: head(n) or ".adapter_" in n, DEPTH * (2 * DIM * 4 + 4 + DIM) + HEAD),  # DIM / 8
    "partial-k": Spec(lambda n: n.startswith(("vit.head.", "vit.blocks.1.", "vit.norm.")), BLOCK + 2 * DIM + HEAD),
    "mlp-k": Spec(head, 2 * (DIM * DIM + DIM + 2 * DIM) + HEAD),  # two hidden layers of width DIM, with norms
    "e2vpt": Spec(
        lambda n: head(n) or n == "prompt" or n.endswith(".attn.kv_prompt"), DEEP_PROMPTS + DEPTH * 5 * DIM + HEAD
    ),
    # the default prune_mode zeroes pruned tokens in place: the count is E2VPT's
    "e2vpt-prune": Spec(
        lambda n: head(n) or n == "prompt" or n.endswith(".attn.kv_prompt"), DEEP_PROMPTS + DEPTH * 5 * DIM + HEAD
    ),
}


def spec(name: str) -> Spec:
    assert name in SPECS, f"method {name!r} has no row in SPECS: declare its parameters, count and modes here"
    assert name in RECORDED, f"no pinned loss for {name!r}: run tests/helpers/recipe_losses.py and add its row"
    return SPECS[name]


def built(name: str, monkeypatch: pytest.MonkeyPatch) -> PromptedViT:
    """The model after every phase's ``prepare`` (structure only), on a tiny ViT with dropout and drop-path."""
    # e2vpt-prune scores its prompts on the training split: score them on the fixed batch instead
    monkeypatch.setattr("vptstudy.methods.e2vpt._train_batches", lambda model, cfg: [(X, Y)])
    cfg = RunConfig(task="toy/digits", method=name, num_prompts=PROMPTS)
    return get_method(name).build(PromptedViT(tiny_vit(CLASSES, drop_rate=0.1, drop_path_rate=0.1)), cfg)


def test_the_registry_and_the_tables_name_the_same_methods() -> None:
    assert set(SPECS) == set(METHODS) == set(RECORDED)


def test_the_tiny_vit_formula_counts_its_parameters() -> None:
    assert sum(p.numel() for p in tiny_vit(CLASSES).parameters()) == VIT


@pytest.mark.parametrize("name", list(METHODS))
def test_forward_gives_one_logit_per_class(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec(name)
    model = built(name, monkeypatch)
    assert model.train()(X).shape == (len(X), CLASSES)
    with torch.no_grad():
        assert model.eval()(X).shape == (len(X), CLASSES)


@pytest.mark.parametrize("name", list(METHODS))
def test_exactly_the_declared_parameters_get_gradients(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    trains = spec(name).trains
    model = built(name, monkeypatch).train()
    F.cross_entropy(model(X), Y).backward()
    for n, param in model.named_parameters():
        if trains(n):
            assert param.requires_grad and param.grad is not None, n
        else:
            assert not param.requires_grad and param.grad is None, n
    assert any(trains(n) for n, _ in model.named_parameters())


@pytest.mark.parametrize("name", list(METHODS))
def test_frozen_parts_are_in_eval_mode_while_training(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    backbone_eval = spec(name).backbone_eval
    model = built(name, monkeypatch).train()
    for n, module in model.vit.named_modules():
        params = list(module.parameters())
        if params and not any(p.requires_grad for p in params):
            assert not module.training, f"frozen vit.{n} is in train mode"
    if backbone_eval:  # dropout and drop-path never act in a held backbone, whatever trains inside it
        assert not any(m.training for m in model.vit.blocks.modules())
    else:
        assert all(m.training for m in model.vit.modules())


@pytest.mark.parametrize("name", list(METHODS))
def test_trainable_count_matches_its_formula(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected = spec(name).count
    trainable, total = count_parameters(built(name, monkeypatch))
    assert trainable == expected
    assert total >= VIT and trainable <= total


@pytest.mark.parametrize("name", list(METHODS))
def test_loss_after_two_steps_per_phase_is_pinned(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    spec(name)
    assert losses_after_two_steps(name, monkeypatch) == pytest.approx(RECORDED[name], abs=1e-6, rel=0)


# -- the methods beyond the paper's four, one by one -------------------------------------------------------
EXTRA_TRAINABLE = {
    "lora": lambda n: n.startswith("vit.head.") or ".lora_" in n,
    "bitfit": lambda n: n.startswith("vit.head.") or n.endswith(".bias"),
    "adapter": lambda n: n.startswith("vit.head.") or ".adapter_" in n,
    "partial-k": lambda n: n.startswith(("vit.head.", "vit.blocks.1.", "vit.norm.")),
    "mlp-k": lambda n: n.startswith("vit.head."),
    "e2vpt": lambda n: n.startswith("vit.head.") or n == "prompt" or n.endswith(".attn.kv_prompt"),
    "e2vpt-prune": lambda n: n.startswith("vit.head.") or n == "prompt" or n.endswith(".attn.kv_prompt"),
}


def test_every_new_method_is_registered_and_covered() -> None:
    assert set(EXTRA_TRAINABLE) <= set(METHODS)


@pytest.mark.parametrize("method", list(EXTRA_TRAINABLE))
def test_exactly_declared_parameters_get_gradients(method: str) -> None:
    model = tiny.built(method).train()
    F.cross_entropy(model(X), Y).backward()
    expected = EXTRA_TRAINABLE[method]
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
    before = tiny.plain_logits(vit)
    model = tiny.built(method, vit, where="both") if method == "adapter" else tiny.built(method, vit)
    with torch.no_grad():
        after = model.eval()(X)
    torch.testing.assert_close(after, before, rtol=0, atol=1e-6)
    names = {n for n, _ in model.vit.named_parameters()}
    assert {"blocks.0.attn.qkv.weight", "blocks.0.attn.qkv.bias", "blocks.1.mlp.fc2.weight"} <= names


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
    trainable, _ = count_parameters(tiny.built(method, vit, **options))
    assert trainable == expected


def test_mlp_probe_trains_in_train_mode_while_backbone_stays_in_eval() -> None:
    model = tiny.built("mlp-k").train()
    model(X)
    probe = model.vit.get_classifier()
    assert probe.training and not model.vit.blocks.training
    model.eval()
    with torch.no_grad():
        first, second = model(X), model(X)
    assert not probe.training and torch.equal(first, second)


def test_lora_and_adapter_weights_decay_but_biases_do_not() -> None:
    model = tiny.built("adapter")
    names = {id(p): n for n, p in model.named_parameters()}
    decayed, plain = ({names[id(p)] for p in g["params"]} for g in param_groups(model, 0.01))
    assert "vit.blocks.0.adapter_mlp.down.weight" in decayed and "vit.blocks.0.adapter_mlp.up.bias" in plain


def test_train_help_lists_every_registered_method(capsys, monkeypatch) -> None:
    from tests.helpers.cli import run_cli

    res = run_cli(["train", "--help"], capsys, monkeypatch)
    assert res.code == 0
    assert all(name in res.out for name in METHODS) and "--method-option" in res.out
