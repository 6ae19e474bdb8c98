"""Option types and value parsing shared by the commands (comma lists, KEY=VALUE, renamed flags)."""

from __future__ import annotations

import sys
from typing import Annotated, Any

import typer

from vptstudy import validate
from vptstudy.errors import UserError


def floats(text: str | None, option: str) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError:
        raise UserError(f"cannot read {text!r} as numbers", option, "use a comma-separated list, e.g. 1,0.5") from None
    for value in values:
        validate.finite(value, option)
    return values


def ints(text: str | None, option: str) -> tuple[int, ...] | None:
    values = floats(text, option)
    if values is not None and any(v != int(v) for v in values):
        raise UserError(f"{text!r} holds non-integers", option, "use whole numbers, e.g. 42,44")
    return None if values is None else tuple(int(v) for v in values)


def _option_value(text: str) -> Any:
    """A method option's value: true/false, an int, a float, or the text itself."""
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def method_options(items: list[str] | None) -> tuple[tuple[str, Any], ...]:
    """``--method-option KEY=VALUE`` items as RunConfig.method_options (sorted; the last of a repeated key wins)."""
    options: dict[str, Any] = {}
    for item in items or ():
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"cannot read method option {item!r}", "--method-option", "write KEY=VALUE, e.g. rank=8")
        options[key.strip()] = _option_value(text.strip())
    return tuple(sorted(options.items()))


NormalizeOpt = Annotated[
    str, typer.Option("--normalize", metavar="NAME", help="imagenet (mean/std, the paper's) or backbone (timm cfg).")
]
LoggerOpt = Annotated[
    str | None, typer.Option("--logger", metavar="NAME", help="Also stream each epoch to tensorboard or wandb.")
]
ExecutorOpt = Annotated[str, typer.Option("--executor", help="local (default) or slurm (submitit).")]
GpusOpt = Annotated[str | None, typer.Option("--gpus", help="Local: GPU ids for one worker each, e.g. 0,1.")]
WorkersPerGpuOpt = Annotated[int, typer.Option("--workers-per-gpu", help="Local: workers per listed GPU.")]
WorkersOpt = Annotated[int, typer.Option("--workers", help="Local without --gpus: CPU worker processes.")]
PartitionOpt = Annotated[str | None, typer.Option("--partition", help="Slurm partition.")]
TimeOpt = Annotated[int, typer.Option("--time", help="Slurm time limit per job, minutes.")]
RunsPerJobOpt = Annotated[int, typer.Option("--runs-per-job", help="Slurm: runs per array task.")]
ParallelOpt = Annotated[int, typer.Option("--array-parallelism", help="Slurm: array tasks at once.")]


def executor_spec(
    executor: str,
    gpus: str | None,
    workers_per_gpu: int,
    workers: int,
    partition: str | None,
    time_min: int,
    runs_per_job: int,
    array_parallelism: int,
):
    from vptstudy.executors import ExecutorSpec

    ids = ints(gpus, "--gpus") or ()
    validate.gpus(ids)
    return ExecutorSpec(
        kind=executor,
        gpus=ids,
        workers_per_gpu=workers_per_gpu,
        workers=workers,
        partition=partition,
        time_min=time_min,
        runs_per_job=runs_per_job,
        array_parallelism=array_parallelism,
    )


DryRunOpt = Annotated[
    bool, typer.Option("--dry-run", help="Print the resolved plans, the run count and the images; run nothing.")
]
JsonOpt = Annotated[bool, typer.Option("--json", help="With --dry-run: print the plans as JSON (for scripts).")]


def check_json(dry_run: bool, as_json: bool) -> None:
    if as_json and not dry_run:
        raise UserError("--json prints a dry run's plans", "--json", "add --dry-run, or leave out --json")


def renamed(value: Any, old_value: Any, old: str, new: str) -> Any:
    """The value of a renamed option; its old name still works, with a one-line note on stderr."""
    if old_value is None:
        return value
    print(f"vptstudy: note: {old} is now {new} (--out-dir names a folder, --out one file)", file=sys.stderr)
    return old_value


def old_name(name: str) -> Any:
    """A hidden option that keeps an old flag name working (see :func:`renamed`)."""
    return typer.Option(name, hidden=True, help=f"Old name of {name}.")
