"""The event-driven loop: a unit's next batch starts as soon as its own runs are done, workers never idle while a
run waits, and with real workers halving chooses what the sequential reference chooses."""

from __future__ import annotations

import itertools
import json
import os
import time
from pathlib import Path

import pytest

from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.executors import ExecutorSpec, run_one
from vptstudy.halving import successive_halving
from vptstudy.scheduler import Await, Scheduler
from vptstudy.study import parse_study
from vptstudy.sweep import candidates, expand, run_study, search_file, select_best

SECONDS = {"toy/digits": 1.0, "toy/count": 5.0}  # simulated run times: digits runs are fast, count runs slow


class SimulatedPool:
    """Two workers on a simulated clock: a run takes SECONDS[task]; records when each run starts and ends."""

    def __init__(self, workers: int = 2) -> None:
        self.free, self.now, self.order = workers, 0.0, itertools.count()
        self.queue: list[tuple[int, int, int, RunConfig]] = []
        self.running: list[tuple[float, int, RunConfig]] = []
        self.log: list[tuple[str, float, str, int]] = []  # (event, time, task, seed)

    def submit(self, key: int, cfg: RunConfig, priority: int = 0) -> None:
        self.queue.append((-priority, next(self.order), key, cfg))

    def poll(self, timeout: float) -> list[tuple[int, dict]]:
        self.queue.sort(key=lambda item: item[:2])
        while self.free and self.queue:
            *_, key, cfg = self.queue.pop(0)
            self.free -= 1
            self.running.append((self.now + SECONDS[cfg.task], key, cfg))
            self.log.append(("start", self.now, cfg.task, cfg.seed))
        self.running.sort(key=lambda item: item[0])
        end, key, cfg = self.running.pop(0)
        self.now, self.free = end, self.free + 1
        self.log.append(("end", end, cfg.task, cfg.seed))
        return [(key, {"status": "ok", "seed": cfg.seed})]

    def close(self, graceful: bool) -> None:
        return None


def batches(task: str, sizes: list[int], first_seed: int, done: set[str]):
    """A flow asking for ``sizes`` runs one batch after the other (seeds numbered from ``first_seed``)."""
    seed = first_seed
    for n in sizes:
        results = yield [RunConfig(task=task, method="linear", seed=seed + k) for k in range(n)]
        assert [r["seed"] for r in results] == list(range(seed, seed + n))  # results in the order asked
        seed += n
    done.add(task)
    return seed - first_seed


def test_a_batch_starts_when_its_own_flow_is_done_and_workers_never_idle() -> None:
    pool, done = SimulatedPool(), set()

    def after_fast():  # waits for the fast flow, like FT-then-PT for FT's choice
        yield Await(lambda: "toy/digits" in done)
        results = yield [RunConfig(task="toy/digits", method="linear", seed=100)]
        return len(results)

    fast = batches("toy/digits", [3, 2, 1], 0, done)  # halving-like: 3 runs, then 2, then 1
    slow = batches("toy/count", [3], 50, done)
    assert Scheduler(pool, lambda e, i: None).run([fast, slow, after_fast()]) == [6, 3, 1]
    starts = {(task, seed): t for event, t, task, seed in pool.log if event == "start"}
    # the fast flow's second batch (seeds 3, 4) starts at t=2, while the slow flow's first runs train (until 11);
    # a barrier across flows would start it at 11
    assert starts["toy/digits", 3] == 2.0 and starts["toy/digits", 5] == 4.0
    assert starts["toy/count", 51] == 5.0  # a worker freed by the fast flow takes the slow flow's next run
    assert starts["toy/digits", 100] == 10.0  # the waiting flow asked at t=5, after the slow flow's runs
    end = max(t for event, t, *_ in pool.log if event == "end")
    busy = sum(SECONDS[task] for event, _, task, _ in pool.log if event == "start")
    assert busy == 7 * 1.0 + 3 * 5.0 == 2 * end  # 7 fast and 3 slow runs: no worker idled until the end (t=11)


def test_flows_that_wait_on_each_other_are_an_error_not_a_hang() -> None:
    def stuck():
        yield Await(lambda: False)

    with pytest.raises(RuntimeError, match="every flow waits on another"):
        Scheduler(SimulatedPool(), lambda e, i: None).run([stuck()])


TINY_RUN = {
    "model": "toy-vit",  # random init at 48 px: a slow run takes seconds, so it outlasts scheduling noise
    "pretrained": False,
    "img_size": 48,
    "epochs": 4,
    "batch_size": 40,
    "rungs": [25, 50],  # rung epochs 1 and 2 of 4
    "test_subsample": 50,
}


def two_unit_study(out: Path) -> dict:
    """Two units: 40 training images (fast) and 800 (20 times the steps per epoch), 4 candidates each."""
    return {
        "name": "u",
        "kind": "datasize",
        "tasks": ["toy/digits"],
        "methods": ["linear"],
        "seeds": [42],
        "datasize": {"sizes": [40, 800], "search": True},
        "run": {**TINY_RUN, "out_dir": str(out), "search": "halving", "eta": 2},
        "grid": {"linear": {"lr": [5.0, 1.0, 0.5, 0.1], "wd": [0.0]}},
    }


def test_workers_run_one_units_next_rung_while_another_unit_is_still_on_its_first(tmp_path) -> None:
    events: list[tuple[str, float, RunConfig]] = []

    def record(event: str, info: dict) -> None:
        if event in ("dispatch", "finished"):
            events.append((event, time.monotonic(), info["config"]))

    study = parse_study(two_unit_study(tmp_path / "pool"))
    summaries = run_study(study, ExecutorSpec(workers=2), record)
    fast_second = [t for e, t, c in events if e == "dispatch" and c.train_size == 40 and c.stop_epoch == 2]
    slow_first = [t for e, t, c in events if e == "finished" and c.train_size == 800 and c.stop_epoch == 1]
    assert len(fast_second) == 2 and len(slow_first) == 4  # 4 -> 2 -> 1 in each unit
    assert min(fast_second) < max(slow_first)  # a barrier across units would start it after the slow rung
    # the sequential reference (every unit's rung together, one run after the other, in this process)
    ref = expand(parse_study(two_unit_study(tmp_path / "ref")))
    outcomes = successive_halving([candidates(u) for u in ref], 2, lambda cfgs: [run_one(c) for c in cfgs])
    for summary, unit, outcome in zip(summaries, expand(study), outcomes, strict=True):
        best, _ = select_best(outcome.survivors, [run_one(c) for c in outcome.survivors])
        assert summary["chosen"] == best and summary["results"][0]["status"] == "ok"
        search = json.loads(search_file(unit).read_text())
        stopped = {(c["lr"], c["wd"]): c["stopped_at"] for c in search["candidates"] if "stopped_at" in c}
        assert stopped == {k: v["stopped_at"] for k, v in outcome.stopped.items()}
        assert search["rungs"] == outcome.rungs
    # every run was trained by the two persistent workers, none by the driver
    pids = set()
    for run in runs.iter_runs(tmp_path / "pool"):
        pids |= {json.loads(line)["pid"] for line in (run / runs.ATTEMPTS).read_text().splitlines()}
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
