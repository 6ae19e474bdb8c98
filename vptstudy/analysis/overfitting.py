"""The overfitting detector: does a run's test loss rise persistently after its minimum while train loss falls?

The rule (:data:`RULE`, README-ready) works on the per-epoch rows of ``metrics.jsonl``. With ``n`` epochs:

1. Smooth both losses with a running median of ``window`` epochs (5; edges repeat the end values), so a single
   noisy epoch can neither make nor hide a minimum.
2. ``m`` is the epoch of the smoothed test loss's minimum ``L_min``; the tail is the last ``K = max(3, n // 10)``
   epochs, and the end level ``L_end`` is the median of the raw test loss over the tail.
3. The run **overfits** when all of these hold:
   - the rise is real: ``L_end >= L_min * (1 + margin)`` (``margin`` 5%) and ``L_end - L_min >= min_rise`` (0.01);
   - it persists: the minimum lies before the tail, and every smoothed test loss in the tail stays above
     ``L_min * (1 + margin / 2)``;
   - train loss keeps falling: the median raw train loss over the tail is below the smoothed train loss at ``m``.
4. A persistent rise while train loss does not fall is reported as ``diverging`` (an optimisation problem, not
   overfitting); fewer than ``min_epochs`` (6) finite epochs is ``too short``; anything else is ``no overfitting``.

FT-then-PT runs are judged over both phases as one curve unless a ``phase`` is named.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.ndimage import median_filter

RULE = (
    "A run overfits when its test loss rises persistently after its minimum while its train loss keeps falling. "
    "Both losses are smoothed with a 5-epoch running median; L_min is the smoothed test loss's minimum, at epoch "
    "m; the tail is the last K = max(3, n/10) epochs and L_end the median raw test loss over it. Overfitting "
    "needs L_end >= 1.05 * L_min and L_end - L_min >= 0.01, m before the tail, every smoothed test loss in the "
    "tail above 1.025 * L_min, and the median train loss over the tail below the smoothed train loss at m. A "
    "persistent rise without falling train loss is reported as diverging; fewer than 6 epochs as too short."
)

OVERFITTING, NO_OVERFITTING, DIVERGING, TOO_SHORT = "overfitting", "no overfitting", "diverging", "too short"


@dataclass(frozen=True)
class Verdict:
    """The detector's verdict on one run; ``str(verdict)`` is a one-line summary for tables."""

    kind: str
    epochs: int
    min_epoch: int | None = None
    min_test_loss: float | None = None
    end_test_loss: float | None = None
    train_at_min: float | None = None
    end_train_loss: float | None = None
    phase: str | None = None

    @property
    def overfits(self) -> bool:
        return self.kind == OVERFITTING

    @property
    def rise(self) -> float | None:
        """Relative rise of the end test loss over its minimum (0.2 is +20%)."""
        if self.min_test_loss is None or self.end_test_loss is None or self.min_test_loss <= 0:
            return None
        return self.end_test_loss / self.min_test_loss - 1.0

    @property
    def short(self) -> str:
        if self.kind in (OVERFITTING, DIVERGING) and self.rise is not None:
            return f"{self.kind} (test +{100 * self.rise:.0f}% after ep {self.min_epoch})"
        return self.kind

    def __str__(self) -> str:
        return self.short

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": self.kind,
            "overfits": self.overfits,
            "epochs": self.epochs,
            "min_epoch": self.min_epoch,
            "min_test_loss": self.min_test_loss,
            "end_test_loss": self.end_test_loss,
            "rise": self.rise,
            "train_at_min": self.train_at_min,
            "end_train_loss": self.end_train_loss,
            "phase": self.phase,
        }


def _loss(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def overfitting_verdict(
    metrics_rows: Sequence[dict[str, Any]],
    phase: str | None = None,
    margin: float = 0.05,
    min_rise: float = 0.01,
    window: int = 5,
    min_epochs: int = 6,
) -> Verdict:
    """Apply the rule in the module docstring to a run's ``metrics.jsonl`` rows (optionally one ``phase``)."""
    rows = [r for r in metrics_rows if phase is None or r.get("phase") == phase]
    rows = [r for r in rows if math.isfinite(_loss(r.get("test_loss"))) and math.isfinite(_loss(r.get("train_loss")))]
    n = len(rows)
    if n < max(min_epochs, 2):
        return Verdict(TOO_SHORT, n, phase=phase)
    epochs = [int(r.get("epoch", i + 1)) for i, r in enumerate(rows)]
    test = np.array([_loss(r["test_loss"]) for r in rows])
    train = np.array([_loss(r["train_loss"]) for r in rows])
    size = max(1, min(window, n))
    test_s = median_filter(test, size=size, mode="nearest")
    train_s = median_filter(train, size=size, mode="nearest")
    tail = max(3, n // 10)
    m = int(np.argmin(test_s))
    l_min, l_end = float(test_s[m]), float(np.median(test[-tail:]))
    train_min, train_end = float(train_s[m]), float(np.median(train[-tail:]))
    rises = (
        l_end >= l_min * (1 + margin)
        and l_end - l_min >= min_rise
        and m < n - tail
        and bool(np.all(test_s[-tail:] > l_min * (1 + margin / 2)))
    )
    kind = NO_OVERFITTING
    if rises:
        kind = OVERFITTING if train_end < train_min else DIVERGING
    return Verdict(kind, n, epochs[m], l_min, l_end, train_min, train_end, phase)
