"""Swin backbones: PromptedSwin matches timm's Swin, VPT-deep prompts inside window attention, method support, and
Swin runs saved while the backbone was called ``vit`` still load and resume."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from timm.models.swin_transformer import SwinTransformer

from tests.conftest import tiny_vit
from vptstudy import checkpoint, runs
from vptstudy.api import fit_run, load_run
from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.methods import count_parameters, get_method
from vptstudy.models.backbones import create_backbone
from vptstudy.models.prompts import PromptedViT
from vptstudy.models.swin_prompts import PromptedSwin, PromptedWindowAttention
from vptstudy.models.tunable import current_keys
from vptstudy.models.wrap import no_weight_decay_names, wrap_backbone

DIMS, DEPTHS, CLASSES = (16, 32), (2, 2), 5
X = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(3))
Y = torch.tensor([0, 4])


def tiny_swin(**overrides) -> SwinTransformer:
    """32x32 input, patch 2, window 4: stage 1 is 16x16 tokens in 16 windows, block 2 of each stage shifted."""
    args = dict(img_size=32, patch_size=2, window_size=4, embed_dim=DIMS[0], depths=DEPTHS, num_heads=(2, 4))
    args.update(overrides)
    return SwinTransformer(num_classes=CLASSES, **args)


def built(method: str, swin: SwinTransformer | None = None, **options) -> PromptedSwin:
    model = wrap_backbone(swin if swin is not None else tiny_swin())
    cfg = RunConfig(task="toy/digits", method=method, num_prompts=3, method_options=tuple(options.items()))
    get_method(method).build(model, cfg)
    return model


def test_unprompted_wrapper_is_timm_swin_exactly() -> None:
    swin = tiny_swin().eval()
    with torch.no_grad():
        assert torch.equal(PromptedSwin(swin).eval()(X), swin(X))
        assert torch.equal(PromptedSwin(swin).pre_logits(X), swin.forward_head(swin.forward_features(X), True))


@pytest.mark.parametrize("fused", [True, False])
def test_window_attention_wrapper_without_prompts_matches_timm(fused: bool) -> None:
    swin = tiny_swin().eval()
    names = set(swin.state_dict())
    with torch.no_grad():
        for stage in swin.layers:
            for block in stage.blocks:
                block.attn.fused_attn = fused
        expected = swin(X)
        for stage in swin.layers:
            for block in stage.blocks:
                empty = torch.empty(0, block.norm1.normalized_shape[0])
                block.attn = PromptedWindowAttention(block.attn, block.norm1, empty, 0.0)
        torch.testing.assert_close(swin(X), expected, rtol=0, atol=1e-5)
    assert set(swin.state_dict()) == names | {f"layers.{s}.blocks.{b}.attn.prompt" for s in (0, 1) for b in (0, 1)}


def test_vpt_deep_on_swin_trains_prompts_and_head_only() -> None:
    swin = tiny_swin()
    model = built("vpt-deep", swin).train()
    assert model.num_prompts == 3
    loss = F.cross_entropy(model(X), Y)
    loss.backward()
    for name, param in model.named_parameters():
        trainable = name.startswith("swin.head.") or name.endswith(".attn.prompt")
        assert param.requires_grad == trainable and (param.grad is not None) == trainable, name
    assert not any(m.training for m in swin.layers.modules() if not isinstance(m, torch.nn.Dropout))
    head = DIMS[-1] * CLASSES + CLASSES
    assert count_parameters(model)[0] == 3 * sum(d * n for d, n in zip(DIMS, DEPTHS, strict=True)) + head
    assert "swin.layers.0.blocks.0.attn.relative_position_bias_table" in no_weight_decay_names(model)


def test_prompts_stay_inside_each_window() -> None:
    """Within one unshifted block, a token's change reaches only its own window, prompts or not."""
    model = built("vpt-deep").eval()
    block = model.swin.layers[0].blocks[0]
    assert isinstance(block.attn, PromptedWindowAttention) and block.shift_size == (0, 0)
    x = torch.randn(1, 16, 16, DIMS[0])
    y = x.clone()
    y[0, 0, 0] += torch.randn(DIMS[0])
    with torch.no_grad():
        changed = (block(x) - block(y)).abs().sum(-1)[0] > 0
    assert changed[:4, :4].all() and not changed[4:].any() and not changed[:, 4:].any()


def test_prompts_change_the_output_and_unwrap_cleanly() -> None:
    swin = tiny_swin().eval()
    with torch.no_grad():
        plain = swin(X)
        model = built("vpt-deep", swin).eval()
        assert not torch.allclose(model(X), plain)
        model.add_prompts(0, "none", 0.0)
        torch.testing.assert_close(model(X), plain, rtol=0, atol=1e-6)


