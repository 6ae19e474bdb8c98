"""The executor options (--executor, --gpus, --workers, Slurm's), declared once and added to each command that
runs a study by :func:`with_executor`; the command receives them as one :class:`ExecutorOptions`."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Annotated, Any

import typer

from vptstudy import validate
from vptstudy.cli.options import ints


@dataclass(frozen=True)
class ExecutorOptions:
    """Where a study's runs execute, as typed on the command line (see ``vptstudy.executors.ExecutorSpec``)."""

    executor: Annotated[str, typer.Option("--executor", help="local (default) or slurm (submitit).")] = "local"
    gpus: Annotated[str | None, typer.Option("--gpus", help="Local: GPU ids for one worker each, e.g. 0,1.")] = None
    workers_per_gpu: Annotated[int, typer.Option("--workers-per-gpu", help="Local: workers per listed GPU.")] = 1
    workers: Annotated[int, typer.Option("--workers", help="Local without --gpus: CPU worker processes.")] = 1
    partition: Annotated[str | None, typer.Option("--partition", help="Slurm partition.")] = None
    time: Annotated[int, typer.Option("--time", help="Slurm time limit per job, minutes.")] = 240
    runs_per_job: Annotated[int, typer.Option("--runs-per-job", help="Slurm: runs per array task.")] = 1
    array_parallelism: Annotated[int, typer.Option("--array-parallelism", help="Slurm: array tasks at once.")] = 64

    def gpu_ids(self) -> tuple[int, ...]:
        """``--gpus`` as ids, checked against the GPUs present."""
        ids = ints(self.gpus, "--gpus") or ()
        validate.gpus(ids)
        return ids

    def spec(self) -> Any:
        """The ``ExecutorSpec`` (imported here: building it checks Slurm, which only a study run needs)."""
        from vptstudy.executors import ExecutorSpec

        return ExecutorSpec(
            kind=self.executor,
            gpus=self.gpu_ids(),
            workers_per_gpu=self.workers_per_gpu,
            workers=self.workers,
            partition=self.partition,
            time_min=self.time,
            runs_per_job=self.runs_per_job,
            array_parallelism=self.array_parallelism,
        )


_HINTS = inspect.get_annotations(ExecutorOptions, eval_str=True)
_PARAMS = [
    inspect.Parameter(f.name, inspect.Parameter.KEYWORD_ONLY, default=f.default, annotation=_HINTS[f.name])
    for f in fields(ExecutorOptions)
]


def with_executor(command: Callable[..., None]) -> Callable[..., None]:
    """Give ``command`` the executor options (placed before --dry-run in its help) in place of its
    ``executor: ExecutorOptions`` parameter."""
    sig = inspect.signature(command, eval_str=True)
    own = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in sig.parameters.values() if p.name != "executor"]
    at = next((i for i, p in enumerate(own) if p.name == "dry_run"), len(own))
    params = [*own[:at], *_PARAMS, *own[at:]]

    @functools.wraps(command)
    def wrapper(**kwargs: Any) -> None:
        options = ExecutorOptions(**{p.name: kwargs.pop(p.name) for p in _PARAMS})
        return command(**kwargs, executor=options)

    wrapper.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in params} | {"return": None}
    return wrapper
