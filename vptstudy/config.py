"""Typed, frozen run configuration and the paper's protocol defaults."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from vptstudy import validate
from vptstudy.errors import UserError

PAPER_MODEL = "vit_base_patch16_224.orig_in21k"
FINAL_SEEDS = (42, 44, 82, 100, 800)
SPLITS = ("tune", "final")
MAX_PROMPTS = 4096  # far above the study's 200; a typo like 100000000 would otherwise allocate hundreds of GB
PRECISIONS = ("auto", "fp32", "bf16")
LOGGERS = ("tensorboard", "wandb")  # vptstudy.loggers
NORMALIZE = ("imagenet", "backbone")  # vptstudy.normalize: ImageNet mean/std, or the backbone's timm cfg

HEAD_INITS = ("official", "timm")
LAYOUT = 2  # run-folder layout: 1 hashed the raw config, 2 hashes the resolved plan (vptstudy.plan)
SHOTS_PROTOCOLS = ("draws", "study")


@dataclass(frozen=True)
class RunConfig:
    """Everything one training run asks for, as given. A field left ``None`` means "the recipe's default": only
    :func:`vptstudy.plan.plan` resolves it (per method, phase and task), so never read such a field directly.

    ``epochs`` counts the epochs of each phase (FT-then-PT runs ``2 * epochs`` in all); ``test_subsample`` 0
    evaluates the whole test set every epoch. A resumable checkpoint is written at the end of an epoch when
    ``checkpoint_every`` epochs and ``checkpoint_minutes`` minutes have passed since the last one (or the start):
    a ViT-B/16 FT checkpoint (weights + AdamW state) is about 1 GB, more than a GPU epoch of VTAB-1k takes.
    ``shots_protocol`` says how ``shots`` images per class are drawn: ``draws`` (a seeded draw from the pool per
    ``split_seed``) or ``study`` (the study's code: from VTAB-1k's train800 for train and val200 for val, and a
    fresh ``2 * shots`` per class from train800val200 for the final runs; see ``data.splits.study_kshot``).
    """

    task: str
    method: str
    model: str = PAPER_MODEL
    pretrained: bool = True
    weights: str | None = None
    img_size: int | None = None
    num_prompts: int | None = None
    prompt_dropout: float | None = None
    epochs: int = 100
    warmup_epochs: int | None = None
    batch_size: int | None = None
    base_lr: float | None = None
    weight_decay: float | None = None
    seed: int = 42
    split: str = "tune"
    train_size: int | None = None
    shots: int | None = None
    shots_protocol: str = "draws"
    split_seed: int = 0
    test_subsample: int | None = None
    data_root: str | None = None
    download: bool = False
    cache_dir: str | None = None
    device: str = "auto"
    precision: str = "auto"
    compile: bool = False
    out_dir: str = "runs"
    study: str = "adhoc"
    save_weights: bool = True
    checkpoint_every: int = 1
    checkpoint_minutes: float = 5.0
    backbone_dropout: float | None = None
    head_init: str | None = None
    method_options: tuple[tuple[str, Any], ...] = field(default=())
    rungs: tuple[int, ...] = ()  # tuning runs evaluate val here (epochs of 100; empty: vptstudy.rungs defaults)
    stop_epoch: int | None = None  # successive halving: pause at this global epoch (not part of the run's identity)
    logger: str | None = None  # experiment tracker fed each epoch: tensorboard or wandb (vptstudy.loggers)
    normalize: str = "imagenet"  # input mean/std: imagenet (the paper's) or backbone (timm cfg; vptstudy.normalize)

    def __post_init__(self) -> None:
        validate_run_config(self)

    def replace(self, **changes: Any) -> RunConfig:
        """A copy with some fields changed (validated again)."""
        return dataclasses.replace(self, **changes)

    def option(self, name: str, default: Any = None) -> Any:
        """A method-specific option (``method_options``), or ``default``."""
        return dict(self.method_options).get(name, default)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["method_options"] = dict(self.method_options)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], layout: int = LAYOUT) -> RunConfig:
        """A config from ``to_dict``'s output; ``layout`` 1 reads run folders written before plans existed."""
        if layout < 2 and data.get("test_subsample", 0) is None:
            data = {**data, "test_subsample": 0}  # layout 1 wrote None for "the whole test set"
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise UserError(f"unknown run config keys {unknown}", "config", f"allowed keys: {sorted(known)}")
        data = dict(data)
        data["method_options"] = tuple(sorted(dict(data.get("method_options") or {}).items()))
        data["rungs"] = tuple(data.get("rungs") or ())
        return cls(**data)


