"""Interrupts end cleanly: SIGINT/SIGTERM give one resumable line, exit 128 + N, no lock or worker left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.procs import own_group
from vptstudy import runs

ENV = {**os.environ, "PYTHONUNBUFFERED": "1", "OMP_NUM_THREADS": "1", "COLUMNS": "200"}
CLI = [sys.executable, "-m", "vptstudy.cli"]
TRAIN = ["train", "--task", "toy/digits", "--method", "ft", "--model", "test_vit", "--no-pretrained"]
# 64 images, 2 steps an epoch: the first checkpoint comes at once, and 1000 epochs outlast any signal
TRAIN += ["--img-size", "32", "--batch-size", "32", "--epochs", "1000", "--train-size", "64"]
TRAIN += ["--checkpoint-minutes", "0"]
STUDY = """
name = "sig"
kind = "search"
tasks = ["toy/digits"]
methods = ["ft"]
seeds = [42]
[grid.ft]
lr = [0.001, 0.0005]
wd = [0.0]
[run]
model = "test_vit"
pretrained = false
img_size = 32
epochs = 40
batch_size = 32
checkpoint_minutes = 0
out_dir = "{out}"
"""


def epochs_written(out: Path) -> int:
    return sum(len(runs.read_metrics(r)) for r in runs.iter_runs(out)) if out.exists() else 0


def wait_for_training(proc: subprocess.Popen, out: Path, epochs: int = 1, timeout: float = 300) -> None:
    deadline = time.time() + timeout
    while epochs_written(out) < epochs:
        assert proc.poll() is None, proc.communicate()[1].decode()[-2000:]
        assert time.time() < deadline, "training did not start"
        time.sleep(0.1)


def group_gone(pgid: int, timeout: float = 60) -> bool:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return True
        time.sleep(0.2)
    return False


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_gives_one_resumable_line_and_releases_the_lock(signum, tmp_path) -> None:
    out = tmp_path / "out"
    proc = subprocess.Popen(
        [*CLI, *TRAIN, "--out-dir", str(out)],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    with own_group(proc):
        wait_for_training(proc, out)
        while not any((r / runs.CHECKPOINT).exists() for r in runs.iter_runs(out)):
            assert proc.poll() is None
            time.sleep(0.05)
        proc.send_signal(signum)
        _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 128 + signum, text[-2000:]
    assert "Traceback" not in text
    last = text.strip().splitlines()[-1]
    assert last.startswith(f"vptstudy: interrupted by {signal.Signals(signum).name};") and "same command" in last
    run = next(runs.iter_runs(out))
    assert not (run / runs.LOCK).exists() and (run / runs.CHECKPOINT).exists() and not (run / runs.RESULT).exists()


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_workers_exit_quietly_with_their_driver(signum, tmp_path) -> None:
    (tmp_path / "s.toml").write_text(STUDY.format(out=tmp_path / "out"))
    proc = subprocess.Popen(
        [*CLI, "run", str(tmp_path / "s.toml"), "--workers", "2"],
        env=ENV,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group, as a terminal or Slurm step would have
    )
    with own_group(proc):
        wait_for_training(proc, tmp_path / "out", epochs=2)
        os.killpg(proc.pid, signum)  # Ctrl-C reaches the whole foreground group; Slurm signals every task
        _, err = proc.communicate(timeout=120)
    text = err.decode()
    assert proc.returncode == 128 + signum, text[-3000:]
    assert "Traceback" not in text and text.count("vptstudy: interrupted") == 1, text[-3000:]
    assert group_gone(proc.pid)
    assert not any((r / runs.LOCK).exists() for r in runs.iter_runs(tmp_path / "out"))


@pytest.mark.slow
def test_workers_exit_when_their_driver_is_killed(tmp_path) -> None:
    (tmp_path / "s.toml").write_text(STUDY.format(out=tmp_path / "out"))
    proc = subprocess.Popen(
        [*CLI, "run", str(tmp_path / "s.toml"), "--workers", "2"],
        env=ENV,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    with own_group(proc):
        wait_for_training(proc, tmp_path / "out", epochs=2)
        proc.kill()  # kill -9 of the driver alone: no cleanup runs in it
        proc.wait()
        assert group_gone(proc.pid), "workers kept training after their driver died"
    assert not any((r / runs.LOCK).exists() for r in runs.iter_runs(tmp_path / "out"))  # they released
