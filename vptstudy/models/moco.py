"""MoCo v3 ViT checkpoints: map the training checkpoint's keys onto timm's VisionTransformer.

A MoCo v3 checkpoint (``vit-b-300ep.pth.tar``) holds ``{"state_dict": {...}}`` with the query encoder under
``module.base_encoder.``, plus the momentum encoder and the predictor. The backbone is the base encoder: keep those
keys, strip the prefix, drop its ``head.*`` (the projection MLP), and load the rest non-strictly into timm's
``vit_base_patch16_224``; only the (new) classifier head may then be missing.
"""

from __future__ import annotations

from pathlib import Path

import torch
from timm.models.vision_transformer import VisionTransformer, checkpoint_filter_fn

from vptstudy.errors import UserError

MOCO_PREFIX = "module.base_encoder."
TORCH_SUFFIXES = (".pth", ".pt", ".tar", ".bin")


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The tensors of a torch checkpoint (``state_dict`` / ``model`` entry, or the file itself), memory-mapped."""
    try:
        raw = torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError:  # old (non-zip) files cannot be memory-mapped
        raw = torch.load(path, map_location="cpu", weights_only=True)
    for key in ("state_dict", "model"):
        if isinstance(raw, dict) and isinstance(raw.get(key), dict):
            return raw[key]
    return raw if isinstance(raw, dict) else {}


def is_moco_v3(path: Path) -> bool:
    """Whether a weights file is a MoCo v3 training checkpoint (keys under ``module.base_encoder.``)."""
    if path.suffix.lower() not in TORCH_SUFFIXES:
        return False
    try:
        keys = read_state_dict(path).keys()
    except Exception:  # an unreadable file is reported by the regular loading path
        return False
    return any(str(k).startswith(MOCO_PREFIX) for k in keys)


def moco_v3_to_timm(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The base encoder's tensors under timm names, without the projection head."""
    mapped = {k[len(MOCO_PREFIX) :]: v for k, v in state.items() if k.startswith(MOCO_PREFIX)}
    return {k: v for k, v in mapped.items() if not k.startswith("head.")}


def load_moco_v3(model: VisionTransformer, path: Path) -> None:
    """Load a MoCo v3 checkpoint into ``model`` (position embedding resampled if needed); only the head may miss."""
    state = checkpoint_filter_fn(moco_v3_to_timm(read_state_dict(path)), model)
    missing, unexpected = model.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.startswith("head.")]
    if missing or unexpected:
        raise UserError(
            f"MoCo v3 checkpoint {str(path)!r} does not fit the model: "
            f"missing {missing[:3]}, unexpected {list(unexpected)[:3]}",
            "--weights",
            "pass a MoCo v3 ViT checkpoint of the same architecture (e.g. vit-b-300ep.pth.tar with "
            "vit_base_patch16_224)",
        )
