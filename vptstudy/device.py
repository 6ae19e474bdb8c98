"""Where a run computes: the device, its precision and the evaluation batch."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

import torch

from vptstudy.config import RunConfig
from vptstudy.errors import UserError

EVAL_BATCH = 256


def resolve_device(name: str) -> torch.device:
    """``auto`` picks CUDA when present; asking for CUDA without it is a user error."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise UserError(f"unknown device {name!r}", "--device", "use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise UserError("CUDA was asked for but is not available", "--device", "use --device cpu or auto")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise UserError(
            f"no CUDA device {device.index}",
            "--device",
            f"this machine has {torch.cuda.device_count()} GPU(s)",
        )
    return device


def use_bf16(cfg: RunConfig, device: torch.device) -> bool:
    """Whether the run computes in bf16: asked for, or ``auto`` on CUDA."""
    return cfg.precision == "bf16" or (cfg.precision == "auto" and device.type == "cuda")


def autocast(device: torch.device, bf16: bool) -> AbstractContextManager[Any]:
    """The forward pass's precision context: bf16 autocast, or nothing."""
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else nullcontext()


def eval_batch_size(batch_size: int) -> int:
    """The evaluation batch: the training batch, at least ``EVAL_BATCH`` (inference needs no small batches)."""
    return max(batch_size, EVAL_BATCH)