@pytest.mark.parametrize(
    ("method", "trainable"),
    [
        ("lora", lambda n: ".lora_" in n),
        ("adapter", lambda n: ".adapter_" in n),
        ("bitfit", lambda n: n.endswith(".bias")),
        ("partial-k", lambda n: n.startswith(("swin.layers.1.blocks.1.", "swin.norm."))),
        ("mlp-k", lambda n: False),
        ("linear", lambda n: False),
    ],
)
def test_other_methods_work_on_swin(method: str, trainable) -> None:
    model = built(method).train()
    F.cross_entropy(model(X), Y).backward()
    for name, param in model.named_parameters():
        expected = name.startswith("swin.head.") or trainable(name)
        assert (param.grad is not None) == expected, name


@pytest.mark.parametrize(("method", "match"), [("vpt-shallow", "deep"), ("e2vpt", "VisionTransformer")])
def test_unsupported_combinations_name_the_supported_ones(method: str, match: str) -> None:
    with pytest.raises(UserError, match=match):
        built(method)


def test_create_backbone_accepts_timm_swin_names() -> None:
    swin = create_backbone(
        "swin_tiny_patch4_window7_224",
        3,
        pretrained=False,
        img_size=32,
        embed_dim=8,
        depths=(1, 1),
        num_heads=(1, 2),
        window_size=4,
    )
    assert isinstance(swin, SwinTransformer) and isinstance(wrap_backbone(swin), PromptedSwin)
    assert swin.get_classifier().out_features == 3


def as_old_run_wrote(state: dict) -> dict:
    """Keys as a Swin run saved them while the backbone attribute was ``vit``."""
    return {"vit." + k.removeprefix("swin.") if k.startswith("swin.") else k: v for k, v in state.items()}


def test_old_vit_prefixed_swin_state_loads_into_the_renamed_model() -> None:
    source = built("vpt-deep").eval()
    old = as_old_run_wrote(source.state_dict())
    assert "vit.layers.0.blocks.0.attn.prompt" in old and not any(k.startswith("swin.") for k in old)
    target = built("vpt-deep").eval()  # another random init
    assert not torch.equal(target(X), source(X))
    target.load_state_dict(current_keys(target, old), strict=True)
    for name, tensor in source.state_dict().items():
        assert torch.equal(target.state_dict()[name], tensor), name
    with torch.no_grad():
        assert torch.equal(target(X), source(X))


def test_vit_keys_are_untouched() -> None:
    model = PromptedViT(tiny_vit())
    model.add_prompts(2, "deep", 0.0)
    state = model.state_dict()
    kept = current_keys(model, state)
    assert list(kept) == list(state) and all(kept[k] is state[k] for k in state)
    assert current_keys(built("linear"), {"prompt": 1, "head.x": 2}) == {"prompt": 1, "head.x": 2}


SWIN_RUN = dict(
    task="toy/digits",
    method="vpt-deep",
    model="swin_tiny_patch4_window7_224",
    pretrained=False,
    img_size=32,
    num_prompts=2,
    epochs=2,
    train_size=16,
    batch_size=8,
    device="cpu",
    checkpoint_minutes=0.0,
)


def test_old_swin_run_folders_load_and_resume(tmp_path) -> None:
    """A saved Swin run and a Swin checkpoint with ``vit.`` keys: load_run gives the same model, and the run
    resumes to the same trained tensors as an uninterrupted run."""
    done = fit_run(RunConfig(**SWIN_RUN, out_dir=str(tmp_path / "new")))
    new_dir = Path(done["run_dir"])
    old_dir = tmp_path / "old"
    shutil.copytree(new_dir, old_dir)
    weights = load_file(str(new_dir / runs.TRAINABLE))
    save_file(as_old_run_wrote(weights), str(old_dir / runs.TRAINABLE))
    new_model, old_model = load_run(new_dir), load_run(old_dir)
    assert new_model.state_dict().keys() == old_model.state_dict().keys()
    assert all(torch.equal(t, old_model.state_dict()[k]) for k, t in new_model.state_dict().items())
    images = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(old_model(images), new_model(images))

    paused = RunConfig(**SWIN_RUN, out_dir=str(tmp_path / "resumed"), stop_epoch=1)
    assert fit_run(paused)["status"] == "stopped"
    ckpt = Path(paused.out_dir).joinpath(*new_dir.relative_to(tmp_path / "new").parts) / runs.CHECKPOINT
    state = checkpoint.load(ckpt)
    state["model"] = as_old_run_wrote(state["model"])
    state["trained"] = list(as_old_run_wrote(dict.fromkeys(state["trained"])))
    checkpoint.save(ckpt, state)
    resumed = fit_run(paused.replace(stop_epoch=None))
    assert resumed["status"] == "ok"
    again = load_file(str(Path(resumed["run_dir"]) / runs.TRAINABLE))
    assert again.keys() == weights.keys() and all(torch.equal(again[k], weights[k]) for k in weights)
