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

from vptstudy import locks
from vptstudy.atomic import atomic_write_bytes
from vptstudy.config import RunConfig

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
    """Per-epoch records of a run; a torn last line (crash mid-write) is ignored."""
    path = Path(run) / METRICS
    if not path.is_file():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            break
    return rows


def read_result(run: Path) -> dict[str, Any] | None:
    path = Path(run) / RESULT
    return json.loads(path.read_text()) if path.is_file() else None


def read_config(run: Path) -> RunConfig:
    """The config a run folder was made from; folders of the layout before plans (no ``layout`` key) load too."""
    data = json.loads((Path(run) / CONFIG).read_text())
    return RunConfig.from_dict(data["run"], layout=int(data.get("layout", 1)))


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
    run.mkdir(parents=True, exist_ok=True)
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
