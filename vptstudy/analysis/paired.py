"""Paired comparison of two methods over seeds, and the crossover of two accuracy-vs-size curves.

Final runs of two methods share their seeds (same train+val data, same test set), so the comparison pairs them
by seed: ``d_s = acc_b(s) - acc_a(s)``. The verdict is a two-sided paired t-test on the ``d_s`` at level
``alpha``: with a p-value below it the method with the higher mean wins, otherwise the comparison is
"undecided". With fewer than two pairs, or when every difference is equal to zero, nothing is decided.
"""

from __future__ import annotations

import itertools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from scipy import stats

UNDECIDED = "undecided"
ALPHA = 0.05
EXACT = 1e-12  # differences that vary less than this across seeds are equal (float noise, not seed noise)


@dataclass(frozen=True)
class PairedResult:
    """``b`` against ``a`` over the seeds both have: mean and std of ``b - a`` (fractions), t-test p, winner."""

    a: str
    b: str
    seeds: tuple[int, ...]
    mean_diff: float
    std_diff: float
    p_value: float | None
    alpha: float

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def winner(self) -> str:
        """``a``, ``b`` or :data:`UNDECIDED`."""
        if self.p_value is None or self.p_value >= self.alpha:
            return UNDECIDED
        return self.b if self.mean_diff > 0 else self.a

    def agreement(self, expected: str) -> str:
        """Whether the winner "agrees" or "disagrees" with ``expected``; "no verdict" when undecided."""
        if self.winner == UNDECIDED:
            return "no verdict"
        return "agrees" if self.winner == expected else "disagrees"

    def describe(self) -> str:
        """E.g. ``vpt-deep - ft = +4.1 ± 1.2 pts (3 seeds, paired t-test p=0.021)``."""
        p = "p n/a" if self.p_value is None else f"p={self.p_value:.3f}"
        return (
            f"{self.b} - {self.a} = {100 * self.mean_diff:+.1f} ± {100 * self.std_diff:.1f} pts "
            f"({self.n} seeds, paired t-test {p})"
        )


def paired(
    a: str, acc_a: Mapping[int, float], b: str, acc_b: Mapping[int, float], alpha: float = ALPHA
) -> PairedResult:
    """Compare ``b`` with ``a`` on the seeds present in both ``{seed: accuracy}`` maps."""
    seeds = tuple(sorted(set(acc_a) & set(acc_b)))
    diffs = [acc_b[s] - acc_a[s] for s in seeds]
    mean = statistics.fmean(diffs) if diffs else 0.0
    std = statistics.stdev(diffs) if len(diffs) > 1 else 0.0
    p: float | None = None
    if len(diffs) > 1:
        if std > EXACT:
            p = float(stats.ttest_rel([acc_b[s] for s in seeds], [acc_a[s] for s in seeds]).pvalue)
        elif mean != 0:
            p = 0.0  # every seed gives the same non-zero difference
    return PairedResult(a, b, seeds, mean, std, p, alpha)


def crossover(sizes: Sequence[int], diffs: Sequence[float]) -> float | None:
    """First training size where the mean difference (e.g. FT - VPT) turns from <= 0 to > 0.

    Linear interpolation in log size between the two sizes that bracket the sign change; ``None`` when the sign
    never turns that way.
    """
    points = sorted(zip(sizes, diffs, strict=True))
    for (n0, d0), (n1, d1) in itertools.pairwise(points):
        if d0 <= 0 < d1:
            if d0 == 0:
                return float(n0)
            frac = -d0 / (d1 - d0)
            return math.exp(math.log(n0) + frac * (math.log(n1) - math.log(n0)))
    return None
