"""The options of a sweep's ``[run]`` table (--model ... --halving), declared once and added to ``sweep-datasize``
and ``sweep-oneshot`` by :func:`with_sweep_run`; the command receives them as one :class:`SweepRunOptions`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from vptstudy.cli.option_groups import option_group
from vptstudy.cli.options import LoggerOpt, NormalizeOpt
from vptstudy.config import PAPER_MODEL


@dataclass(frozen=True)
class SweepRunOptions:
    """What every run of a sweep shares, as typed on the command line."""

    model: Annotated[str, typer.Option("--model", help="Backbone.")] = PAPER_MODEL
    pretrained: Annotated[bool, typer.Option("--pretrained/--no-pretrained", help="Load pretrained weights.")] = True
    epochs: Annotated[int, typer.Option("--epochs", help="Epochs per phase.")] = 100
    batch_size: Annotated[int | None, typer.Option("--batch-size", help="Batch size (default: the recipe's).")] = None
    img_size: Annotated[int | None, typer.Option("--img-size", help="Input size.")] = None
    data_root: Annotated[Path | None, typer.Option("--data-root", help="Data folder.")] = None
    download: Annotated[bool, typer.Option("--download", help="Let torchvision download full datasets.")] = False
    cache_dir: Annotated[Path | None, typer.Option("--cache-dir", help="Folder of decoded-image caches.")] = None
    out_dir: Annotated[Path, typer.Option("--out-dir", help="Root folder of run directories.")] = Path("runs")
    logger: LoggerOpt = None
    normalize: NormalizeOpt = "imagenet"
    halving: Annotated[bool, typer.Option("--halving", help="Search by successive halving (rungs 10,30; eta 3).")] = (
        False
    )

    def table(self) -> dict[str, Any]:
        """The study's ``[run]`` table these options stand for (None: not given)."""
        return {
            "search": "halving" if self.halving else None,
            "model": self.model,
            "pretrained": self.pretrained,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "img_size": self.img_size,
            "data_root": str(self.data_root) if self.data_root else None,
            "out_dir": str(self.out_dir),
            "download": self.download,
            "cache_dir": str(self.cache_dir) if self.cache_dir else None,
            "logger": self.logger,
            "normalize": self.normalize,
        }


with_sweep_run = option_group(SweepRunOptions, "run")