def validate_run_config(cfg: RunConfig) -> None:
    """Check value ranges; raise :class:`UserError` naming the option and the allowed values."""

    for option, number in (
        ("--lr", cfg.base_lr),
        ("--wd", cfg.weight_decay),
        ("--prompt-dropout", cfg.prompt_dropout),
        ("--checkpoint-minutes", cfg.checkpoint_minutes),
    ):
        validate.finite(number, option)
    validate.seed(cfg.seed, "--seed")
    validate.seed(cfg.split_seed, "--split-seed")
    validate.folder_name(cfg.study, "--study")  # the first run-directory level: must not climb out of --out-dir
    _check_schedule(cfg)
    _check_data_and_run(cfg)


def _bad(option: str, value: Any, fix: str) -> UserError:
    return UserError(f"invalid {option} {value!r}", option, fix)


def _check_schedule(cfg: RunConfig) -> None:
    """Epochs, warm-up, batch, lr, wd, prompts and image size."""
    if cfg.epochs < 1:
        raise _bad("--epochs", cfg.epochs, "use at least 1 epoch")
    if cfg.warmup_epochs is not None and not 0 <= cfg.warmup_epochs < cfg.epochs:
        raise _bad("--warmup-epochs", cfg.warmup_epochs, f"use 0 to {cfg.epochs - 1} (fewer than --epochs)")
    if cfg.batch_size is not None and cfg.batch_size < 1:
        raise _bad("--batch-size", cfg.batch_size, "use a positive batch size")
    if cfg.base_lr is not None and not cfg.base_lr > 0:
        raise _bad("--lr", cfg.base_lr, "the learning rate must be > 0")
    if cfg.weight_decay is not None and cfg.weight_decay < 0:
        raise _bad("--wd", cfg.weight_decay, "weight decay must be >= 0")
    if cfg.num_prompts is not None and not 0 <= cfg.num_prompts <= MAX_PROMPTS:
        fix = f"use a prompt length from 0 to {MAX_PROMPTS} (the study's longest: 200)"
        raise _bad("--prompts", cfg.num_prompts, fix)
    if cfg.prompt_dropout is not None and not 0 <= cfg.prompt_dropout < 1:
        raise _bad("--prompt-dropout", cfg.prompt_dropout, "use a probability in [0, 1)")
    if cfg.img_size is not None and cfg.img_size < 1:
        raise _bad("--img-size", cfg.img_size, "use a positive image size")


def _check_data_and_run(cfg: RunConfig) -> None:
    """The data regime, precision, checkpoints, logging, test subsample, rungs and head init."""
    if cfg.split not in SPLITS:
        raise _bad("--split", cfg.split, f"use one of {', '.join(SPLITS)}")
    if cfg.precision not in PRECISIONS:
        raise _bad("--precision", cfg.precision, f"use one of {', '.join(PRECISIONS)}")
    if cfg.train_size is not None and cfg.train_size < 1:
        raise _bad("--train-size", cfg.train_size, "use a positive number of training images")
    if cfg.shots is not None and cfg.shots < 1:
        raise _bad("--shots", cfg.shots, "use at least 1 image per class")
    if cfg.shots_protocol not in SHOTS_PROTOCOLS:
        raise _bad("--shots-protocol", cfg.shots_protocol, f"use one of {', '.join(SHOTS_PROTOCOLS)}")
    if cfg.shots_protocol == "study" and cfg.shots is None:
        raise _bad("--shots-protocol", cfg.shots_protocol, "the study's k-shot protocol needs --shots (e.g. 1)")
    if cfg.checkpoint_every < 0:
        raise _bad("--checkpoint-every", cfg.checkpoint_every, "use 0 (never) or a number of epochs")
    if not cfg.checkpoint_minutes >= 0:
        raise _bad("--checkpoint-minutes", cfg.checkpoint_minutes, "use 0 (every epoch) or a number of minutes")
    if cfg.normalize not in NORMALIZE:
        raise _bad("--normalize", cfg.normalize, f"use one of {', '.join(NORMALIZE)}")
    if cfg.logger is not None and cfg.logger not in LOGGERS:
        raise _bad("--logger", cfg.logger, f"use one of {', '.join(LOGGERS)}")
    if cfg.test_subsample is not None and cfg.test_subsample < 0:
        raise _bad("--test-subsample", cfg.test_subsample, "use a positive count, or 0 for the whole test set")
    if cfg.backbone_dropout is not None and not 0 <= cfg.backbone_dropout < 1:
        raise _bad("--backbone-dropout", cfg.backbone_dropout, "use a probability in [0, 1)")
    if any(not isinstance(r, int) or r < 1 for r in cfg.rungs):
        raise _bad("--rungs", list(cfg.rungs), "use positive epochs of the 100-epoch schedule, e.g. 10,30")
    if cfg.stop_epoch is not None and cfg.stop_epoch < 1:
        raise _bad("stop_epoch", cfg.stop_epoch, "use a positive epoch")
    if cfg.head_init is not None and cfg.head_init not in HEAD_INITS:
        raise _bad("--head-init", cfg.head_init, f"use one of {', '.join(HEAD_INITS)}")
