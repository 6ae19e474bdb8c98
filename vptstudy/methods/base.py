"""What a tuning method is: its phases, optimizer and default hyper-parameter grid.

A method declares which parameters train (torchtune style): each phase's ``prepare`` adds whatever the method
needs to the model (prompts, adapters, ...) and marks exactly the trainable parameters with ``requires_grad``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

import torch
from torch import nn

from vptstudy.config import RunConfig
from vptstudy.models.tunable import TunableBackbone
from vptstudy.plan import resolved_config

# Paper section 4.1 / official VPT code: SGD grid for prompt and linear methods, AdamW grid for full tuning.
SGD_LR_GRID = (50.0, 25.0, 10.0, 5.0, 2.5, 1.0, 0.5, 0.25, 0.1, 0.05)
ADAMW_LR_GRID = (0.005, 0.001, 0.0005, 0.0001)
WD_GRID = (0.01, 0.001, 0.0001, 0.0)

Prepare = Callable[[TunableBackbone, RunConfig, torch.Generator], None]


@dataclass(frozen=True)
class Phase:
    """One training phase: ``prepare`` makes the model ready, then ``cfg.epochs`` epochs with ``optimizer``.

    A phase with ``searched=False`` takes its lr/wd from the method options ``<name>_lr``/``<name>_wd`` (or the
    method's fixed defaults) rather than from the searched ``base_lr``/``weight_decay``. With ``borrow`` set to a
    method's name, a study that also runs that method on the same task and data regime passes that method's chosen
    lr/wd as those options (unless the study sets them itself).
    """

    name: str
    optimizer: str
    prepare: Prepare
    searched: bool = True
    fixed_lr: float = 0.0005
    fixed_wd: float = 0.001
    borrow: str | None = None


@dataclass(frozen=True)
class Method:
    """A tuning method: its phases and its default lr/wd grid (for the searched phase)."""

    name: str
    summary: str
    phases: tuple[Phase, ...]
    lr_grid: tuple[float, ...]
    wd_grid: tuple[float, ...]
    default_lr: float
    default_wd: float
    uses_prompts: bool = False
    inert_options: Mapping[str, str] = field(default_factory=dict)  # options that cannot act here, and why

    @property
    def optimizer(self) -> str:
        """The optimizer of the searched phase."""
        return next(p.optimizer for p in self.phases if p.searched)

    def build(
        self, model: TunableBackbone, cfg: RunConfig, generator: torch.Generator | None = None
    ) -> TunableBackbone:
        """Apply every phase's structure (used to rebuild a finished run's model)."""
        gen = generator or torch.Generator().manual_seed(cfg.seed)
        cfg = resolved_config(cfg)
        for phase in self.phases:
            phase.prepare(model, cfg, gen)
        return model

    def check(self, model: TunableBackbone, cfg: RunConfig) -> None:
        """Build the method on a throwaway copy of ``model``, leaving the global RNG as it was: an unsupported
        backbone or a bad method option raises its :class:`UserError` here, before a run writes anything."""
        with torch.random.fork_rng(devices=[]):
            self.build(copy.deepcopy(model), cfg)


def is_prompt(name: str) -> bool:
    return name == "prompt" or name.startswith("prompt.") or ".prompt" in name


def train_all(model: TunableBackbone) -> None:
    model.set_trainable(lambda name, param: True, frozen_eval=False)


def train_all_encoder_eval(model: TunableBackbone) -> None:
    """Every parameter trains, but the backbone stays in eval mode (no dropout, no drop-path): Mixed."""
    model.set_trainable(lambda name, param: True, frozen_eval=True)


def train_head_and_prompts(model: TunableBackbone) -> None:
    model.set_trainable(lambda name, param: model.is_head(name) or is_prompt(name), frozen_eval=True)


def train_head_and(model: TunableBackbone, names: Collection[str]) -> None:
    """Frozen backbone (held in eval mode); the head and the parameters ``names`` train."""
    model.set_trainable(lambda name, param: model.is_head(name) or name in names, frozen_eval=True)


def add_prompts(model: TunableBackbone, cfg: RunConfig, mode: str, gen: torch.Generator) -> None:
    """Add the plan's prompts (length and dropout resolved by :func:`vptstudy.plan.plan`)."""
    cfg = resolved_config(cfg)
    model.add_prompts(cfg.num_prompts, mode, cfg.prompt_dropout, generator=gen)


def count_parameters(model: nn.Module) -> tuple[int, int]:
    """(trainable, total) parameter counts; total counts every parameter of the tuned model."""
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return trainable, total
