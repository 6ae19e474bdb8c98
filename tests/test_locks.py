"""Lock staleness: dead, reused or own pids, another boot, and heartbeat age on this host and others."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from vptstudy import locks, runs

TINY = ["--model", "test_vit", "--no-pretrained", "--img-size", "32", "--batch-size", "64"]


@pytest.fixture
def sleeper():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    for _ in range(200):
        if locks._start_time(proc.pid) is not None:
            break
        time.sleep(0.01)
    yield proc
    proc.kill()
    proc.wait()


def write_lock(path: Path, **owner) -> Path:
    path.write_text(json.dumps({"host": socket.gethostname(), "boot": locks._boot_id(), **owner}))
    return path


def test_a_live_process_holds_its_lock(tmp_path, sleeper) -> None:
    lock = write_lock(tmp_path / "l", pid=sleeper.pid, start=locks._start_time(sleeper.pid))
    assert not locks.is_stale(lock) and not locks.acquire(lock)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="process start times come from /proc")
def test_a_reused_pid_is_stale(tmp_path, sleeper) -> None:
    # the pid is alive, but it is another process than the one that wrote the lock (a restarted container)
    lock = write_lock(tmp_path / "l", pid=sleeper.pid, start=locks._start_time(sleeper.pid) - 1)
    assert locks.is_stale(lock) and locks.acquire(lock)


def test_another_boot_is_stale(tmp_path, sleeper) -> None:
    lock = write_lock(tmp_path / "l", pid=sleeper.pid, start=None)
    owner = json.loads(lock.read_text())
    lock.write_text(json.dumps({**owner, "boot": "another-boot"}))
    assert locks._boot_id() is None or locks.is_stale(lock)


def test_own_pid_is_stale_unless_held(tmp_path) -> None:
    lock = write_lock(tmp_path / "l", pid=os.getpid(), start=locks._start_time(os.getpid()))
    assert locks.is_stale(lock)  # left by an earlier process with our pid (PID 1 after a container restart)
    assert locks.acquire(lock)
    assert not locks.is_stale(lock) and not locks.acquire(lock)  # but one we hold is ours
    locks.release(lock)
    assert not lock.exists()


def test_heartbeat_age_limit_on_this_host_and_others(tmp_path, sleeper) -> None:
    old = time.time() - locks.STALE_AFTER_S - 60
    here = write_lock(tmp_path / "here", pid=sleeper.pid, start=locks._start_time(sleeper.pid))
    os.utime(here, (old, old))
    assert locks.is_stale(here)  # alive but silent for hours: hung
    there = tmp_path / "there"
    there.write_text(json.dumps({"pid": 1, "host": "elsewhere", "start": 1}))
    assert not locks.is_stale(there)
    os.utime(there, (old, old))
    assert locks.is_stale(there)


def test_a_run_another_process_trains_is_one_line_exit_2(tmp_path, capsys, monkeypatch, sleeper) -> None:
    args = ["train", "--task", "toy/digits", "--method", "linear", *TINY, "--epochs", "1"]
    args += ["--out-dir", str(tmp_path / "out")]
    assert run_cli(args, capsys, monkeypatch).code == 0
    run = next(runs.iter_runs(tmp_path / "out"))
    (run / runs.RESULT).unlink()
    write_lock(run / runs.LOCK, pid=sleeper.pid, start=locks._start_time(sleeper.pid))
    res = run_cli(args, capsys, monkeypatch)
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vptstudy: error: the run is being trained by another process")
    assert f"pid {sleeper.pid}" in lines[0] and str(run) in lines[0]
    assert (run / runs.LOCK).exists() and not (run / runs.RESULT).exists()  # the other process's run is untouched
