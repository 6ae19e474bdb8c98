"""A tiny ViT under each method: the model after a method's phases (structure only) and a fixed batch."""

from __future__ import annotations

import torch
from torch import nn

from tests.conftest import tiny_vit
from vptstudy.config import RunConfig
from vptstudy.methods import get_method
from vptstudy.models.prompts import PromptedViT

# tiny_vit: 32x32 input, patch 8, width 32, depth 2, 10 classes
DIM, DEPTH, CLASSES, PATCH = 32, 2, 10, 8
HEAD = DIM * CLASSES + CLASSES
X = torch.randn(4, 3, 32, 32, generator=torch.Generator().manual_seed(1))
Y = torch.tensor([0, 1, 2, 3])
# train options of a short CLI run on timm's test_vit
TINY = ["--model", "test_vit", "--no-pretrained", "--img-size", "32", "--batch-size", "64", "--test-subsample", "64"]


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
