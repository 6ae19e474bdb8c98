"""``vptstudy bench``: training speed per method."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from vptstudy.cli.option_groups import option_group
from vptstudy.cli.options import old_name, renamed

if TYPE_CHECKING:
    from vptstudy.bench import BenchConfig


@dataclass(frozen=True)
class BenchOptions:
    """The options of ``vptstudy bench`` (an option group: see :mod:`~vptstudy.cli.option_groups`)."""

    model: Annotated[str, typer.Option(help="timm ViT name or toy-vit.")] = "toy-vit"
    method: Annotated[
        list[str] | None, typer.Option("--method", help="Method to measure (repeatable; default ft and vpt-deep).")
    ] = None
    batch_size: Annotated[int, typer.Option(help="Batch size.")] = 128
    img_size: Annotated[int | None, typer.Option(help="Input size (default: the backbone's).")] = None
    prompts: Annotated[int, typer.Option("--prompts", help="Prompt length p (prompt methods).")] = 10
    pretrained: Annotated[bool, typer.Option(help="Load pretrained weights (speed does not need them).")] = False
    weights: Annotated[Path | None, typer.Option(help="Local backbone weights.")] = None
    task: Annotated[str | None, typer.Option(help="A registered task instead of the synthetic one.")] = None
    train_n: Annotated[int, typer.Option(help="Synthetic task: training images (VTAB-1k: 800).")] = 800
    val_n: Annotated[int, typer.Option(help="Synthetic task: validation images.")] = 200
    test_n: Annotated[int, typer.Option(help="Test images evaluated per epoch (the subsample).")] = 1000
    fgvc: Annotated[bool, typer.Option("--fgvc", help="Synthetic task FGVC-style: random crop + flip.")] = False
    epochs: Annotated[int, typer.Option(help="Real epochs per method; the first is warm-up.")] = 3
    rounds: Annotated[int, typer.Option(help="Interleaved rounds of bare timings (medians kept).")] = 5
    steps: Annotated[int, typer.Option(help="Bare steps per round and batch size.")] = 2
    warmup_steps: Annotated[int, typer.Option(help="Untimed bare steps first.")] = 2
    checkpoint_every: Annotated[int, typer.Option(help="Checkpoint epochs, as in train (0: none).")] = 1
    checkpoint_minutes: Annotated[
        float, typer.Option(help="Minutes between checkpoints, as in train (0: every epoch, to time them).")
    ] = 5.0
    threads: Annotated[int | None, typer.Option(help="torch CPU threads (default: torch's).")] = None
    clock: Annotated[str, typer.Option(help="wall, or cpu (process CPU time: steadier on a shared CPU).")] = "wall"
    device: Annotated[str, typer.Option(help="auto, cpu, cuda or cuda:N.")] = "auto"
    precision: Annotated[str, typer.Option(help="auto (bf16 on CUDA), fp32 or bf16.")] = "auto"
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the training model.")] = False
    json_path: Annotated[Path | None, typer.Option("--out", help="Also write the figures to this JSON file.")] = None
    old_json: Annotated[Path | None, old_name("--json")] = None
    startup: Annotated[
        bool,
        typer.Option(
            "--startup", help="Instead: a run's fixed cost, process start to first step (import, data, model, method)."
        ),
    ] = False
    case: Annotated[
        list[str] | None, typer.Option("--case", help="--startup: toy or vit-b16-224 (repeatable; default both).")
    ] = None
    step_batch: Annotated[int, typer.Option(help="--startup: images in the timed first step.")] = 8
    search: Annotated[
        bool, typer.Option("--search", help="Instead: successive halving against the full grid on the mini-study.")
    ] = False
    quick: Annotated[bool, typer.Option("--quick", help="--search: 2 tasks, 1 weight decay, default rungs.")] = False
    out_dir: Annotated[Path, typer.Option("--out-dir", help="--search: its runs' folder (reused).")] = Path(
        "bench-search"
    )
    workers: Annotated[int, typer.Option(help="--search: local CPU workers.")] = 2

    def config(self) -> BenchConfig:
        """What to measure, as :func:`vptstudy.bench.bench` takes it."""
        from vptstudy.bench import BenchConfig

        return BenchConfig(
            model=self.model,
            methods=tuple(self.method or ("ft", "vpt-deep")),
            batch_size=self.batch_size,
            img_size=self.img_size,
            num_prompts=self.prompts,
            pretrained=self.pretrained,
            weights=str(self.weights) if self.weights else None,
            task=self.task,
            train_n=self.train_n,
            val_n=self.val_n,
            test_n=self.test_n,
            fgvc=self.fgvc,
            epochs=self.epochs,
            rounds=self.rounds,
            steps=self.steps,
            warmup_steps=self.warmup_steps,
            checkpoint_every=self.checkpoint_every,
            checkpoint_minutes=self.checkpoint_minutes,
            threads=self.threads,
            clock=self.clock,
            device=self.device,
            precision=self.precision,
            compile=self.compile,
        )


@option_group(BenchOptions, "opts")
def bench(opts: BenchOptions = BenchOptions()) -> None:
    """Training speed: bare forward+backward+step vs a real epoch with evaluation; overhead, memory, MFU.

    With --startup: a run's fixed cost from process start to its first training step, for the toy backbone and
    ViT-B/16 at 224 px (random weights): a first process, a second one (data cache warm), a second run in-process.
    With --search: the mini-study's search in both modes (grid, successive halving) on each method's full lr x wd
    grid: the share of the grid's epochs halving trains, the units where it makes the grid's choice, and the test
    accuracy gap where it does not. On 2 idle cores: --quick about 12 minutes, the full grids about 75.
    """
    json_path = renamed(opts.json_path, opts.old_json, "--json", "--out")
    if opts.startup:
        _startup(tuple(opts.case or ()), opts.step_batch, opts.threads, json_path)
        return
    if opts.search:
        _search(opts.quick, opts.out_dir, opts.workers, json_path)
        return
    from vptstudy.bench import bench as run_bench
    from vptstudy.console import bench_table, console

    cfg = opts.config()

    def log(event: str, info: dict) -> None:
        if event == "bare":
            console.print(f"[dim]bare steps: {', '.join(info['methods'])} (interleaved)[/]")
        elif event == "real":
            console.print(f"[dim]real epochs: {info['method']} ({info['epochs']})[/]")

    rows = run_bench(cfg, log)
    _emit(bench_table(rows), rows, json_path)


def _startup(cases: tuple[str, ...], step_batch: int, threads: int | None, json_path: Path | None) -> None:
    from vptstudy.console import console, startup_table
    from vptstudy.startup import CASES, StartupConfig, startup_bench

    cfg = StartupConfig(cases=cases or tuple(CASES), step_batch=step_batch, threads=threads or 1)

    def log(event: str, info: dict) -> None:
        console.print(f"[dim]startup: {info['case']}, {info['run']}[/]")

    rows = startup_bench(cfg, log)
    _emit(startup_table(rows), rows, json_path)


def _emit(table: object, rows: list[dict], json_path: Path | None) -> None:
    """Print a bench's table on stdout and, with ``--out``, write its rows as JSON (atomically)."""
    from vptstudy.console import out as stdout
    from vptstudy.runs import atomic_write_json

    stdout.print(table)
    if json_path is not None:
        atomic_write_json(json_path, rows)
        stdout.print(f"wrote {json_path}", soft_wrap=True)


def _search(quick: bool, out_dir: Path, workers: int, json_path: Path | None) -> None:
    from vptstudy.console import SweepProgress, make_progress
    from vptstudy.console import out as stdout
    from vptstudy.halving_bench import SearchBench, run_search_bench, table, write

    with make_progress() as progress:
        figures = run_search_bench(SearchBench(str(out_dir), quick, workers=workers), SweepProgress(progress))
    stdout.print(table(figures), markup=False, highlight=False, soft_wrap=True)
    stdout.print(f"{figures['seconds']:.0f} s; runs in {out_dir}", soft_wrap=True)
    if json_path is not None:
        write(figures, json_path)
        stdout.print(f"wrote {json_path}", soft_wrap=True)
