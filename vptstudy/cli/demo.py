"""``vptstudy demo`` (the embedded mini-study) and ``vptstudy pretrain-toy`` (its backbone)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from vptstudy.cli.options import old_name, renamed


def pretrain_toy(
    steps: Annotated[int, typer.Option(help="Optimizer steps; each draws a fresh batch.")] = 7000,
    batch_size: Annotated[int, typer.Option(help="Images per step.")] = 64,
    lr: Annotated[float, typer.Option("--lr", help="Peak AdamW learning rate.")] = 1e-3,
    wd: Annotated[float, typer.Option("--wd", help="AdamW weight decay (weight matrices).")] = 0.05,
    warmup_steps: Annotated[
        int | None, typer.Option(help="Linear warm-up steps before cosine decay (default: 5% of --steps).")
    ] = None,
    seed: Annotated[int, typer.Option(help="Seed of the initialisation and the image stream.")] = 0,
    eval_images: Annotated[int, typer.Option(help="Held-out upstream images for the final accuracy.")] = 2000,
    threads: Annotated[int | None, typer.Option(help="CPU threads (default: torch's); 1 suits a busy CPU.")] = None,
    out_dir: Annotated[Path | None, typer.Option(help="Output folder (default: the package's assets/).")] = None,
    init: Annotated[
        Path | None, typer.Option(help="Continue from these weights (a later stage; its card records every stage).")
    ] = None,
    scenes: Annotated[
        bool,
        typer.Option(
            "--scenes",
            help="Half of each batch multi-object scenes: also learn which pairs a scene holds and each patch's "
            "pixels (auxiliary heads, not saved).",
        ),
    ] = False,
    old_out: Annotated[Path | None, old_name("--out")] = None,
) -> None:
    """Pretrain the embedded toy ViT (--model toy-vit) on synthetic shapes; write its weights and JSON card."""
    from vptstudy.console import console, make_progress
    from vptstudy.models.toy import ASSETS
    from vptstudy.pretrain import PretrainConfig
    from vptstudy.pretrain import pretrain_toy as run_pretraining

    out_dir = renamed(out_dir, old_out, "--out", "--out-dir")
    cfg = PretrainConfig(
        steps=steps,
        batch_size=batch_size,
        lr=lr,
        weight_decay=wd,
        warmup_steps=warmup_steps if warmup_steps is not None else steps // 20,
        seed=seed,
        eval_images=eval_images,
        threads=threads,
        out_dir=str(out_dir or ASSETS),
        init=None if init is None else str(init),
        scenes=scenes,
    )
    with make_progress() as progress:
        bar = progress.add_task("pretrain toy-vit", total=steps, info="")
        callback = _pretrain_progress(progress, bar)
        card = run_pretraining(cfg, callback)
    acc = card["upstream_accuracy"]
    console.print(
        f"upstream top-1 {100 * acc['top1']:.2f}% on {acc['images']} held-out images; "
        f"{card['weights']['bytes'] / 1e6:.2f} MB in {cfg.out_dir} ({card['wall_seconds']:.0f}s)"
    )


def _pretrain_progress(progress: Any, bar: Any) -> Callable[[str, dict[str, Any]], None]:
    """Pretraining events to the progress bar (every step) and to the console (every curve point)."""
    from vptstudy.console import console

    def callback(event: str, info: dict[str, Any]) -> None:
        if event == "step":
            progress.update(bar, advance=1, info=f"loss {info['loss']:.3f} batch acc {100 * info['acc']:.1f}%")
        elif event == "curve":
            console.print(
                f"step {info['step']}: held-out loss {info['heldout_loss']:.3f}, "
                f"acc {100 * info['heldout_acc']:.1f}% ({info['seconds']:.0f}s)"
            )

    return callback


def demo(
    out_dir: Annotated[Path, typer.Option(help="Output folder: runs, report.md and figures/.")] = Path("demo-out"),
    old_out: Annotated[Path | None, old_name("--out")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="A smoke test: two tasks, one seed, two epochs.")] = False,
    publish: Annotated[Path | None, typer.Option(help="Also copy the figures (PNG) into this folder.")] = None,
) -> None:
    """The embedded mini-study end to end, offline on CPU: FT vs VPT-deep on toy tasks, distances, figures."""
    import shutil

    from vptstudy.console import SweepProgress, console, make_progress
    from vptstudy.demo import run_demo

    with make_progress() as progress:
        outputs = run_demo(
            renamed(out_dir, old_out, "--out", "--out-dir"), quick=quick, callback=SweepProgress(progress)
        )
    if publish is not None:
        publish.mkdir(parents=True, exist_ok=True)
        for figure in outputs.figures:
            if figure.suffix == ".png":
                shutil.copyfile(figure, publish / figure.name)
    console.print(f"[bold green]demo finished[/] in {outputs.seconds / 60:.1f} min")
    console.print(f"report: {outputs.report}")
    console.print(f"figures: {', '.join(str(f) for f in outputs.figures)}")
