"""Backbones: any timm VisionTransformer or SwinTransformer by name, local weight files, and the embedded toy backbone.

``create_backbone`` never hangs on a network that is not there: cached weights are found first, and when they are
not cached the hub is probed with a short timeout; without network or cache the error names the file to pass with
``--weights``, the cache folder timm uses, and the offline ``toy-vit`` backbone. A MoCo v3 training checkpoint
passed with ``--weights`` is recognised by its ``module.base_encoder.`` keys and mapped onto timm's ViT.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import timm
import torch
from timm.models.swin_transformer import SwinTransformer
from timm.models.vision_transformer import VisionTransformer
from torch import nn

from vptstudy.digests import weights_file
from vptstudy.errors import UserError
from vptstudy.models.kept import build_kept
from vptstudy.models.moco import is_moco_v3, load_moco_v3
from vptstudy.models.official import init_head, set_backbone_dropout
from vptstudy.models.toy import EMBEDDED, create_embedded

HUB_PROBE_TIMEOUT_S = 3.0
WEIGHT_SUFFIXES = (".safetensors", ".pth", ".pt", ".bin", ".npz", ".tar")
BACKBONES = (VisionTransformer, SwinTransformer)


def _check_model_name(name: str) -> str:
    if name in EMBEDDED:
        return name
    arch = name.split(".", 1)[0]
    if timm.is_model(arch):
        return name
    close = timm.list_models(f"*{arch.split('_')[0]}*")[:5] if arch else []
    hint = f"close names: {', '.join(close)}; " if close else ""
    raise UserError(
        f"unknown model {name!r}",
        "--model",
        f"{hint}use a timm ViT or Swin name such as vit_base_patch16_224.orig_in21k or "
        f"swin_base_patch4_window7_224.ms_in22k, or {', '.join(sorted(EMBEDDED)) or 'toy-vit'}",
    )


def _check_weights_file(path: str) -> Path:
    file = Path(path).expanduser()
    if not file.is_file():
        raise UserError(f"weights file {str(file)!r} not found", "--weights", "pass an existing .safetensors or .pth")
    if not os.access(file, os.R_OK):
        raise UserError(f"weights file {str(file)!r} is not readable", "--weights", "check its permissions")
    if file.suffix.lower() not in WEIGHT_SUFFIXES:
        raise UserError(
            f"weights file {str(file)!r} has an unknown type",
            "--weights",
            f"use one of {', '.join(WEIGHT_SUFFIXES)}",
        )
    return file


def _cached_pretrained_file(name: str) -> Path | None:
    """The locally cached weight file of a timm pretrained tag, if any; never touches the network."""
    cfg = timm.models.get_pretrained_cfg(name, allow_unregistered=False)
    if cfg is None:
        return None
    if cfg.hf_hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo = cfg.hf_hub_id.split("@", 1)[0]
        for filename in ("model.safetensors", "open_clip_pytorch_model.bin", "pytorch_model.bin"):
            found = try_to_load_from_cache(repo, filename)
            if isinstance(found, str):
                return Path(found)
    if cfg.url:
        cached = Path(torch.hub.get_dir()) / "checkpoints" / os.path.basename(urlparse(cfg.url).path)
        if cached.is_file():
            return cached
    return None


def _hub_reachable() -> bool:
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    try:
        with socket.create_connection(
            (endpoint.hostname or "huggingface.co", endpoint.port or 443), timeout=HUB_PROBE_TIMEOUT_S
        ):
            return True
    except OSError:
        return False


def _no_weights_error(name: str) -> UserError:
    from huggingface_hub.constants import HF_HUB_CACHE

    cfg = timm.models.get_pretrained_cfg(name, allow_unregistered=False)
    source = cfg.hf_hub_id if cfg is not None and cfg.hf_hub_id else (cfg.url if cfg is not None else name)
    return UserError(
        f"pretrained weights for {name!r} are not cached and the model hub cannot be reached",
        f"timm cache {HF_HUB_CACHE} (hub repo {source})",
        "download the weight file elsewhere and pass --weights FILE, copy it into that cache, "
        "or use the offline backbone --model toy-vit",
    )


def default_input_size(name: str) -> int:
    """The input resolution a backbone expects when ``--img-size`` is not given."""
    _check_model_name(name)
    if name in EMBEDDED:
        return int(EMBEDDED[name].arch["img_size"])
    cfg = timm.models.get_pretrained_cfg(name, allow_unregistered=False)
    if cfg is not None and cfg.input_size:
        return int(cfg.input_size[-1])
    size = timm.create_model(name.split(".", 1)[0], pretrained=False, num_classes=0).patch_embed.img_size
    return int(size[-1] if isinstance(size, tuple | list) else size)


def create_backbone(
    name: str,
    num_classes: int,
    pretrained: bool = True,
    weights: str | None = None,
    img_size: int | None = None,
    dropout: float = 0.0,
    head_init: str = "official",
    **kwargs: Any,
) -> nn.Module:
    """Build a ViT or Swin with a fresh ``num_classes`` head.

    ``weights`` loads a local safetensors/pth/npz file (head dropped or resized, position embedding resampled) or
    a MoCo v3 checkpoint; otherwise ``pretrained`` loads the timm tag's weights from the cache, or the hub when it
    can be reached. ``dropout`` goes where the official ViT applies it and acts only in train mode; ``head_init``
    ``official`` initialises the new head as the study's code does, ``timm`` keeps timm's (see ``official``).
    """
    identity = (
        name,
        num_classes,
        img_size,
        _weights_identity(name, pretrained, weights),
        tuple(sorted((k, repr(v)) for k, v in kwargs.items())),
    )
    model = build_kept(identity, lambda: _create(name, num_classes, pretrained, weights, img_size, **kwargs))
    set_backbone_dropout(model, dropout)
    init_head(model, head_init)
    return model


def _stat(path: Path) -> str:
    try:
        st = path.stat()
    except OSError:
        return f"{path} missing"
    return f"{path} {st.st_size} {st.st_mtime_ns}"


def _weights_identity(name: str, pretrained: bool, weights: str | None) -> str:
    """Which weights a build reads, cheaply (a stat): the file's name, size and mtime; ``random`` for none."""
    local = weights_file(name, pretrained, weights)  # --weights, or an embedded backbone's file
    if local is not None:
        return _stat(local)
    if not pretrained:
        return "random"
    if not timm.is_model(name.split(".", 1)[0]):
        return "unknown"  # _create raises the user error
    cached = _cached_pretrained_file(name)
    return _stat(cached) if cached is not None else "hub"


