"""The executor options (--executor, --gpus, --workers, Slurm's), declared once and added to each command that
runs a study by :func:`with_executor` (an :mod:`~vptstudy.cli.option_groups` group); the command receives them as
one :class:`ExecutorOptions`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import typer

from vptstudy import validate
from vptstudy.cli.option_groups import option_group
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


# Every command puts its ``executor: ExecutorOptions`` parameter just before ``dry_run``: the options come before
# --dry-run in its help.
with_executor = option_group(ExecutorOptions, "executor")
