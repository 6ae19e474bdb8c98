"""Damaged files in run directories: read them strictly, say what is wrong, and set them aside.

A file that does not parse (truncated, garbage, the wrong JSON shape) raises :class:`CorruptFile`, a
:class:`UserError` naming the file. ``report`` and ``visualize`` list such runs as ``corrupt: <path>: <why>`` and
leave them out of every mean; a sweep moves the damaged files to ``<run>/rejected/`` (kept for inspection) and
trains the run again.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from vptstudy.errors import UserError

REJECTED = "rejected"  # the same folder the checkpoint code moves unloadable checkpoints to


class CorruptFile(UserError):
    """A run file that exists but cannot be read back."""

    def __init__(self, path: Path, why: str) -> None:
        self.path, self.why = Path(path), why
        super().__init__(
            f"corrupt file {str(path)!r}: {why}",
            str(path),
            "move it aside or delete the run directory; rerunning the sweep sets it aside and trains the run again",
        )

    @property
    def listing(self) -> str:
        """The line ``report`` and ``visualize`` print: ``corrupt: <path>: <why>``."""
        return f"corrupt: {self.path}: {self.why}"


def _text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CorruptFile(path, "not UTF-8 text") from None
    except OSError as exc:
        raise CorruptFile(path, f"unreadable ({exc.strerror or type(exc).__name__})") from None


def read_json_object(path: Path) -> dict[str, Any]:
    """A JSON file that must hold one object."""
    text = _text(path)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        why = "empty" if not text.strip() else f"invalid JSON at line {exc.lineno} column {exc.colno}: {exc.msg}"
        raise CorruptFile(path, why) from None
    if not isinstance(data, dict):
        raise CorruptFile(path, f"holds a JSON {type(data).__name__}, not an object")
    return data


def read_jsonl(path: Path, torn_tail_ok: bool) -> list[dict[str, Any]]:
    """One JSON object per line. ``torn_tail_ok``: a bad last line (a crash mid-write) ends the list instead."""
    lines = _text(path).splitlines()
    rows: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        try:
            row = json.loads(line)
            if not isinstance(row, dict):
                raise ValueError(f"holds a JSON {type(row).__name__}")
        except ValueError as exc:  # JSONDecodeError is a ValueError
            if torn_tail_ok and number == len(lines):
                break
            raise CorruptFile(path, f"line {number} is not a JSON object ({str(exc).split(':')[0]})") from None
        rows.append(row)
    return rows


def check_safetensors(path: Path) -> None:
    """A safetensors file whose header parses and whose tensors the file fully covers."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            list(handle.keys())
    except (SafetensorError, OSError, ValueError) as exc:
        raise CorruptFile(path, f"not a complete safetensors file ({str(exc).splitlines()[0][:120]})") from None


def set_aside(paths: list[Path]) -> list[Path]:
    """Move each file to ``rejected/`` beside it, with a time stamp (never overwriting); the new paths."""
    moved = []
    stamp = time.strftime("%Y%m%dT%H%M%S")
    for path in paths:
        if not path.exists():
            continue
        folder = path.parent / REJECTED
        folder.mkdir(exist_ok=True)
        target, n = folder / f"{path.name}.{stamp}", 0
        while target.exists():
            n += 1
            target = folder / f"{path.name}.{stamp}.{n}"
        path.replace(target)
        moved.append(target)
    return moved