def _create(
    name: str, num_classes: int, pretrained: bool, weights: str | None, img_size: int | None, **kwargs: Any
) -> nn.Module:
    _check_model_name(name)
    if name in EMBEDDED:
        return create_embedded(name, num_classes, pretrained=pretrained, weights=weights, img_size=img_size)
    if img_size is not None:
        kwargs["img_size"] = img_size
    file = _check_weights_file(weights) if weights else None
    if file is None and pretrained:
        cached = _cached_pretrained_file(name)
        if cached is not None:
            file = cached
        elif timm.models.get_pretrained_cfg(name, allow_unregistered=False) is None:
            raise UserError(
                f"timm has no pretrained weights for {name!r}",
                "--model",
                "name a pretrained tag (for example vit_base_patch16_224.orig_in21k), pass "
                "--weights FILE, or use --no-pretrained",
            )
        elif not _hub_reachable():
            raise _no_weights_error(name)
    if file is not None and is_moco_v3(file):
        model = timm.create_model(name, pretrained=False, num_classes=num_classes, **kwargs)
        if not isinstance(model, VisionTransformer):
            raise UserError(f"a MoCo v3 checkpoint needs a ViT, not {name!r}", "--model", "use vit_base_patch16_224")
        load_moco_v3(model, file)
    elif file is not None:
        overlay: dict[str, Any] = {"file": str(file)}
        if file.suffix.lower() == ".npz":
            overlay["custom_load"] = True
        try:
            model = timm.create_model(
                name, pretrained=True, num_classes=num_classes, pretrained_cfg_overlay=overlay, **kwargs
            )
        except Exception as exc:  # torch, safetensors and pickle raise many types for a bad file
            raise UserError(
                f"cannot load weights {str(file)!r} into {name!r}: {str(exc).splitlines()[0]}",
                "--weights",
                "pass a checkpoint of the same architecture",
            ) from exc
    else:
        model = timm.create_model(name, pretrained=pretrained, num_classes=num_classes, **kwargs)
    if not isinstance(model, BACKBONES):
        raise UserError(
            f"model {name!r} is a {type(model).__name__}, not a VisionTransformer or SwinTransformer",
            "--model",
            "use a timm ViT (vit_*) or Swin (swin_*) name",
        )
    return model
