"""One plan per run: the single place where every default of a run is resolved.

A :class:`~vptstudy.config.RunConfig` holds what the user asked for; a field left ``None`` means "the recipe's
default". :func:`plan` resolves each one, per phase and task, into a frozen :class:`RunPlan`, and everything that
trains, sweeps, benchmarks, loads or names a run reads the plan, never the raw config.

Recipes (the study's code, ChengHan111/VPT-or-FT, a fork of KMnP/vpt):

- FT: AdamW, lr grid {5e-3, 1e-3, 5e-4, 1e-4}, batch 128, 5 warm-up epochs (configs/base-finetune.yaml), backbone
  dropout 0.1 while training (the official ViT's ``dropout_rate``);
- VPT-shallow/deep, E2VPT, linear and the other frozen-backbone methods: SGD momentum 0.9, the prompt lr grid
  {50 ... 0.05}, batch 64, 10 warm-up epochs (configs/base-prompt.yaml);
- Mixed: SGD with the prompt grid (one lr for prompts and backbone), batch 64, 10 warm-up epochs, encoder in eval
  mode; FT-then-PT: the FT phase is FT's recipe, the PT phase VPT-deep's.

The optimizer and lr/wd grids of a method are data in its registry entry (:mod:`vptstudy.methods`); batch size,
warm-up and backbone dropout are the recipe table below. The lr actually used is ``base_lr * batch / 256``
(S tune_vtab.py). Warm-up epochs are given for the study's 100-epoch schedule and scale with ``--epochs``.

The run's identity (its folder name) hashes only resolved values the method reads, plus the data's identity, so
explicit and implicit defaults name one folder, FT ignores ``--prompts``, and other data never reuses a result.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vptstudy.config import LAYOUT, RunConfig
from vptstudy.errors import UserError

if TYPE_CHECKING:
    from vptstudy.methods import Method, Phase

LR_BATCH = 256  # lr = base_lr * batch_size / LR_BATCH (S tune_vtab.py:~100)
RECIPE_EPOCHS = 100  # the study's schedule; recipe warm-ups are epochs of it
DEFAULT_TEST_SUBSAMPLE = 1000  # test images evaluated per epoch for the curves
PROMPT_LENGTH_FALLBACK = 10  # tasks without a per-task length from the study's tables
PROMPT_DROPOUT = {"deep": 0.1, "shallow": 0.0}  # S README commands pass 0.1 for VPT-deep
HEAD_INIT = "official"  # K mlp.py: kaiming_normal_(fan_out) weight, bias -log((1 - 0.01) / 0.01)
SHALLOW_METHODS = ("vpt-shallow",)


@dataclass(frozen=True)
class Recipe:
    """A phase's batch size, warm-up (epochs of a ``RECIPE_EPOCHS`` schedule) and whether its encoder trains in
    train mode (then the study's backbone dropout acts)."""

    batch_size: int
    warmup_epochs: int
    trains_encoder: bool


FT_RECIPE = Recipe(batch_size=128, warmup_epochs=5, trains_encoder=True)
FROZEN_RECIPE = Recipe(batch_size=64, warmup_epochs=10, trains_encoder=False)
MIXED_RECIPE = Recipe(batch_size=64, warmup_epochs=10, trains_encoder=False)  # S vit_models.py: encoder in eval
# method -> phase -> recipe; every phase not listed follows FROZEN_RECIPE
RECIPES: dict[str, dict[str, Recipe]] = {
    "ft": {"train": FT_RECIPE},
    "mixed": {"train": MIXED_RECIPE},
    "ft-then-pt": {"ft": FT_RECIPE, "pt": FROZEN_RECIPE},
}


def recipe(method: str, phase: str) -> Recipe:
    """The recipe of one phase of a method."""
    return RECIPES.get(method, {}).get(phase, FROZEN_RECIPE)


def default_prompt_length(task: str) -> int:
    """The prompt length of ``task`` when none is given: the study's per-task length, else 10."""
    from vptstudy.data.prompt_lengths import default_prompt_length as study_length

    return study_length(task) or PROMPT_LENGTH_FALLBACK


def search_grid(method: str) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The (lr, wd) grid a sweep searches for ``method`` when a study sets none (its registry entry's)."""
    from vptstudy.methods import get_method

    m = get_method(method)
    return tuple(m.lr_grid), tuple(m.wd_grid)


def fixed_hparams(method: str) -> tuple[float, float]:
    """The (lr, wd) a fixed (unsearched) sweep unit trains ``method`` with when a study sets none."""
    from vptstudy.methods import get_method

    m = get_method(method)
    return m.default_lr, m.default_wd


@dataclass(frozen=True)
class PhasePlan:
    """One phase, resolved: optimizer, lrs, weight decay, schedule, batch and backbone dropout."""

    name: str
    optimizer: str
    base_lr: float
    lr: float
    weight_decay: float
    epochs: int
    warmup_epochs: int
    batch_size: int
    backbone_dropout: float
    searched: bool


@dataclass(frozen=True)
class RunPlan:
    """Every resolved value of one run. ``cfg`` is the request as given; ``resolved`` is it with every recipe
    default filled in (what methods read); ``num_prompts``/``prompt_dropout`` are None for methods without prompts."""

    cfg: RunConfig
    resolved: RunConfig
    phases: tuple[PhasePlan, ...]
    uses_prompts: bool
    num_prompts: int | None
    prompt_dropout: float | None
    head_init: str
    input_size: int
    test_subsample: int | None
    data_root: str | None
    data_fingerprint: str
    method_options: tuple[tuple[str, Any], ...]
    identity: str
    run_dir: Path

    @property
    def searched(self) -> PhasePlan:
        """The phase whose lr/wd the sweeps search (and name the run folder)."""
        return next(p for p in self.phases if p.searched)

    @property
    def backbone_dropout(self) -> float:
        """The dropout the backbone is built with (phases that hold the encoder in eval mode resolve to 0)."""
        return max(p.backbone_dropout for p in self.phases)

    @property
    def epochs_total(self) -> int:
        return sum(p.epochs for p in self.phases)

    def summary(self) -> dict[str, Any]:
        """The resolved values as plain data (config.json, --dry-run --json)."""
        return {
            "layout": LAYOUT,
            "task": self.cfg.task,
            "method": self.cfg.method,
            "model": self.cfg.model,
            "phases": [dataclasses.asdict(p) for p in self.phases],
            "num_prompts": self.num_prompts,
            "prompt_dropout": self.prompt_dropout,
            "backbone_dropout": self.backbone_dropout,
            "head_init": self.head_init,
            "input_size": self.input_size,
            "test_subsample": self.test_subsample,
            "data_root": self.data_root,
            "data_fingerprint": self.data_fingerprint,
            "method_options": dict(self.method_options),
            "identity": self.identity,
            "run_dir": str(self.run_dir),
        }


def method_options(method: Method, cfg: RunConfig) -> tuple[tuple[str, Any], ...]:
    """The options the method reads, the given ones over their defaults (phase lr/wd options excluded: they are
    resolved into the phases). Unknown, mistyped or inert options are a :class:`UserError` (:mod:`validate`)."""
    from vptstudy import validate

    validate.method_options(method.name, cfg.method_options)
    fixed = {f"{ph.name}_{kind}" for ph in method.phases if not ph.searched for kind in ("lr", "wd")}
    values = {**validate.method_option_defaults(method.name), **dict(cfg.method_options)}
    return tuple(sorted((k, v) for k, v in values.items() if k not in fixed))


def _number(value: Any, option: str) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise UserError(f"invalid {option} {value!r}", f"--method-option {option}", "use a number") from None


def _phase(method: Method, phase: Phase, cfg: RunConfig, model: str) -> PhasePlan:
    rec = recipe(method.name, phase.name)
    if phase.searched:
        base_lr = cfg.base_lr if cfg.base_lr is not None else method.default_lr
        wd = cfg.weight_decay if cfg.weight_decay is not None else method.default_wd
    else:
        base_lr = _number(cfg.option(f"{phase.name}_lr", phase.fixed_lr), f"{phase.name}_lr")
        wd = _number(cfg.option(f"{phase.name}_wd", phase.fixed_wd), f"{phase.name}_wd")
    batch = cfg.batch_size if cfg.batch_size is not None else rec.batch_size
    warmup = cfg.warmup_epochs if cfg.warmup_epochs is not None else rec.warmup_epochs * cfg.epochs // RECIPE_EPOCHS
    from vptstudy.models.official import study_dropout

    if rec.trains_encoder:  # the study's Swin sets no dropout (drop-path only): study_dropout gives it 0
        dropout = cfg.backbone_dropout if cfg.backbone_dropout is not None else study_dropout(model, True)
    else:
        dropout = 0.0  # the encoder is held in eval mode: no dropout can act
    return PhasePlan(
        name=phase.name,
        optimizer=phase.optimizer,
        base_lr=float(base_lr),
        lr=float(base_lr) * batch / LR_BATCH,
        weight_decay=float(wd),
        epochs=cfg.epochs,
        warmup_epochs=warmup,
        batch_size=batch,
        backbone_dropout=dropout,
        searched=phase.searched,
    )


@dataclass(frozen=True)
class DataIdentity:
    """The data a run reads: the resolved data root (None: the task brings its own data) and a cheap fingerprint of
    the folder the task reads there (names, sizes and mtimes; no file is opened)."""

    root: str | None
    fingerprint: str


def data_identity(cfg: RunConfig) -> DataIdentity:
    """The data of a run of ``cfg``. A VTAB-1k/FGVC/torchvision folder is fingerprinted by its top level (the list
    or json files and the image folders: a relabelled list or an added image folder changes it); an image folder
    (task ``folder``) by every file under it, since its files are its labels."""
    from vptstudy.data import TASKS
    from vptstudy.data.fingerprint import files_fingerprint, tree_fingerprint
    from vptstudy.data.paths import data_root

    spec = TASKS.get(cfg.task)
    if spec is None or spec.data_dir is None:  # built-in data; an unknown task fails when it loads
        return DataIdentity(None, "")
    root = str(data_root(cfg.data_root).resolve())
    folder = spec.data_dir(cfg)
    if folder is None or not folder.exists():
        return DataIdentity(root, "absent")
    if folder.is_dir() and spec.group == "custom":
        return DataIdentity(root, tree_fingerprint(folder)[1][:12])
    if folder.is_dir():
        names = sorted(n for n in os.listdir(folder) if not n.startswith("."))
        return DataIdentity(root, files_fingerprint(folder, [str(folder.resolve()), *names])[:12])
    return DataIdentity(root, files_fingerprint(folder.parent, [folder.name])[:12])


def identity_hash(values: dict[str, Any]) -> str:
    return hashlib.sha1(json.dumps(values, sort_keys=True, default=str).encode()).hexdigest()[:8]


def _fmt(value: float) -> str:
    return f"{value:g}"


def split_name(cfg: RunConfig) -> str:
    """The split component: ``tune`` / ``final``, prefixed by the data regime for sweeps (``n400-``, ``k1s3-``,
    ``k1study-s0-`` for the study's one-shot protocol)."""
    if cfg.shots is not None:
        study = "study-" if cfg.shots_protocol == "study" else ""  # the study code's train800/val200 draw
        return f"k{cfg.shots}{study}s{cfg.split_seed}-{cfg.split}"
    if cfg.train_size is not None:
        return f"n{cfg.train_size}s{cfg.split_seed}-{cfg.split}"
    return cfg.split if cfg.split_seed == 0 else f"s{cfg.split_seed}-{cfg.split}"


def plan(cfg: RunConfig) -> RunPlan:
    """Resolve every default of ``cfg``; raises :class:`UserError` for an unknown method, task or method option."""
    from vptstudy.methods import get_method
    from vptstudy.models.backbones import default_input_size

    method = get_method(cfg.method)
    options = method_options(method, cfg)
    phases = tuple(_phase(method, ph, cfg, cfg.model) for ph in method.phases)
    uses_prompts = method.uses_prompts
    num_prompts, prompt_dropout = _prompt_settings(cfg, uses_prompts)
    head_init = cfg.head_init or HEAD_INIT
    input_size = cfg.img_size or default_input_size(cfg.model)
    test_subsample = DEFAULT_TEST_SUBSAMPLE if cfg.test_subsample is None else (cfg.test_subsample or None)
    data = data_identity(cfg)
    searched = next(p for p in phases if p.searched)
    identity = _identity(
        cfg,
        input_size=input_size,
        test_subsample=test_subsample,
        phases=phases,
        prompts=[num_prompts, prompt_dropout] if uses_prompts else None,
        head_init=head_init,
        options=options,
        data=data,
    )
    resolved = cfg.replace(
        num_prompts=num_prompts if uses_prompts else 0,
        prompt_dropout=prompt_dropout if uses_prompts else 0.0,
        batch_size=searched.batch_size,
        warmup_epochs=searched.warmup_epochs,
        base_lr=searched.base_lr,
        weight_decay=searched.weight_decay,
        test_subsample=test_subsample or 0,
        backbone_dropout=max(p.backbone_dropout for p in phases),
        head_init=head_init,
    )
    return RunPlan(
        cfg=cfg,
        resolved=resolved,
        phases=phases,
        uses_prompts=uses_prompts,
        num_prompts=num_prompts,
        prompt_dropout=prompt_dropout,
        head_init=head_init,
        input_size=input_size,
        test_subsample=test_subsample,
        data_root=data.root,
        data_fingerprint=data.fingerprint,
        method_options=options,
        identity=identity,
        run_dir=_run_dir(cfg, searched, num_prompts if uses_prompts else None, identity),
    )


def _identity(
    cfg: RunConfig,
    *,
    input_size: int,
    test_subsample: int | None,
    phases: tuple[PhasePlan, ...],
    prompts: list[Any] | None,
    head_init: str,
    options: tuple[tuple[str, Any], ...],
    data: DataIdentity,
) -> str:
    """The hash of everything that makes a run differ (its run folder's last part)."""
    return identity_hash(
        {
            "layout": LAYOUT,
            "task": cfg.task,
            "method": cfg.method,
            "model": cfg.model,
            "pretrained": cfg.pretrained,
            "weights": cfg.weights,
            "input_size": input_size,
            "split": cfg.split,
            "train_size": cfg.train_size,
            "shots": cfg.shots,
            # only when not the default, so that draws-mode run folders keep their names
            **({"shots_protocol": cfg.shots_protocol} if cfg.shots_protocol != "draws" else {}),
            "split_seed": cfg.split_seed,
            "test_subsample": test_subsample,
            "precision": cfg.precision,
            "phases": [dataclasses.asdict(p) for p in phases],
            "prompts": prompts,
            "head_init": head_init,
            "method_options": dict(options),
            "data": [data.root, data.fingerprint],
            **_weights_content(cfg),
            **({} if cfg.normalize == "imagenet" else {"normalize": cfg.normalize}),  # default: hash unchanged
        }
    )


def _weights_content(cfg: RunConfig) -> dict[str, str]:
    """The sha256 of the weight file the backbone loads (none for hub weights or a random init)."""
    from vptstudy.digests import file_sha256, weights_file

    path = weights_file(cfg.model, cfg.pretrained, cfg.weights)
    digest = file_sha256(path) if path is not None else None
    return {"weights_sha256": digest} if digest else {}


def _prompt_settings(cfg: RunConfig, uses_prompts: bool) -> tuple[int | None, float | None]:
    """The prompt length and prompt dropout (the paper's defaults unless given); both None without prompts."""
    if not uses_prompts:
        return None, None
    num_prompts = cfg.num_prompts if cfg.num_prompts is not None else default_prompt_length(cfg.task)
    mode = "shallow" if cfg.method in SHALLOW_METHODS else "deep"
    return num_prompts, cfg.prompt_dropout if cfg.prompt_dropout is not None else PROMPT_DROPOUT[mode]


def _run_dir(cfg: RunConfig, searched: PhasePlan, num_prompts: int | None, identity: str) -> Path:
    """out/<study>/<task>/<method>/<split>/lr..-wd..[-p<prompts>]-<identity>/seed<seed>."""
    parts = [f"lr{_fmt(searched.base_lr)}", f"wd{_fmt(searched.weight_decay)}"]
    if num_prompts is not None:
        parts.append(f"p{num_prompts}")
    return (
        Path(cfg.out_dir)
        / cfg.study
        / cfg.task
        / cfg.method
        / split_name(cfg)
        / "-".join([*parts, identity])
        / f"seed{cfg.seed}"
    )


def resolved_config(cfg: RunConfig) -> RunConfig:
    """``cfg`` with every recipe default filled in: itself when already resolved (``plan(cfg).resolved``)."""
    open_fields = (cfg.num_prompts, cfg.prompt_dropout, cfg.batch_size, cfg.warmup_epochs, cfg.base_lr)
    return plan(cfg).resolved if any(v is None for v in open_fields) else cfg


def as_plan(run: RunConfig | RunPlan) -> RunPlan:
    """A run's plan: resolved once at an entry point and passed on as it is."""
    return run if isinstance(run, RunPlan) else plan(run)
