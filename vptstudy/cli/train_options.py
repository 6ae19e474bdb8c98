"""The options of ``vptstudy train``, as two option groups (:mod:`~vptstudy.cli.option_groups`): one run's
(:class:`TrainRunOptions`, which build its :class:`~vptstudy.config.RunConfig`) and the search's
(:class:`SearchOptions`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from vptstudy.cli.option_groups import option_group
from vptstudy.cli.options import LoggerOpt, NormalizeOpt, ints, method_options
from vptstudy.config import PAPER_MODEL, RunConfig


@dataclass(frozen=True)
class TrainRunOptions:
    """One run, as typed on the command line (``task`` and ``method`` are required)."""

    task: Annotated[str, typer.Option(help="Task name (see `vptstudy tasks`), e.g. toy/digits.")]
    method: Annotated[str, typer.Option(help="A registered method (listed by --help).")]
    model: Annotated[str, typer.Option(help="timm ViT or Swin name (with pretrained tag) or toy-vit.")] = PAPER_MODEL
    pretrained: Annotated[bool, typer.Option(help="Load the backbone's pretrained weights.")] = True
    weights: Annotated[
        Path | None, typer.Option(help="Local .safetensors/.pth/.npz backbone weights (MAE; MoCo v3 .pth.tar).")
    ] = None
    img_size: Annotated[int | None, typer.Option(help="Input size (default: the backbone's).")] = None
    prompts: Annotated[
        int | None, typer.Option("--prompts", help="Prompt length p (default: the task's, else 10).")
    ] = None
    prompt_dropout: Annotated[float | None, typer.Option(help="Default 0.1 deep, 0.0 shallow.")] = None
    epochs: Annotated[int, typer.Option(help="Epochs per phase (FT-then-PT runs two phases).")] = 100
    warmup_epochs: Annotated[
        int | None, typer.Option(help="Linear warm-up epochs (default: FT 5, others 10, per 100 epochs).")
    ] = None
    batch_size: Annotated[
        int | None, typer.Option(help="Batch size (default: FT 128, others 64); lr = base lr * batch / 256.")
    ] = None
    lr: Annotated[float | None, typer.Option("--lr", help="Base lr (default: the method's).")] = None
    wd: Annotated[float | None, typer.Option("--wd", help="Weight decay (default: the method's).")] = None
    method_option: Annotated[
        list[str] | None, typer.Option("--method-option", help="Method option KEY=VALUE (repeatable), e.g. rank=8.")
    ] = None
    seed: Annotated[int, typer.Option(help="Training seed.")] = 42
    split: Annotated[str, typer.Option(help="tune (train800 -> val200) or final (train800val200 -> test).")] = "tune"
    train_size: Annotated[int | None, typer.Option(help="Train size N (val N/4), data-size regime.")] = None
    shots: Annotated[int | None, typer.Option(help="k images per class for train and val.")] = None
    shots_protocol: Annotated[
        str, typer.Option(help="How --shots draws: draws (seeded, from the pool) or study (train800/val200).")
    ] = "draws"
    split_seed: Annotated[int, typer.Option(help="Seed of the data split.")] = 0
    test_subsample: Annotated[
        int | None, typer.Option(help="Test images per epoch for curves (default 1000; 0: all).")
    ] = None
    backbone_dropout: Annotated[
        float | None, typer.Option(help="Backbone dropout where the encoder trains (default 0.1 FT, else 0).")
    ] = None
    head_init: Annotated[str | None, typer.Option(help="official (kaiming fan_out, the study's; default) or timm.")] = (
        None
    )
    data_root: Annotated[Path | None, typer.Option(help="Data folder (default: $VPTSTUDY_DATA or ./data).")] = None
    download: Annotated[bool, typer.Option("--download", help="Fetch a missing torchvision dataset.")] = False
    cache_dir: Annotated[Path | None, typer.Option(help="Tensor cache folder (default: next to the data).")] = None
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto"
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA), fp32 or bf16.")] = "auto"
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False
    checkpoint_minutes: Annotated[
        float, typer.Option(help="Resumable checkpoint at an epoch's end once this many minutes passed (0: every).")
    ] = 5.0
    normalize: NormalizeOpt = "imagenet"
    logger: LoggerOpt = None
    out_dir: Annotated[Path, typer.Option(help="Root folder of run directories.")] = Path("runs")
    study: Annotated[str, typer.Option(help="Study name (first run-directory level).")] = "adhoc"

    def config(self, rungs: str | None) -> RunConfig:
        """The run's RunConfig (``rungs``: the search group's ``--rungs``, which tuning runs also read)."""
        return RunConfig(
            task=self.task,
            method=self.method,
            model=self.model,
            pretrained=self.pretrained,
            weights=str(self.weights) if self.weights else None,
            img_size=self.img_size,
            num_prompts=self.prompts,
            prompt_dropout=self.prompt_dropout,
            epochs=self.epochs,
            warmup_epochs=self.warmup_epochs,
            batch_size=self.batch_size,
            base_lr=self.lr,
            weight_decay=self.wd,
            seed=self.seed,
            split=self.split,
            train_size=self.train_size,
            shots=self.shots,
            shots_protocol=self.shots_protocol,
            split_seed=self.split_seed,
            test_subsample=self.test_subsample,
            backbone_dropout=self.backbone_dropout,
            head_init=self.head_init,
            data_root=str(self.data_root) if self.data_root else None,
            download=self.download,
            cache_dir=str(self.cache_dir) if self.cache_dir else None,
            device=self.device,
            precision=self.precision,
            compile=self.compile,
            checkpoint_minutes=self.checkpoint_minutes,
            out_dir=str(self.out_dir),
            study=self.study,
            method_options=method_options(self.method_option),
            logger=self.logger,
            normalize=self.normalize,
            rungs=ints(rungs, "--rungs") or (),
        )


@dataclass(frozen=True)
class SearchOptions:
    """``--search`` and what it reads (``--rungs`` also sets a tuning run's val epochs)."""

    search: Annotated[
        str | None,
        typer.Option(help="'grid': lr x wd on val, then final seeds; 'halving': successive halving of that grid."),
    ] = None
    rungs: Annotated[
        str | None, typer.Option(help="Halving rungs / tuning val epochs, in epochs of 100 (default 10,30).")
    ] = None
    eta: Annotated[int, typer.Option(help="Halving: the top 1/eta continue at each rung.")] = 3
    lrs: Annotated[str | None, typer.Option(help="Search: base lrs, e.g. 1,0.5 (default: method's grid).")] = None
    wds: Annotated[str | None, typer.Option(help="Search: weight decays (default: the paper's grid).")] = None
    seeds: Annotated[str | None, typer.Option(help="Search: final seeds (default 42,44,82,100,800).")] = None


with_train_run = option_group(TrainRunOptions, "run")
with_search = option_group(SearchOptions, "searching")
