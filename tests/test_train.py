"""The training package (vptstudy.train), through its checkpoint policy: when a run writes its resumable checkpoint:
every ``checkpoint_every`` epochs, at most once per ``checkpoint_minutes``; the policy is not part of a run's
identity."""

from __future__ import annotations

import pytest

from tests.helpers.cli import run_cli
from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.plan import plan
from vptstudy.train import checkpoint_due


def cfg(**kw) -> RunConfig:
    return RunConfig(task="toy/digits", method="vpt-deep", epochs=10, **kw)


def test_every_epoch_when_minutes_is_zero() -> None:
    c = cfg(checkpoint_minutes=0)
    assert all(checkpoint_due(c, e, 0.0) for e in range(10))


def test_minutes_gate_the_epoch_rule() -> None:
    c = cfg()  # default: every epoch, at most once per 5 minutes
    assert c.checkpoint_minutes == 5.0
    assert not checkpoint_due(c, 3, 299.0)
    assert checkpoint_due(c, 3, 300.0)


def test_every_k_epochs_and_at_the_end_of_a_phase() -> None:
    c = cfg(checkpoint_every=3, checkpoint_minutes=0)
    assert [e for e in range(10) if checkpoint_due(c, e, 0.0)] == [2, 5, 8, 9]
    assert not any(checkpoint_due(cfg(checkpoint_every=0, checkpoint_minutes=0), e, 1e9) for e in range(10))


def test_policy_does_not_change_the_run_directory() -> None:
    base = plan(cfg()).identity
    assert plan(cfg(checkpoint_minutes=0)).identity == base
    assert plan(cfg(checkpoint_every=4)).identity == base
    assert plan(cfg(num_prompts=5)).identity != base


def test_negative_minutes_is_a_user_error(capsys, monkeypatch, tmp_path) -> None:
    args = ["train", "--task", "toy/digits", "--method", "linear", "--model", "test_vit", "--no-pretrained"]
    res = run_cli([*args, "--checkpoint-minutes", "-1", "--out-dir", str(tmp_path / "o")], capsys, monkeypatch)
    assert res.code == 2 and "invalid --checkpoint-minutes -1.0" in res.err
    assert not (tmp_path / "o").exists()


def test_nan_minutes_is_rejected() -> None:
    with pytest.raises(UserError, match="checkpoint-minutes"):
        cfg(checkpoint_minutes=float("nan"))
