"""Checkpoints hold no pickle: a planted one never runs, a bad one is moved aside, a resume is bit-identical."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import run_cli
from vptstudy import checkpoint, runs
from vptstudy.config import RunConfig
from vptstudy.optim import make_optimizer, warmup_cosine
from vptstudy.train import fit

TINY = ["--model", "test_vit", "--no-pretrained", "--img-size", "32", "--batch-size", "64"]


class Planted:
    """A pickle whose loading creates a marker file: what an attacker would put in a shared run folder."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_state_round_trips_exactly_with_types(tmp_path) -> None:
    model = torch.nn.Linear(4, 3)
    opt = make_optimizer(
        "adamw", [{"params": list(model.parameters()), "weight_decay": 0.1}], 0.01, torch.device("cpu")
    )
    sched = torch.optim.lr_scheduler.LambdaLR(opt, warmup_cosine(10, 2))
    model(torch.randn(5, 4)).sum().backward()
    opt.step()
    sched.step()
    gen = torch.Generator().manual_seed(3)
    state = {
        "model": dict(model.state_dict()),
        "optimizer": opt.state_dict(),
        "schedule": sched.state_dict(),
        "shuffle": gen.get_state(),
        "rng": torch.get_rng_state(),
        "cuda_rng": None,
        "elapsed": 0.1 + 0.2,
        "last_row": {"val_acc": None, "train_loss": 1 / 3},
    }
    checkpoint.save(tmp_path / "c.safetensors", state)
    back = checkpoint.load(tmp_path / "c.safetensors")
    assert back["elapsed"] == 0.1 + 0.2 and back["last_row"] == state["last_row"] and back["cuda_rng"] is None
    assert isinstance(back["optimizer"]["param_groups"][0]["betas"], tuple)
    assert set(back["optimizer"]["state"]) == {0, 1}  # int keys, as the optimizer wrote them
    for key in ("exp_avg", "exp_avg_sq", "step"):
        assert torch.equal(back["optimizer"]["state"][0][key], state["optimizer"]["state"][0][key])
    assert back["shuffle"].dtype == torch.uint8 and torch.equal(back["shuffle"], state["shuffle"])
    assert back["schedule"] == state["schedule"]
    opt.load_state_dict(back["optimizer"])  # loads into a live optimizer


def test_a_pickle_is_not_a_checkpoint(tmp_path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "c.safetensors"
    path.write_bytes(pickle.dumps(Planted(marker)))
    with pytest.raises(checkpoint.CheckpointError):
        checkpoint.load(path)
    assert not marker.exists()


@pytest.mark.parametrize("name", [checkpoint.LEGACY, runs.CHECKPOINT])
def test_planted_pickle_in_a_finished_run_never_runs_and_the_run_restarts(name, tmp_path, capsys, monkeypatch) -> None:
    args = ["train", "--task", "toy/digits", "--method", "linear", *TINY, "--epochs", "2"]
    args += ["--out-dir", str(tmp_path / "out")]
    assert run_cli(args, capsys, monkeypatch).code == 0
    run = next(runs.iter_runs(tmp_path / "out"))
    first = runs.read_result(run)
    (run / runs.RESULT).unlink()
    marker = tmp_path / "pwned"
    (run / name).write_bytes(pickle.dumps(Planted(marker)))
    res = run_cli(args, capsys, monkeypatch)
    assert res.code == 0, res.err
    assert not marker.exists()
    warnings = [line for line in res.err.splitlines() if line.startswith("vptstudy: warning:")]
    assert len(warnings) == 1 and "cannot be loaded" in warnings[0] and "training from scratch" in warnings[0]
    rejected = list((run / checkpoint.REJECTED).iterdir())
    assert len(rejected) == 1 and rejected[0].read_bytes() == pickle.dumps(Planted(marker))  # kept for inspection
    assert not (run / name).exists()
    again = runs.read_result(run)
    assert again["final"] == first["final"]  # restarted from scratch: the same run as the first time
    assert [r["epoch"] for r in runs.read_metrics(run)] == [1, 2]


def test_interrupted_run_resumes_bit_identically(tmp_path) -> None:
    def cfg(out: str) -> RunConfig:
        return RunConfig(
            task="toy/digits",
            method="ft",
            model="test_vit",
            pretrained=False,
            img_size=32,
            batch_size=64,
            epochs=3,
            test_subsample=100,
            checkpoint_minutes=0,
            out_dir=str(tmp_path / out),
        )

    fit(cfg("straight"))

    def stop_after_two(event: str, info: dict) -> None:
        if event == "epoch" and info["epoch"] == 2:
            raise KeyboardInterrupt  # after epoch 2's metrics line, before its checkpoint: resumes from epoch 1

    with pytest.raises(KeyboardInterrupt):
        fit(cfg("stopped"), stop_after_two)
    run = next(runs.iter_runs(tmp_path / "stopped"))
    assert (run / runs.CHECKPOINT).is_file() and not (run / runs.LOCK).exists()
    events = []
    fit(cfg("stopped"), lambda e, i: events.append((e, i.get("epoch"))))
    assert ("resume", 1) in events
    straight = next(runs.iter_runs(tmp_path / "straight"))
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(runs.read_metrics(run)) == strip(runs.read_metrics(straight))
    assert runs.read_result(run)["final"] == runs.read_result(straight)["final"]
    assert not (run / runs.CHECKPOINT).exists()
