"""An event-driven loop over flows: each flow asks for runs one batch at a time and goes on when its batch is done.

A flow is a generator (a study unit's search, then its final runs). It yields a list of RunConfigs and gets back
their results, in order, once every one is final; or it yields an :class:`Await` and resumes once its condition
holds (FT-then-PT waits for FT's choice). The loop hands every run to a pool of workers (:mod:`vptstudy.pools`) as
soon as its flow asks for it and resumes a flow as soon as its own batch is done: a rung of successive halving is a
barrier only within its unit, and while one unit waits for the last run of its rung the workers train other
units' runs. A grid search is the same flow with no rungs.

Workers take the runs of the flow furthest along first (the most batches answered; then the order asked), so a
unit that reached a later rung goes on, and on to its final runs, before more first-rung runs start.

A result is final when its run finished, failed, was skipped, or paused at its stop epoch. A run another process
holds (a second driver on the same study) is waited for, looked at every ``WAIT_POLL_S``, and trained here if its
holder goes away; a run whose worker died goes to a worker again, up to ``MAX_ATTEMPTS`` times in all.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from typing import Any

from vptstudy import locks, runs
from vptstudy.config import RunConfig
from vptstudy.executors import Callback, collect
from vptstudy.plan import plan
from vptstudy.pools import Pool, Result

WAIT_POLL_S = 1.0  # how often a run another process trains is looked at again
POLL_S = 1.0  # the longest the loop waits for a worker before it looks at waiting runs again
MAX_ATTEMPTS = 3  # a run whose worker died (or whose Slurm job ended without it) is given out this often in all
UNFINISHED = ("busy", "missing")


@dataclass(frozen=True)
class Await:
    """Yielded by a flow: resume it once ``ready()`` holds."""

    ready: Callable[[], bool]


Flow = Generator[Any, Any, Any]  # yields list[RunConfig] (gets their results) or Await (gets None); returns a value


@dataclass
class _Flow:
    gen: Flow
    depth: int = 0  # batches answered so far: deeper flows' runs go first
    results: list[Result] = field(default_factory=list)
    outstanding: int = 0
    parked: Await | None = None
    done: bool = False
    value: Any = None


@dataclass
class _Ticket:
    cfg: RunConfig
    flow: int
    index: int
    priority: int
    attempts: int = 1
    waiting_since: float | None = None  # another process holds the run


class Scheduler:
    """Runs flows to their end on ``pool``; ``callback`` gets ``progress`` (runs done / asked for), ``finished``
    (a run's final result) and ``waiting`` events."""

    def __init__(self, pool: Pool, callback: Callback) -> None:
        self.pool, self.callback = pool, callback
        self.flows: list[_Flow] = []
        self.tickets: dict[int, _Ticket] = {}
        self.keys = itertools.count()
        self.done = self.asked = 0
        self.last_look = 0.0

    def run(self, flows: list[Flow]) -> list[Any]:
        """Each flow's return value, in the order given."""
        self.flows = [_Flow(f) for f in flows]
        for i in range(len(self.flows)):
            self._advance(i, None)
        while not all(f.done for f in self.flows):
            self._wake()
            if all(f.done for f in self.flows):
                break
            if not self.tickets:
                raise RuntimeError("scheduler: every flow waits on another and no run is in flight")
            for key, result in self.pool.poll(POLL_S):
                self._resolve(key, result)
            self._look_at_waiting()
            self.callback("progress", {"done": self.done, "total": self.asked})
        return [f.value for f in self.flows]

    def _advance(self, i: int, value: Any) -> None:
        """Resume flow ``i`` with ``value`` until it asks for runs, waits, or ends."""
        f = self.flows[i]
        while True:
            try:
                asked = f.gen.send(value)
            except StopIteration as end:
                f.done, f.value = True, end.value
                return
            if isinstance(asked, Await):
                if not asked.ready():
                    f.parked = asked
                    return
                value = None
                continue
            f.depth += 1
            if not asked:
                value = []
                continue
            f.results, f.outstanding = [{}] * len(asked), len(asked)
            for index, cfg in enumerate(asked):
                key = next(self.keys)
                self.tickets[key] = _Ticket(cfg, i, index, priority=f.depth)
                self.pool.submit(key, cfg, f.depth)
                self.asked += 1
            return

    def _wake(self) -> None:
        for i, f in enumerate(self.flows):
            if f.parked is not None and f.parked.ready():
                f.parked = None
                self._advance(i, None)

    def _resolve(self, key: int, result: Result) -> None:
        t = self.tickets[key]
        if result.get("status") in UNFINISHED:
            stored = collect(t.cfg)
            if stored.get("status") in UNFINISHED:
                if _held_elsewhere(t.cfg):
                    if t.waiting_since is None:
                        t.waiting_since = time.monotonic()
                        self.callback("waiting", {"run_dir": str(plan(t.cfg).run_dir)})
                    return
                if result.get("status") == "busy" or t.attempts < MAX_ATTEMPTS:
                    t.attempts += 1  # its holder let go meanwhile, or its worker died: once more
                    self.pool.submit(key, t.cfg, t.priority)
                    return
            else:
                result = stored
        del self.tickets[key]
        self.done += 1
        self.callback("finished", {"config": t.cfg, "result": result})
        f = self.flows[t.flow]
        f.results[t.index] = result
        f.outstanding -= 1
        if f.outstanding == 0:
            self._advance(t.flow, f.results)

    def _look_at_waiting(self) -> None:
        """Runs other processes hold: finished or paused now, or let go (then trained here)."""
        if time.monotonic() - self.last_look < WAIT_POLL_S:
            return
        self.last_look = time.monotonic()
        for key, t in list(self.tickets.items()):
            if t.waiting_since is None:
                continue
            stored = collect(t.cfg)
            if stored.get("status") not in UNFINISHED or not _held_elsewhere(t.cfg):
                t.waiting_since = None
                self._resolve(key, stored if stored.get("status") not in UNFINISHED else {"status": "busy"})


def _held_elsewhere(cfg: RunConfig) -> bool:
    """Another live process holds the run's lock (another driver, or one of ours training the same folder)."""
    lock = plan(cfg).run_dir / runs.LOCK
    return lock.exists() and not locks.is_stale(lock)
