"""RunResult: a run's ``result.json`` as a typed record; a finished and a failed run are built by the same code.

The JSON on disk keeps its keys (old runs load: a key this version does not know is kept in ``extra``).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

# written only when set (older results lack them)
_OPTIONAL = ("diverged", "reused")


@dataclass(frozen=True)
class RunResult:
    """How a run ended: ``status`` ``ok`` or ``failed`` (with ``reason``), its final metrics and its sizes."""

    task: str
    method: str
    model: str | None = None
    seed: int | None = None
    split: str | None = None
    study: str | None = None
    base_lr: float | None = None
    weight_decay: float | None = None
    num_prompts: int | None = None
    epochs: int | None = None
    epochs_done: int | None = None
    trainable_params: int | None = None
    total_params: int | None = None
    trainable_pct: float | None = None
    phases: list[dict[str, Any]] = field(default_factory=list)
    final: dict[str, Any] = field(default_factory=dict)
    status: str | None = None
    reason: str | None = None
    wall_seconds: float | None = None
    run_dir: str | None = None
    num_classes: int | None = None
    split_info: dict[str, Any] | None = None
    sizes: dict[str, int] | None = None
    train_size: int | None = None
    shots: int | None = None
    split_seed: int | None = None
    diverged: bool | None = None
    reused: dict[str, Any] | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def test_acc(self) -> float | None:
        """The final test accuracy in [0, 1], or None (a tuning run, or a failed one)."""
        value = (self.final or {}).get("test_acc")
        return None if value is None else float(value)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        """From ``result.json`` of any version (missing keys are None; unknown keys go to ``extra``)."""
        known = {f.name for f in _FIELDS} - {"extra"}
        values = {k: v for k, v in d.items() if k in known}
        values.setdefault("task", "?")
        values.setdefault("method", "?")
        for key in ("phases", "final"):
            if values.get(key) is None:
                values.pop(key, None)
        return cls(**values, extra={k: v for k, v in d.items() if k not in known})

    def to_dict(self) -> dict[str, Any]:
        """``result.json``'s content, in its key order (optional keys only when set)."""
        out = {f.name: getattr(self, f.name) for f in _FIELDS if f.name != "extra"}
        for key in _OPTIONAL:
            if out[key] is None:
                del out[key]
        return {**out, **self.extra}


_FIELDS = dataclasses.fields(RunResult)
