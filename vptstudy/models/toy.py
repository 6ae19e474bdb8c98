"""The embedded toy backbone: a small ViT pretrained by ``vptstudy pretrain-toy`` and shipped in ``assets/``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file
from timm.layers import resample_abs_pos_embed
from timm.models.vision_transformer import VisionTransformer

from vptstudy.digests import EMBEDDED_WEIGHTS, weights_file
from vptstudy.errors import UserError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
TOY_NAME = "toy-vit"
TOY_WEIGHTS = EMBEDDED_WEIGHTS[TOY_NAME]
TOY_CARD = ASSETS / "toy_vit.json"
TOY_HELDOUT = ASSETS / "toy_upstream_heldout.npz"  # a fixed held-out upstream sample the card scores (uint8)
UPSTREAM_HEAD = "upstream_head."  # key prefix of the pretraining classifier stored next to the backbone
TOY_ARCH: dict[str, Any] = {
    "img_size": 32,
    "patch_size": 8,
    "embed_dim": 128,
    "depth": 6,
    "num_heads": 4,
    "mlp_ratio": 4.0,
}


@dataclass(frozen=True)
class EmbeddedSpec:
    """A shipped backbone: its architecture, weight file and model card."""

    arch: dict[str, Any]
    weights: Path
    card: Path
    summary: str


EMBEDDED: dict[str, EmbeddedSpec] = {
    TOY_NAME: EmbeddedSpec(
        TOY_ARCH,
        TOY_WEIGHTS,
        TOY_CARD,
        "6-block, 128-wide ViT (8x8 patches) on 32x32 inputs, pretrained offline on synthetic shapes",
    ),
}


def build_toy_vit(num_classes: int, img_size: int | None = None, **overrides: Any) -> VisionTransformer:
    """The toy ViT architecture with random weights."""
    arch = {**TOY_ARCH, **overrides}
    if img_size is not None:
        arch["img_size"] = img_size
    return VisionTransformer(num_classes=num_classes, **arch)


def load_card(name: str = TOY_NAME) -> dict[str, Any]:
    spec = EMBEDDED[name]
    return json.loads(spec.card.read_text()) if spec.card.is_file() else {}


def create_embedded(
    name: str,
    num_classes: int,
    pretrained: bool = True,
    weights: str | None = None,
    img_size: int | None = None,
) -> VisionTransformer:
    """Build an embedded backbone with a fresh head; load its shipped (or the given) weights."""
    spec = EMBEDDED[name]
    model = build_toy_vit(num_classes, img_size=img_size, **{k: v for k, v in spec.arch.items() if k != "img_size"})
    file = weights_file(name, pretrained, weights)
    if file is None:
        return model
    where = "--weights" if weights else str(file)  # the user's file, or the one the package ships
    if not file.is_file() and weights:
        raise UserError(
            f"weights file {str(file)!r} not found",
            where,
            "pass an existing .safetensors file (`vptstudy pretrain-toy` writes one)",
        )
    if not file.is_file():
        raise UserError(
            f"the shipped weights of {name!r} are missing",
            where,
            "reinstall vptstudy (in a clone: `git checkout vptstudy/assets/`), rerun the `vptstudy pretrain-toy` "
            f"stages that {spec.card.name} records, or pass --no-pretrained",
        )
    try:
        state = {k: v.float() for k, v in load_file(str(file)).items()}
    except Exception as exc:  # safetensors raises several types for a bad file
        raise UserError(
            f"cannot read weights {str(file)!r}: {exc}",
            where,
            "pass a safetensors file written by vptstudy pretrain-toy"
            if weights
            else "the shipped file is damaged: reinstall vptstudy or pass --no-pretrained",
        ) from exc
    state = {k: v for k, v in state.items() if not k.startswith(("head.", UPSTREAM_HEAD))}
    if "pos_embed" in state and state["pos_embed"].shape != model.pos_embed.shape:
        grid = model.patch_embed.grid_size
        state["pos_embed"] = resample_abs_pos_embed(
            state["pos_embed"], list(grid), num_prefix_tokens=model.num_prefix_tokens
        )
    missing, unexpected = model.load_state_dict(state, strict=False)
    bad_missing = [k for k in missing if not k.startswith("head.")]
    if bad_missing or unexpected:
        raise UserError(
            f"weights {str(file)!r} do not fit {name!r}",
            where,
            f"missing {bad_missing[:3]}, unexpected {list(unexpected)[:3]}",
        )
    return model


def save_weights(model: VisionTransformer, path: Path, keep_head: bool = False) -> None:
    """Write a backbone's weights as fp16 safetensors, atomically.

    The classification head is dropped, or with ``keep_head`` stored as ``upstream_head.*`` (the pretraining
    classifier, which :func:`create_embedded` ignores and :func:`load_upstream_head` restores).
    """
    from safetensors.torch import save_file

    state = {}
    for key, value in model.state_dict().items():
        if key.startswith("head."):
            if not keep_head:
                continue
            key = UPSTREAM_HEAD + key.removeprefix("head.")
        state[key] = value.detach().to(torch.float16).contiguous()
    tmp = path.with_suffix(path.suffix + ".tmp")
    save_file(state, str(tmp), metadata={"format": "pt"})
    tmp.replace(path)


def load_upstream_head(model: VisionTransformer, weights: str | Path | None = None) -> None:
    """Put the stored pretraining classifier (``upstream_head.*``) into ``model.head``; shapes must match."""
    file = weights_file(TOY_NAME, True, str(weights) if weights else None)
    head = {
        k.removeprefix(UPSTREAM_HEAD): v.float() for k, v in load_file(str(file)).items() if k.startswith(UPSTREAM_HEAD)
    }
    if not head:
        raise UserError(
            f"weights {str(file)!r} hold no upstream head",
            "--weights",
            "rebuild them with `vptstudy pretrain-toy`, which stores the pretraining classifier",
        )
    model.head.load_state_dict(head)
