"""Checks shared by the command line and study files, run before any work: finite numbers, seed range, known
model, available device, known method options of the right type.

Each raises a :class:`UserError` whose ``where`` is the command-line option; a study re-labels it with its key.
"""

from __future__ import annotations

import math
import re
from types import SimpleNamespace
from typing import Any

from vptstudy.errors import UserError

SEED_LIMIT = 2**63  # torch and numpy seeds: [0, 2^63)


def finite(value: float | None, option: str) -> None:
    """Raise when ``value`` is inf or nan (None passes: the default applies)."""
    if value is not None and not math.isfinite(value):
        raise UserError(f"invalid {option} {value!r}", option, "use a finite number")


def seed(value: int, option: str = "--seed") -> None:
    """Raise when a seed lies outside [0, 2^63)."""
    if not 0 <= value < SEED_LIMIT:
        raise UserError(f"invalid {option} {value}", option, "use a seed in [0, 2^63), e.g. 42")


FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")  # one safe folder name: no '/', no '..', no leading dot


def folder_name(value: str, option: str) -> None:
    """Raise unless ``value`` is one safe path component (a study name is the first run-directory level)."""
    if not isinstance(value, str) or not FOLDER_NAME.fullmatch(value):
        raise UserError(
            f"invalid {option} {value!r}",
            option,
            "use one folder name (letters, digits, . _ -, not starting with a dot), for example vtab1k",
        )


def method_option_defaults(method: str) -> dict[str, Any]:
    """Every option ``method`` reads, with its default (whose type the given value must have)."""
    from vptstudy.methods import adapter, e2vpt, get_method, lora, mlp_k, partial_k

    own = {
        "adapter": adapter.OPTIONS,
        "e2vpt": e2vpt.OPTIONS,
        "e2vpt-prune": e2vpt.PRUNE_OPTIONS,
        "lora": lora.OPTIONS,
        "mlp-k": mlp_k.OPTIONS,
        "partial-k": partial_k.OPTIONS,
    }.get(method, {})
    phases: dict[str, Any] = {}
    for phase in get_method(method).phases:
        if not phase.searched:  # its lr/wd come from options <phase>_lr / <phase>_wd
            phases[f"{phase.name}_lr"], phases[f"{phase.name}_wd"] = float(phase.fixed_lr), float(phase.fixed_wd)
    return {**own, **phases}


def method_options(method: str, options: tuple[tuple[str, Any], ...]) -> None:
    """Raise for an option ``method`` does not read or that cannot act (``Method.inert_options``), or a value of the
    wrong type or not finite."""
    from vptstudy.methods import get_method
    from vptstudy.methods.option_values import method_options as coerce

    inert = get_method(method).inert_options
    for key, value in options:
        if key in inert:
            raise UserError(
                f"method option {key!r} cannot act for method {method}: {inert[key]}",
                "--method-option",
                f"remove {key}={value}",
            )

    values = coerce(SimpleNamespace(method=method, method_options=options), method_option_defaults(method))
    for key, value in values.items():
        if isinstance(value, float) and not math.isfinite(value):
            raise UserError(f"method option {key}={value} of {method} is not finite", "--method-option", "use a number")


def model(name: str) -> None:
    """Raise for a model name neither timm nor the embedded toy backbones know."""
    from vptstudy.models.backbones import _check_model_name

    _check_model_name(name)


def device(name: str) -> None:
    """Raise for a device that does not exist here (``cuda`` without CUDA, ``cuda:3`` on a 1-GPU machine)."""
    from vptstudy.device import resolve_device

    resolve_device(name)


def gpus(ids: tuple[int, ...]) -> None:
    """Raise when ``--gpus`` names GPUs this machine does not have (any, without CUDA)."""
    if not ids:
        return
    import torch

    if not torch.cuda.is_available():
        raise UserError(
            f"--gpus {','.join(map(str, ids))} asks for CUDA, which is not available",
            "--gpus",
            "leave out --gpus to run on the CPU (--workers N)",
        )
    count = torch.cuda.device_count()
    bad = [i for i in ids if not 0 <= i < count]
    if bad:
        raise UserError(f"no CUDA device {bad[0]}", "--gpus", f"this machine has GPUs 0..{count - 1}")


def run_config(cfg: Any) -> None:
    """Everything above for one run's config (RunConfig checks its own ranges on construction)."""
    model(cfg.model)
    device(cfg.device)
    method_options(cfg.method, cfg.method_options)
