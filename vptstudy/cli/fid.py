"""``vptstudy fid``: Frechet distance between pretraining data and each task's data."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vptstudy.cli.option_groups import option_group
from vptstudy.config import PAPER_MODEL

if TYPE_CHECKING:
    from vptstudy.fid.compute import FidRequest


@dataclass(frozen=True)
class FidOptions:
    """The options of ``vptstudy fid`` (an option group: see :mod:`~vptstudy.cli.option_groups`)."""

    reference: Annotated[
        str, typer.Option(help="Pretraining data: image folder (recursive), list file, .npz (mu/sigma), toy-upstream.")
    ]
    task: Annotated[list[str] | None, typer.Option("--task", help="Task to measure (repeatable).")] = None
    split: Annotated[
        str, typer.Option(help="trainval (the tuning data, train800val200: default), train, val or test.")
    ] = "trainval"
    features: Annotated[str, typer.Option(help="inception (pytorch-fid pool3) or backbone (pre-logits).")] = "inception"
    model: Annotated[str, typer.Option(help="Backbone for --features backbone (timm ViT or toy-vit).")] = PAPER_MODEL
    weights: Annotated[Path | None, typer.Option(help="Local backbone weights for --features backbone.")] = None
    img_size: Annotated[int | None, typer.Option(help="Backbone input size (default: the backbone's).")] = None
    inception_weights: Annotated[
        Path | None, typer.Option(help="pt_inception-2015-12-05-6726825d.pth (default: the torch hub cache).")
    ] = None
    max_images: Annotated[int | None, typer.Option(help="Seeded sample cap per image set.")] = None
    seed: Annotated[int, typer.Option(help="Seed of the --max-images sample.")] = 0
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 50
    data_root: Annotated[Path | None, typer.Option(help="Data folder for the tasks.")] = None
    save_stats: Annotated[Path | None, typer.Option(help="Write the reference statistics to this .npz.")] = None
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Let --save-stats replace a file.")] = False
    cache_dir: Annotated[Path | None, typer.Option(help="Cache root (statistics go to <dir>/fid).")] = None
    cache: Annotated[bool, typer.Option(help="Read and write cached statistics.")] = True
    refresh: Annotated[bool, typer.Option("--refresh", help="Recompute cached statistics.")] = False
    sqrtm: Annotated[str, typer.Option(help="eigh (fast, stable) or sqrtm (pytorch-fid's scipy sqrtm).")] = "eigh"
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto"
    out: Annotated[list[Path] | None, typer.Option("--out", help="Write rows to .csv / .json (repeatable).")] = None

    def request(self) -> FidRequest:
        """What to measure, as :func:`vptstudy.fid.compute.compute_fid` takes it."""
        from vptstudy.fid.compute import FidRequest

        return FidRequest(
            reference=self.reference,
            tasks=tuple(self.task or ()),
            split=self.split,
            features=self.features,
            model=self.model,
            weights=str(self.weights) if self.weights else None,
            img_size=self.img_size,
            inception_weights=str(self.inception_weights) if self.inception_weights else None,
            max_images=self.max_images,
            seed=self.seed,
            batch_size=self.batch_size,
            data_root=str(self.data_root) if self.data_root else None,
            cache_dir=str(self.cache_dir) if self.cache_dir else None,
            use_cache=self.cache,
            refresh=self.refresh,
            save_stats=str(self.save_stats) if self.save_stats else None,
            overwrite=self.overwrite,
            device=self.device,
            sqrtm=self.sqrtm,
        )


@option_group(FidOptions, "opts")
def fid(opts: FidOptions) -> None:
    """Fréchet distance between pretraining data and each task's data (paper section 4.3), cached per set."""
    from vptstudy.console import console, make_progress
    from vptstudy.console import out as stdout
    from vptstudy.fid.compute import compute_fid
    from vptstudy.fid.report import check_out_paths, fid_table, write_outputs

    outs = check_out_paths(list(opts.out or []))
    req = opts.request()
    progress, bars = make_progress(), {}

    def update(label: str, done: int, total: int) -> None:
        if not bars:
            progress.start()  # only once images are read: errors and cache hits print no empty bar
        if label not in bars:
            bars[label] = progress.add_task(label, total=total, info="")
        progress.update(bars[label], completed=done, total=total)

    try:
        result = compute_fid(req, update)
    finally:
        if bars:
            progress.stop()
    if result.rows:
        stdout.print(fid_table(result))
    if result.saved_stats:
        stdout.print(f"wrote reference statistics {result.saved_stats}", soft_wrap=True)
    for path in write_outputs(result, outs):
        stdout.print(f"wrote {path}", soft_wrap=True)
    console.print(f"[dim]{result.seconds:.1f}s[/]")
