"""Executors stay within the machine (issue 17 §5): no Slurm means one line naming the local executor, local
workers are exactly --workers / --gpus slots, and CPU workers split the cores between them."""

from __future__ import annotations

import os

import pytest

from tests.helpers.cli import run_cli
from tests.helpers.runs import four_configs
from vptstudy import pools
from vptstudy.errors import UserError, WorkerError
from vptstudy.executors import ExecutorSpec, cpu_threads
from vptstudy.pools import execute


def test_slurm_without_sbatch_is_one_line_naming_the_local_executor(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))  # no sbatch here
    with pytest.raises(UserError, match="no sbatch on PATH"):
        ExecutorSpec(kind="slurm")
    res = run_cli(
        ["run", "studies/demo.toml", "--executor", "slurm", "--out-dir", str(tmp_path / "runs")], capsys, monkeypatch
    )
    assert res.code == 2
    assert res.err.strip().splitlines() == [
        "vptstudy: error: Slurm is not available here (no sbatch on PATH) (--executor slurm): "
        "run on this machine with --executor local --workers N (or --gpus 0,1)"
    ]
    assert not (tmp_path / "runs").exists()


def test_slurm_with_sbatch_on_path_is_accepted(tmp_path, monkeypatch):
    sbatch = tmp_path / "sbatch"
    sbatch.write_text("#!/bin/sh\n")
    sbatch.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert ExecutorSpec(kind="slurm").kind == "slurm"


def test_cpu_threads_keep_workers_times_threads_within_the_cores(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    assert [cpu_threads(w) for w in (1, 2, 3, 8, 20)] == [8, 4, 2, 1, 1]
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert cpu_threads(2) == 1


class FakeContext:
    """Stands in for multiprocessing's spawn context: records the workers instead of starting them (they never
    say they are ready and are gone at once, as workers that cannot start)."""

    def __init__(self) -> None:
        self.started: list[tuple] = []

    def Pipe(self):  # multiprocessing's name
        return object(), object()

    def Process(self, target, args):  # multiprocessing's name
        ctx = self

        class Proc:
            def start(self) -> None:
                ctx.started.append(args)

            def is_alive(self) -> bool:
                return False

            def join(self, timeout: float | None = None) -> None:
                return None

            def terminate(self) -> None:
                return None

            exitcode = 1

        return Proc()


def test_local_workers_are_bounded_and_split_the_cores(tmp_path, monkeypatch):
    fake = FakeContext()
    monkeypatch.setattr(pools.multiprocessing, "get_context", lambda kind: fake)
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(4)), raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    configs = four_configs(tmp_path) * 10  # 40 runs, still 3 workers
    with pytest.raises(WorkerError, match=r"each of the 3 exited before it was ready .* \(last exit code 1\)"):
        execute(configs, ExecutorSpec(workers=3))
    assert len(fake.started) == 3 and {args[2] for args in fake.started} == {1}  # 3 workers x 1 thread <= 4


def test_more_cpu_workers_than_cores_is_an_error(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    with pytest.raises(UserError, match=r"--workers 500 is more than the 2 CPU cores here"):
        ExecutorSpec(workers=500)
    assert ExecutorSpec(workers=2).workers == 2 and ExecutorSpec(gpus=(0, 1), workers=500).gpus == (0, 1)
