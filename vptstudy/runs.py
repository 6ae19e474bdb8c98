"""Run directories: layout, atomic writes and reading results back.

``<out>/<study>/<task>/<method>/<split>/<hparams>/seed<k>/`` holds ``config.json``, ``metrics.jsonl`` (one object
per epoch), ``trainable.safetensors`` (the tensors that trained) and ``result.json``, written last and atomically:
a run is complete when ``result.json`` exists. Accuracies everywhere are fractions in [0, 1].
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vptstudy import damaged
from vptstudy.atomic import atomic_write_bytes
from vptstudy.config import RunConfig
from vptstudy.errors import UserError

CONFIG, METRICS, RESULT, TRAINABLE = "config.json", "metrics.jsonl", "result.json", "trainable.safetensors"


def _fmt(value: float) -> str:
    return f"{value:g}"


def split_name(cfg: RunConfig) -> str:
    """The split component: ``tune`` / ``final``, prefixed by the data regime for sweeps (``n400-``, ``k1s3-``)."""
    if cfg.shots is not None:
        return f"k{cfg.shots}s{cfg.split_seed}-{cfg.split}"
    if cfg.train_size is not None:
        return f"n{cfg.train_size}s{cfg.split_seed}-{cfg.split}"
    return cfg.split if cfg.split_seed == 0 else f"s{cfg.split_seed}-{cfg.split}"


def hparams_name(cfg: RunConfig, lr: float, wd: float, uses_prompts: bool) -> str:
    """Readable hyper-parameters plus a hash of everything else that changes the computation."""
    parts = [f"lr{_fmt(lr)}", f"wd{_fmt(wd)}"]
    if uses_prompts:
        parts.append(f"p{cfg.num_prompts}")
    return "-".join([*parts, cfg.identity_hash()])


def run_dir(cfg: RunConfig, lr: float, wd: float, uses_prompts: bool) -> Path:
    return (
        Path(cfg.out_dir)
        / cfg.study
        / cfg.task
        / cfg.method
        / split_name(cfg)
        / hparams_name(cfg, lr, wd, uses_prompts)
        / f"seed{cfg.seed}"
    )


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: store them as strings so files stay standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, (json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n").encode())


def append_jsonl(path: Path, obj: dict[str, Any]) -> None:
    """Append one JSON line and flush it (a crash loses at most the line being written)."""
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(_clean(obj), sort_keys=True) + "\n")
        handle.flush()
        os.fsync(handle.fileno())


def read_metrics(run: Path) -> list[dict[str, Any]]:
    """Per-epoch records of a run; a torn last line (crash mid-write) is ignored, garbage before it raises
    :class:`~vptstudy.damaged.CorruptFile`."""
    path = Path(run) / METRICS
    if not path.is_file():
        return []
    return damaged.read_jsonl(path, torn_tail_ok=True)


def read_result(run: Path) -> dict[str, Any] | None:
    """``result.json`` (None while the run is unfinished); :class:`~vptstudy.damaged.CorruptFile` when damaged."""
    path = Path(run) / RESULT
    return damaged.read_json_object(path) if path.is_file() else None


def read_config(run: Path) -> RunConfig:
    """The run's config; :class:`~vptstudy.damaged.CorruptFile` when config.json is damaged or not a run's."""
    path = Path(run) / CONFIG
    data = damaged.read_json_object(path)
    try:
        return RunConfig.from_dict(data["run"])
    except (KeyError, TypeError, AttributeError, UserError) as exc:
        why = exc.what if isinstance(exc, UserError) else f"{type(exc).__name__}: {exc}"
        raise damaged.CorruptFile(path, f"does not describe a run ({why})") from None


def damage(run: Path) -> list[damaged.CorruptFile]:
    """What is damaged in a run directory: config.json and result.json that do not parse as JSON objects,
    metrics.jsonl (a torn last line is allowed only while the run is unfinished) and, for a finished run,
    trainable.safetensors. (Whether config.json describes a valid run is :func:`read_config`'s check.)"""
    run = Path(run)
    complete = is_complete(run)
    found: list[damaged.CorruptFile] = []
    checks = [
        (CONFIG, lambda: damaged.read_json_object(run / CONFIG)),
        (RESULT, lambda: read_result(run)),
        (METRICS, lambda: damaged.read_jsonl(run / METRICS, torn_tail_ok=not complete)),
    ]
    if complete:
        checks.append((TRAINABLE, lambda: damaged.check_safetensors(run / TRAINABLE)))
    for name, check in checks:
        if (run / name).is_file():
            try:
                check()
            except damaged.CorruptFile as exc:
                found.append(exc)
    return found


def is_complete(run: Path) -> bool:
    return (Path(run) / RESULT).is_file()


def iter_runs(root: Path) -> Iterator[Path]:
    """Every run directory (one holding config.json) under ``root``, sorted."""
    yield from sorted(p.parent for p in Path(root).rglob(CONFIG))


# -- claims: two workers never train the same run ------------------------------------------------------------
LOCK, CHECKPOINT, ATTEMPTS = ".lock", "checkpoint.safetensors", "attempts.jsonl"
STALE_AFTER_S = 6 * 3600.0  # a lock from another host not refreshed for this long is taken over


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _lock_is_stale(lock: Path) -> bool:
    try:
        owner = json.loads(lock.read_text())
    except (OSError, json.JSONDecodeError):
        # unreadable: half-written by a crashed claimer, or being written right now; give it a moment
        return time.time() - lock.stat().st_mtime > 60 if lock.exists() else True
    if owner.get("host") == socket.gethostname():
        return not _pid_alive(int(owner.get("pid", -1)))
    return time.time() - lock.stat().st_mtime > STALE_AFTER_S


def owner() -> dict[str, Any]:
    """Who is running: pid, host and time (written to the lock and to attempts.jsonl)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "time": time.time()}


def claim(run: Path) -> bool:
    """Atomically claim a run directory for this process (O_EXCL lock file with pid and host).

    Returns False when a live owner holds it. A stale lock (dead pid on this host, or not refreshed for
    ``STALE_AFTER_S`` on another host) is reclaimed.
    """
    run.mkdir(parents=True, exist_ok=True)
    lock = run / LOCK
    me = json.dumps(owner()).encode()
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            if not _lock_is_stale(lock):
                return False
            # rename-away is atomic: of two reclaimers, one wins the rename, the other sees it vanish
            try:
                os.replace(lock, run / f"{LOCK}.stale.{os.getpid()}")
                (run / f"{LOCK}.stale.{os.getpid()}").unlink(missing_ok=True)
            except FileNotFoundError:
                pass
            continue
        with os.fdopen(fd, "wb") as handle:
            handle.write(me)
        return True
    return False


def clear_stale_claim(run: Path) -> None:
    """Remove a dead owner's lock (e.g. a worker killed between writing result.json and releasing)."""
    lock = run / LOCK
    if lock.exists() and _lock_is_stale(lock):
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def refresh_claim(run: Path) -> None:
    """Heartbeat: touch the lock so other hosts see the owner is alive."""
    with contextlib.suppress(FileNotFoundError):
        os.utime(run / LOCK)


def release(run: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        (run / LOCK).unlink()


def truncate_metrics(run: Path, epochs: int) -> None:
    """Keep the first ``epochs`` complete lines of metrics.jsonl (used when resuming from a checkpoint)."""
    rows = read_metrics(run)[:epochs]
    atomic_write_bytes(
        Path(run) / METRICS, "".join(json.dumps(_clean(r), sort_keys=True) + "\n" for r in rows).encode()
    )
