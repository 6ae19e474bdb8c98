"""Rebuild a tuned model from a finished run directory."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from vptstudy import damaged, runs
from vptstudy.errors import UserError
from vptstudy.methods import get_method
from vptstudy.models.build import build_model
from vptstudy.models.tunable import TunableBackbone, current_keys
from vptstudy.plan import plan
from vptstudy.rundir import RunDir


def load_run(run_dir: str | Path, device: str | torch.device = "cpu") -> TunableBackbone:
    """The run's tuned model (backbone + stored trainable tensors) in eval mode.

    The backbone's pretrained weights are loaded as the run loaded them, unless the run stored every tensor
    (full fine-tuning), in which case no pretrained weights are needed.
    """
    run = Path(run_dir)
    if not (run / runs.CONFIG).is_file():
        raise UserError(
            f"{str(run)!r} is not a run directory",
            str(run / runs.CONFIG),
            "pass a folder written by `vptstudy train`",
        )
    if not (run / runs.TRAINABLE).is_file():
        raise UserError(
            f"run {str(run)!r} has no stored weights",
            str(run / runs.TRAINABLE),
            "train it again without --no-save-weights",
        )
    rd = RunDir(run)
    meta = rd.meta
    run_plan = plan(rd.cfg)  # either layout: the plan resolves what the old config left open
    cfg = run_plan.resolved
    method = get_method(cfg.method)
    damaged.check_safetensors(run / runs.TRAINABLE)
    try:
        stored = load_file(str(run / runs.TRAINABLE))
        num_classes = int(meta["resolved"]["num_classes"])
    except (KeyError, TypeError, ValueError) as exc:
        raise damaged.CorruptFile(run / runs.CONFIG, f"no resolved.num_classes ({type(exc).__name__})") from None
    bare = plan(run_plan.cfg.replace(pretrained=False, weights=None))  # a run that stored all it needs
    model = build_model(bare, num_classes)
    stored = current_keys(model, stored)  # a Swin run saved while its backbone was called ``vit``
    prefix = f"{model.backbone_attr}."
    backbone_keys = {k for k in model.state_dict() if k.startswith(prefix) and not model.is_head(k)}
    if cfg.pretrained and not backbone_keys <= stored.keys():  # frozen weights come from the pretrained backbone
        model = build_model(run_plan, num_classes)
    model = method.build(model, cfg)
    own = model.state_dict()
    unknown = sorted(set(stored) - set(own))
    mismatched = sorted(k for k in stored if k in own and own[k].shape != stored[k].shape)
    if unknown or mismatched:
        raise UserError(
            f"stored tensors do not fit the rebuilt model: {(unknown + mismatched)[:3]}",
            str(run / runs.TRAINABLE),
            "the run was made by another vptstudy version; train it again",
        )
    model.load_state_dict(stored, strict=False)
    return model.to(device).eval()
