"""The vptstudy command line. Each command parses its options and calls one library function."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from vptstudy.config import PAPER_MODEL, RunConfig
from vptstudy.errors import RunFailed, UserError

app = typer.Typer(
    name="vptstudy",
    help="Visual prompt tuning or full fine-tuning? Run the ICLR 2024 study on timm ViTs.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
STATE = {"debug": False}


@app.callback()
def _root(
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks for errors.")] = False,
) -> None:
    STATE["debug"] = debug


@app.command()
def tasks() -> None:
    """List the registered tasks: group, classes, task disparity, sources and how to get the data."""
    from rich.table import Table

    from vptstudy.console import out
    from vptstudy.data import TASKS

    table = Table(title="Tasks")
    for col in ("task", "group", "classes", "disparity", "sources", "preprocess", "how to get it"):
        table.add_column(col, overflow="fold")
    for spec in TASKS.values():
        table.add_row(
            spec.name,
            spec.group,
            str(spec.num_classes or "from data"),
            spec.disparity,
            ", ".join(spec.sources),
            spec.preprocess,
            spec.get_it,
        )
    out.print(table)


@app.command()
def train(
    task: Annotated[str, typer.Option(help="Task name (see `vptstudy tasks`), e.g. toy/digits.")],
    method: Annotated[str, typer.Option(help="ft, linear, vpt-shallow, vpt-deep, mixed or ft-then-pt.")],
    model: Annotated[str, typer.Option(help="timm ViT name (with pretrained tag) or toy-vit.")] = PAPER_MODEL,
    pretrained: Annotated[bool, typer.Option(help="Load the backbone's pretrained weights.")] = True,
    weights: Annotated[Path | None, typer.Option(help="Local .safetensors/.pth/.npz backbone weights.")] = None,
    img_size: Annotated[int | None, typer.Option(help="Input size (default: the backbone's).")] = None,
    prompts: Annotated[int, typer.Option("--prompts", help="Prompt length p (prompt methods).")] = 10,
    prompt_dropout: Annotated[float | None, typer.Option(help="Default 0.1 deep, 0.0 shallow.")] = None,
    epochs: Annotated[int, typer.Option(help="Epochs per phase (FT-then-PT runs two phases).")] = 100,
    warmup_epochs: Annotated[int | None, typer.Option(help="Linear warm-up epochs (default 10%).")] = None,
    batch_size: Annotated[int, typer.Option(help="Batch size; lr = base lr * batch / 256.")] = 128,
    lr: Annotated[float | None, typer.Option("--lr", help="Base lr (default: the method's).")] = None,
    wd: Annotated[float | None, typer.Option("--wd", help="Weight decay (default: the method's).")] = None,
    seed: Annotated[int, typer.Option(help="Training seed.")] = 42,
    split: Annotated[str, typer.Option(help="tune (train800 -> val200) or final (train800val200 -> test).")] = "tune",
    train_size: Annotated[int | None, typer.Option(help="Train size N (val N/4), data-size regime.")] = None,
    shots: Annotated[int | None, typer.Option(help="k images per class for train and val.")] = None,
    split_seed: Annotated[int, typer.Option(help="Seed of the data split.")] = 0,
    test_subsample: Annotated[int, typer.Option(help="Test images per epoch for curves (0: all).")] = 1000,
    data_root: Annotated[Path | None, typer.Option(help="Data folder for the task.")] = None,
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA), fp32 or bf16.")] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    out_dir: Annotated[Path, typer.Option(help="Root folder of run directories.")] = Path("runs"),
    study: Annotated[str, typer.Option(help="Study name (first run-directory level).")] = "adhoc",
) -> None:
    """Train one run (FT, linear, VPT-shallow, VPT-deep, Mixed or FT-then-PT) into a run directory."""
    from vptstudy.console import TrainProgress, make_progress, print_results
    from vptstudy.train import fit

    cfg = RunConfig(
        task=task,
        method=method,
        model=model,
        pretrained=pretrained,
        weights=str(weights) if weights else None,
        img_size=img_size,
        num_prompts=prompts,
        prompt_dropout=prompt_dropout,
        epochs=epochs,
        warmup_epochs=warmup_epochs,
        batch_size=batch_size,
        base_lr=lr,
        weight_decay=wd,
        seed=seed,
        split=split,
        train_size=train_size,
        shots=shots,
        split_seed=split_seed,
        test_subsample=test_subsample or None,
        data_root=str(data_root) if data_root else None,
        device=device,
        precision=precision,
        compile=compile,
        out_dir=str(out_dir),
        study=study,
    )
    with make_progress() as progress:
        result = fit(cfg, TrainProgress(progress, f"{task} {method}"))
    print_results([result], title="Run summary")


def main() -> None:
    """Console entry point: user errors become one line on stderr and exit code 2."""
    try:
        app(standalone_mode=False)
    except UserError as exc:
        if STATE["debug"]:
            raise
        print(f"vptstudy: error: {exc.line()}", file=sys.stderr)
        sys.exit(2)
    except RunFailed as exc:
        if STATE["debug"]:
            raise
        print(f"vptstudy: {exc}", file=sys.stderr)
        sys.exit(1)
    except KeyboardInterrupt:
        print("vptstudy: interrupted", file=sys.stderr)
        sys.exit(130)
    except (typer.Exit, typer.Abort) as exc:
        sys.exit(getattr(exc, "exit_code", 1))
    except Exception as exc:  # click usage errors carry their own exit code
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        raise


if __name__ == "__main__":
    main()
