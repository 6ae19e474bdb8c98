"""Worker pools: a local worker trains many runs in one process, one that dies is replaced and its run resumes."""

from __future__ import annotations

import json
import os
import signal
import time

import pytest

from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.plan import plan
from vptstudy.pools import LocalPool, _Queue

TINY = {"model": "test_vit", "pretrained": False, "img_size": 32, "batch_size": 32, "train_size": 64}


def test_the_queue_gives_higher_priority_first_then_first_submitted() -> None:
    q = _Queue()
    for key, priority in [(0, 1), (1, 1), (2, 3), (3, 2), (4, 3)]:
        q.push(key, RunConfig(task="toy/digits", method="linear", seed=key), priority)
    assert [q.pop()[0] for _ in range(len(q))] == [2, 4, 3, 0, 1]


def attempts(run) -> list[dict]:
    return [json.loads(line) for line in (run / runs.ATTEMPTS).read_text().splitlines()]


def poll_until(pool: LocalPool, n: int, timeout: float = 300) -> dict[int, dict]:
    got, deadline = {}, time.time() + timeout
    while len(got) < n:
        assert time.time() < deadline, "the pool gave no result"
        got.update(pool.poll(0.2))
    return got


@pytest.mark.slow  # two worker processes' start-up and a 60-epoch run: about 30 s
def test_a_killed_worker_is_replaced_and_its_run_resumes_and_workers_keep_their_process(tmp_path) -> None:
    events: list[tuple[str, int]] = []
    pool = LocalPool([None], lambda event, info: events.append((event, info["worker"])))
    long = RunConfig(task="toy/digits", method="linear", epochs=60, checkpoint_minutes=0, out_dir=str(tmp_path), **TINY)
    run = plan(long).run_dir
    try:
        pool.submit(0, long)
        deadline = time.time() + 300
        while not (run / runs.CHECKPOINT).exists():  # training, with a checkpoint to resume from
            assert time.time() < deadline
            assert pool.poll(0.2) == []
        (worker,) = {a["pid"] for a in attempts(run)}
        os.kill(worker, signal.SIGKILL)
        (result,) = poll_until(pool, 1).values()
        assert result["status"] == "missing" and result["reason"] == "its worker exited with code -9"
        short = [long.replace(epochs=2, base_lr=lr) for lr in (0.1, 0.2)]
        pool.submit(1, long)  # the killed run again: a new worker resumes it from its checkpoint
        for key, cfg in enumerate(short, start=2):
            pool.submit(key, cfg)
        results = poll_until(pool, 3)
    finally:
        pool.close(graceful=True)
    assert {r["status"] for r in results.values()} == {"ok"}
    log = attempts(run)
    assert [a["event"] for a in log] == ["start", "resume"] and log[1]["pid"] != worker
    assert {attempts(plan(c).run_dir)[0]["pid"] for c in short} == {log[1]["pid"]}  # one process, three runs
    assert events == [("dispatch", 0)] * 4
