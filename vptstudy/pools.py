"""Pools of workers that take runs one at a time: in this process, persistent local worker processes, or Slurm.

A pool is fed runs as they become ready (:meth:`submit`, with a priority) and hands back results as they finish
(:meth:`poll`), so the caller (:mod:`vptstudy.scheduler`) never waits for a whole batch. The three kinds:

- :class:`InlinePool`: one local slot; each ``poll`` runs the next run here, with the caller's progress events.
- :class:`LocalPool`: one spawn process per slot (GPU or CPU worker), started once and fed one run at a time
  over its own pipe, so a worker keeps its imports across the many runs it trains. Workers exit quietly (locks
  released) on SIGINT/SIGTERM and when their driver dies (:func:`vptstudy.signals.exit_with_parent`); a worker
  that dies is replaced and its run comes back ``missing``. When no worker can start (or they keep dying) the
  pool raises :class:`~vptstudy.errors.WorkerError` rather than leave every run missing.
- :class:`SlurmPool`: the runs ready at each poll go out as one submitit array job (``runs_per_job`` runs per
  task); results are read from the run folders as the jobs end.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import multiprocessing
import sys
import time
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from multiprocessing.connection import wait
from pathlib import Path
from typing import Any, Protocol

from vptstudy.config import RunConfig
from vptstudy.errors import WorkerError
from vptstudy.executors import WORKER_EXIT_S, Callback, ExecutorSpec, collect, cpu_threads, run_one, work

Result = dict[str, Any]
MAX_WORKER_DEATHS = 3  # a slot whose worker died this often in a row (no run finished between) is given up


class Pool(Protocol):
    def submit(self, key: int, cfg: RunConfig, priority: int = 0) -> None: ...

    def poll(self, timeout: float) -> list[tuple[int, Result]]: ...

    def close(self, graceful: bool) -> None: ...


class _Queue:
    """Runs waiting for a worker: higher priority first, then first submitted."""

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, int, RunConfig]] = []
        self._seq = itertools.count()

    def push(self, key: int, cfg: RunConfig, priority: int) -> None:
        heapq.heappush(self._heap, (-priority, next(self._seq), key, cfg))

    def pop(self) -> tuple[int, RunConfig]:
        _, _, key, cfg = heapq.heappop(self._heap)
        return key, cfg

    def __len__(self) -> int:
        return len(self._heap)


def missing(cfg: RunConfig, reason: str) -> Result:
    return {"task": cfg.task, "method": cfg.method, "seed": cfg.seed, "status": "missing", "reason": reason}


class InlinePool:
    """One slot in this process: ``poll`` runs the next waiting run (progress events go to the callback)."""

    def __init__(self, slot: str | None, callback: Callback) -> None:
        self.slot, self.callback = slot, callback
        self.queue = _Queue()
        self.threads_set = False

    def submit(self, key: int, cfg: RunConfig, priority: int = 0) -> None:
        self.queue.push(key, cfg, priority)

    def poll(self, timeout: float) -> list[tuple[int, Result]]:
        if not self.queue:
            time.sleep(timeout)
            return []
        key, cfg = self.queue.pop()
        if self.slot is not None:
            cfg = cfg.replace(device=self.slot)
        elif not self.threads_set and not cfg.device.startswith("cuda"):
            import torch

            torch.set_num_threads(cpu_threads(1))
            self.threads_set = True
        self.callback("run", {"config": cfg})
        return [(key, run_one(cfg, self.callback))]

    def close(self, graceful: bool) -> None:
        return None


def _pool_worker(conn: Any, device: str | None, threads: int) -> None:
    """A local worker process: trains the runs its driver sends, one at a time, until told to stop (None).
    Exits quietly (locks released) on SIGINT/SIGTERM, and when its driver dies."""
    from vptstudy import signals

    signals.install()
    signals.exit_with_parent()
    try:
        if device is None:  # CPU workers share the cores instead of each spinning up all of them
            import torch

            torch.set_num_threads(threads)
        conn.send(("ready", None, None))
        while (task := conn.recv()) is not None:
            key, data = task
            cfg = RunConfig.from_dict(data)
            try:
                result = run_one(cfg.replace(device=device) if device else cfg)
            except Exception:  # a bug, not a run's failure: the driver stops and shows where
                conn.send(("error", key, traceback.format_exc()))
                continue
            conn.send(("done", key, result))
    except signals.Interrupted as exc:
        sys.exit(exc.exit_code)  # the driver tells the user; no traceback per worker
    except (EOFError, BrokenPipeError):
        pass  # the driver is gone


@dataclass
class _Worker:
    proc: Any
    conn: Any
    ready: bool = False
    task: tuple[int, RunConfig] | None = None


class LocalPool:
    """Persistent spawn workers, one per slot, each fed one run at a time from a priority queue."""

    def __init__(self, slots: list[str | None], callback: Callback) -> None:
        self.ctx = multiprocessing.get_context("spawn")
        self.slots, self.callback = slots, callback
        self.threads = cpu_threads(len(slots))
        self.workers: list[_Worker | None] = [None] * len(slots)
        self.deaths = [0] * len(slots)
        self.broken: set[int] = set()
        self.last_exit: int | None = None
        self.queue = _Queue()

    def submit(self, key: int, cfg: RunConfig, priority: int = 0) -> None:
        self.queue.push(key, cfg, priority)

    def poll(self, timeout: float) -> list[tuple[int, Result]]:
        self._start_workers()
        self._dispatch()
        out = self._reap()
        live = [w for w in self.workers if w is not None]
        if not live:
            if len(self.broken) == len(self.slots) and self.queue:
                raise WorkerError(
                    f"local workers could not train: each of the {len(self.slots)} exited before it was ready or "
                    f"died {MAX_WORKER_DEATHS} times in a row (last exit code {self.last_exit}); their errors are "
                    "above. --workers 1 trains in this process"
                )
            return out
        wait([w.conn for w in live] + [w.proc.sentinel for w in live], timeout)
        for w in live:
            out += self._read(w)
        self._dispatch()
        return out

    def _start_workers(self) -> None:
        """A worker per free slot while runs wait for more workers than are starting or idle."""
        for s, slot in enumerate(self.slots):
            available = sum(w is not None and w.task is None for w in self.workers)
            if len(self.queue) <= available:
                return
            if self.workers[s] is None and s not in self.broken:
                conn, child = self.ctx.Pipe()
                proc = self.ctx.Process(target=_pool_worker, args=(child, slot, self.threads))
                proc.start()
                self.workers[s] = _Worker(proc, conn)

    def _dispatch(self) -> None:
        for s, w in enumerate(self.workers):
            if w is not None and w.ready and w.task is None and self.queue:
                key, cfg = self.queue.pop()
                w.conn.send((key, cfg.to_dict()))
                w.task = (key, cfg)
                self.callback("dispatch", {"config": cfg, "worker": s})

    def _read(self, w: _Worker) -> list[tuple[int, Result]]:
        out = []
        with contextlib.suppress(EOFError, OSError):
            while w.conn.poll():
                kind, key, payload = w.conn.recv()
                if kind == "ready":
                    w.ready = True
                elif kind == "error":
                    raise WorkerError(f"a worker raised on a run ({w.task[1].task} {w.task[1].method}):\n{payload}")
                else:
                    out.append((key, payload))
                    self.deaths[self.workers.index(w)] = 0
                    w.task = None
        return out

    def _reap(self) -> list[tuple[int, Result]]:
        """Workers that died: their finished results, then their run as ``missing``; the slot starts afresh."""
        out = []
        for s, w in enumerate(self.workers):
            if w is None or w.proc.is_alive():
                continue
            if w.ready:
                out += self._read(w)
            if w.task is not None:
                key, cfg = w.task
                out.append((key, missing(cfg, f"its worker exited with code {w.proc.exitcode}")))
            self.deaths[s] += 1
            self.last_exit = w.proc.exitcode
            if not w.ready or self.deaths[s] >= MAX_WORKER_DEATHS:
                self.broken.add(s)  # it never started, or it keeps dying: not started again
            w.proc.join()
            self.workers[s] = None
        return out

    def close(self, graceful: bool) -> None:
        """Stop every worker. Interrupted or not, no worker outlives its driver (SIGTERM: locks released)."""
        procs = [w.proc for w in self.workers if w is not None]
        for w in self.workers:
            if w is None:
                continue
            if graceful and w.ready and w.task is None:
                with contextlib.suppress(OSError):
                    w.conn.send(None)
            elif w.proc.is_alive():
                w.proc.terminate()
        for proc in procs:
            proc.join(timeout=WORKER_EXIT_S)
            if proc.is_alive():  # stuck while unwinding: never leave it behind (its lock is then stale)
                proc.kill()
                proc.join()
        self.workers = [None] * len(self.slots)


class SlurmPool:
    """Each poll sends the runs that became ready since the last one as one array job and collects ended jobs."""

    def __init__(self, spec: ExecutorSpec, callback: Callback) -> None:
        self.spec, self.callback = spec, callback
        self.queue = _Queue()
        self.jobs: list[tuple[Any, list[tuple[int, RunConfig]]]] = []
        self.executor: Any = None
        self.log_dir: Path | None = None

    def submit(self, key: int, cfg: RunConfig, priority: int = 0) -> None:
        self.queue.push(key, cfg, priority)

    def poll(self, timeout: float) -> list[tuple[int, Result]]:
        if self.queue:
            self._send()
        out = []
        for job, items in list(self.jobs):
            if not job.done():
                continue
            self.jobs.remove((job, items))
            try:
                job.result()
            except Exception as exc:  # a job that died is reported; its runs show up as missing
                reason = str(exc).splitlines()[-1] if str(exc) else ""
                self.callback("job_failed", {"job": job.job_id, "reason": reason})
            out += [(key, collect(cfg)) for key, cfg in items]
        if not out:
            time.sleep(timeout)
        return out

    def _send(self) -> None:
        items = [self.queue.pop() for _ in range(len(self.queue))]
        if self.executor is None:
            self.executor, self.log_dir = _slurm_executor(self.spec, items[0][1])
        per = self.spec.runs_per_job
        chunks = [items[i : i + per] for i in range(0, len(items), per)]
        jobs = self.executor.map_array(work, [[cfg.to_dict() for _, cfg in chunk] for chunk in chunks])
        self.jobs += list(zip(jobs, chunks, strict=True))
        self.callback("submitted", {"jobs": [j.job_id for j in jobs], "log_dir": str(self.log_dir)})

    def close(self, graceful: bool) -> None:
        return None  # submitted jobs keep running: their runs are resumable, a later driver waits for them


def _slurm_executor(spec: ExecutorSpec, first: RunConfig) -> tuple[Any, Path]:
    import submitit

    log_dir = Path(spec.log_dir or Path(first.out_dir) / first.study / "_slurm")
    executor = submitit.AutoExecutor(folder=str(log_dir / "%j"), cluster=spec.cluster or "slurm")  # no fallback
    params: dict[str, Any] = {
        "timeout_min": spec.time_min,
        "slurm_array_parallelism": spec.array_parallelism,
        "gpus_per_node": spec.gpus_per_job,
        "cpus_per_task": spec.cpus_per_job,
        "name": f"vptstudy-{first.study}",
    }
    if spec.partition:
        params["slurm_partition"] = spec.partition
    executor.update_parameters(**params)
    return executor, log_dir


def slots(spec: ExecutorSpec) -> list[str | None]:
    """The local worker slots: one per GPU x ``workers_per_gpu``, or ``workers`` CPU workers."""
    if spec.gpus:
        return [f"cuda:{g}" for g in spec.gpus for _ in range(spec.workers_per_gpu)]
    return [None] * spec.workers


@contextlib.contextmanager
def open_pool(spec: ExecutorSpec, callback: Callback) -> Iterator[Pool]:
    """The pool ``spec`` asks for, closed at the end: gracefully, or by terminating its workers on an error."""
    pool: Pool
    if spec.kind == "slurm":
        pool = SlurmPool(spec, callback)
    elif len(slots(spec)) == 1:
        pool = InlinePool(slots(spec)[0], callback)
    else:
        pool = LocalPool(slots(spec), callback)
    try:
        yield pool
    except BaseException:
        pool.close(graceful=False)
        raise
    pool.close(graceful=True)


def execute(configs: list[RunConfig], spec: ExecutorSpec, callback: Callback | None = None) -> list[Result]:
    """Run every config with the chosen executor; their results in order (``busy``/``missing`` as they came)."""
    callback = callback or (lambda event, info: None)
    results: dict[int, Result] = {}
    with open_pool(spec, callback) as pool:
        for i, cfg in enumerate(configs):
            pool.submit(i, cfg)
        while len(results) < len(configs):
            for key, result in pool.poll(1.0):
                results[key] = result
            callback("progress", {"done": len(results), "total": len(configs)})
    return [results[i] for i in range(len(configs))]
