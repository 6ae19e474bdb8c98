"""Run directories: layout, atomic writes and reading results back.

``<out>/<study>/<task>/<method>/<split>/<hparams>/seed<k>/`` (named by :func:`vptstudy.plan.plan`) holds
``config.json``, ``metrics.jsonl`` (one object per epoch), ``trainable.safetensors`` (the tensors that trained) and
``result.json``, written last and atomically: a run is complete when ``result.json`` exists. Accuracies everywhere
are fractions in [0, 1].
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from vptstudy import damaged, locks
from vptstudy.atomic import atomic_write_bytes
from vptstudy.config import RunConfig
from vptstudy.errors import UserError

CONFIG, METRICS, RESULT, TRAINABLE = "config.json", "metrics.jsonl", "result.json", "trainable.safetensors"


def split_name(cfg: RunConfig) -> str:
    """The split component of a run folder (see :func:`vptstudy.plan.split_name`)."""
    from vptstudy.plan import split_name as name

    return name(cfg)


def _clean(value: Any) -> Any:
    """JSON has no NaN/inf: store them as strings so files stay standard JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def json_bytes(obj: Any) -> bytes:
    """The bytes :func:`atomic_write_json` writes for ``obj`` (to tell whether a file already holds it)."""
    return (json.dumps(_clean(obj), indent=2, sort_keys=True) + "\n").encode()


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json_bytes(obj))


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
    """The config a run folder was made from; folders of the layout before plans (no ``layout`` key) load too.
    :class:`~vptstudy.damaged.CorruptFile` when config.json is damaged or not a run's."""
    path = Path(run) / CONFIG
    data = damaged.read_json_object(path)
    try:
        return RunConfig.from_dict(data["run"], layout=int(data.get("layout", 1)))
    except (KeyError, TypeError, ValueError, AttributeError, UserError) as exc:
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


# -- claims: two workers never train the same run (the lock logic lives in vptstudy.locks) --------------------
LOCK, CHECKPOINT, ATTEMPTS = ".lock", "checkpoint.safetensors", "attempts.jsonl"
owner = locks.owner


def claim(run: Path) -> bool:
    """Atomically claim a run directory for this process; False when a live owner holds it (stale: taken over)."""
    try:
        run.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file in the way, no permission, read-only disk
        raise UserError(
            f"cannot create run directory {str(run)!r}: {exc.strerror or type(exc).__name__}",
            "--out-dir",
            "pass a writable folder (not a file) as --out-dir, or out_dir in a study's [run]",
        ) from None
    return locks.acquire(run / LOCK)


def clear_stale_claim(run: Path) -> None:
    """Remove a dead owner's lock (e.g. a worker killed between writing result.json and releasing)."""
    locks.clear_stale(run / LOCK)


def refresh_claim(run: Path) -> None:
    """Heartbeat: touch the lock so other hosts see the owner is alive."""
    locks.refresh(run / LOCK)


def release(run: Path) -> None:
    locks.release(run / LOCK)


def truncate_metrics(run: Path, epochs: int) -> None:
    """Keep the first ``epochs`` complete lines of metrics.jsonl (used when resuming from a checkpoint)."""
    rows = read_metrics(run)[:epochs]
    atomic_write_bytes(
        Path(run) / METRICS, "".join(json.dumps(_clean(r), sort_keys=True) + "\n" for r in rows).encode()
    )
