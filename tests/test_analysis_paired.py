"""The paired comparison over seeds and the data-size crossover, checked by value on hand-made tables."""

from __future__ import annotations

import math

import pytest

from vptstudy.analysis.paired import UNDECIDED, crossover, paired

# Three seeds; VPT beats FT on every seed by 4-6 points: decided for VPT.
FT_CLEAR = {42: 0.60, 43: 0.62, 44: 0.58}
VPT_CLEAR = {42: 0.65, 43: 0.66, 44: 0.64}
# VPT ahead on average by 1 point, but the seeds disagree: undecided.
FT_NOISY = {42: 0.60, 43: 0.70, 44: 0.50}
VPT_NOISY = {42: 0.66, 43: 0.64, 44: 0.53}


def test_a_consistent_gap_is_decided_with_its_mean_and_spread():
    res = paired("ft", FT_CLEAR, "vpt-deep", VPT_CLEAR)
    assert res.seeds == (42, 43, 44)
    assert res.mean_diff == pytest.approx(0.05)  # diffs 0.05, 0.04, 0.06
    assert res.std_diff == pytest.approx(0.01)
    # t = 0.05 / (0.01 / sqrt 3) = 8.66 with 2 degrees of freedom: two-sided p = 0.01307
    assert res.p_value == pytest.approx(0.01307, abs=5e-5)
    assert res.winner == "vpt-deep"
    assert res.agreement("vpt-deep") == "agrees" and res.agreement("ft") == "disagrees"
    assert res.describe() == "vpt-deep - ft = +5.0 ± 1.0 pts (3 seeds, paired t-test p=0.013)"


def test_a_gap_within_seed_noise_is_undecided_and_gives_no_verdict():
    res = paired("ft", FT_NOISY, "vpt-deep", VPT_NOISY)
    assert res.mean_diff == pytest.approx(0.01)  # diffs 0.06, -0.06, 0.03
    assert res.p_value is not None and res.p_value > 0.5
    assert res.winner == UNDECIDED
    assert res.agreement("vpt-deep") == "no verdict" and res.agreement("ft") == "no verdict"


def test_the_first_method_wins_when_the_difference_is_negative():
    res = paired("ft", VPT_CLEAR, "vpt-deep", FT_CLEAR)
    assert res.mean_diff == pytest.approx(-0.05) and res.winner == "ft"


def test_only_shared_seeds_are_paired_and_one_pair_decides_nothing():
    res = paired("ft", {1: 0.5, 2: 0.9}, "vpt-deep", {2: 0.1, 3: 0.7})
    assert res.seeds == (2,) and res.mean_diff == pytest.approx(-0.8)
    assert res.p_value is None and res.winner == UNDECIDED


def test_identical_differences_on_every_seed_are_decided():
    res = paired("ft", {1: 0.25, 2: 0.5, 3: 0.5}, "vpt-deep", {1: 0.5, 2: 0.75, 3: 0.75})  # exact in binary
    assert (res.mean_diff, res.std_diff, res.p_value) == (0.25, 0.0, 0.0)
    assert res.winner == "vpt-deep"


def test_crossover_interpolates_in_log_size():
    # FT - VPT: -4 at 50, -2 at 100, +2 at 400 -> the sign turns half-way between 100 and 400 in log size (200).
    assert crossover([50, 100, 400], [-0.04, -0.02, 0.02]) == pytest.approx(200.0)
    assert crossover([400, 50, 100], [0.02, -0.04, -0.02]) == pytest.approx(200.0)  # order does not matter
    assert crossover([50, 100], [-0.01, -0.02]) is None  # VPT ahead everywhere
    assert crossover([50, 100], [0.01, -0.02]) is None  # turns the other way
    assert crossover([50, 100, 200], [-0.01, 0.0, 0.03]) == 100.0  # a tie, then FT ahead: the tie's size
    assert math.isclose(crossover([50, 100, 200], [-0.01, -0.01, 0.01]), math.sqrt(100 * 200), rel_tol=1e-9)
