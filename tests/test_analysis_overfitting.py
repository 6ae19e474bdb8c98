"""The overfitting rule on synthetic loss curves: rising, flat, noisy, spiky, diverging, short."""

from __future__ import annotations

import numpy as np
import pytest

from vptstudy.analysis.overfitting import (
    DIVERGING,
    NO_OVERFITTING,
    OVERFITTING,
    TOO_SHORT,
    Verdict,
    overfitting_verdict,
)


def rows(train, test, phase="main"):
    return [
        {"epoch": i + 1, "phase": phase, "train_loss": float(a), "test_loss": float(b)}
        for i, (a, b) in enumerate(zip(train, test, strict=True))
    ]


EPOCHS = np.arange(100)
FALLING_TRAIN = 2.0 * np.exp(-EPOCHS / 15) + 0.01


def u_shaped_test(min_at: int = 30, low: float = 0.8, slope: float = 0.01) -> np.ndarray:
    return low + 1.5 * np.exp(-EPOCHS / 8) + slope * np.clip(EPOCHS - min_at, 0, None)


def test_rising_test_loss_with_falling_train_loss_overfits():
    v = overfitting_verdict(rows(FALLING_TRAIN, u_shaped_test()))
    assert v.kind == OVERFITTING and v.overfits
    assert 20 <= v.min_epoch <= 40
    assert v.rise > 0.5
    assert "overfitting" in str(v) and "after ep" in str(v)


def test_flat_and_falling_test_loss_does_not_overfit():
    flat = 0.8 + 1.5 * np.exp(-EPOCHS / 8)
    v = overfitting_verdict(rows(FALLING_TRAIN, flat))
    assert v.kind == NO_OVERFITTING and not v.overfits


def test_noisy_plateau_does_not_overfit_but_noisy_rise_does():
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.04, size=100)  # 5% of the plateau level, epoch to epoch
    plateau = 0.8 + 1.5 * np.exp(-EPOCHS / 8) + noise
    assert overfitting_verdict(rows(FALLING_TRAIN, plateau)).kind == NO_OVERFITTING
    rising = u_shaped_test(slope=0.006) + noise
    assert overfitting_verdict(rows(FALLING_TRAIN, rising)).kind == OVERFITTING


def test_single_late_spike_is_not_persistent():
    test = 0.8 + 1.5 * np.exp(-EPOCHS / 8)
    test[-1] = 5.0
    assert overfitting_verdict(rows(FALLING_TRAIN, test)).kind == NO_OVERFITTING


def test_small_rise_below_margin_is_not_overfitting():
    test = u_shaped_test(slope=0.0004)  # +3% by the end
    assert overfitting_verdict(rows(FALLING_TRAIN, test)).kind == NO_OVERFITTING


def test_rising_test_with_rising_train_is_diverging():
    train = np.concatenate([FALLING_TRAIN[:30], FALLING_TRAIN[30] + 0.02 * np.arange(70)])
    v = overfitting_verdict(rows(train, u_shaped_test()))
    assert v.kind == DIVERGING and not v.overfits


def test_short_and_non_finite_runs():
    assert overfitting_verdict(rows([1, 0.5, 0.2], [1, 1.2, 1.5])).kind == TOO_SHORT
    r = rows(FALLING_TRAIN, u_shaped_test())
    for row in r[:95]:
        row["test_loss"] = "nan"  # read_metrics stores NaN as a string
    assert overfitting_verdict(r).kind == TOO_SHORT


def test_phase_selection_for_two_phase_runs():
    ft = rows(FALLING_TRAIN, u_shaped_test(), phase="ft")
    pt = rows(FALLING_TRAIN, 0.8 + 1.5 * np.exp(-EPOCHS / 8), phase="pt")
    for i, row in enumerate(pt):
        row["epoch"] = 101 + i
    assert overfitting_verdict(ft + pt, phase="ft").kind == OVERFITTING
    v = overfitting_verdict(ft + pt, phase="pt")
    assert v.kind == NO_OVERFITTING and v.phase == "pt"


@pytest.mark.parametrize("field", ["verdict", "overfits", "min_epoch", "rise"])
def test_verdict_dict_has_report_fields(field):
    d = overfitting_verdict(rows(FALLING_TRAIN, u_shaped_test())).to_dict()
    assert field in d
    assert Verdict(TOO_SHORT, 2).to_dict()["rise"] is None
