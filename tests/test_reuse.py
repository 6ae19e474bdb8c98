"""FT-then-PT starts its PT phase from the matching finished FT run: bit for bit what training the FT phase gives."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file

from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.train import fit

TINY = dict(task="toy/digits", model="test_vit", pretrained=False, img_size=32, epochs=3, batch_size=32, train_size=80)
FT_LR, FT_WD = 0.001, 0.01


def _rows(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in runs.read_metrics(run)]


def _ftpt(out: Path, **extra) -> RunConfig:
    options = (("ft_lr", FT_LR), ("ft_wd", FT_WD))
    return RunConfig(
        method="ft-then-pt", base_lr=0.5, weight_decay=0.0, method_options=options, out_dir=str(out), **TINY, **extra
    )


def test_pt_phase_from_ft_run_equals_training_ft_again(tmp_path) -> None:
    ft = fit(RunConfig(method="ft", base_lr=FT_LR, weight_decay=FT_WD, out_dir=str(tmp_path / "a"), **TINY))
    reused = fit(_ftpt(tmp_path / "a"))
    again = fit(_ftpt(tmp_path / "b"))  # no FT run there: the FT phase trains
    assert reused["reused"]["run_dir"] == ft["run_dir"]
    assert "reused" not in again
    config = json.loads((Path(reused["run_dir"]) / runs.CONFIG).read_text())
    assert config["reused"]["identity"] == Path(ft["run_dir"]).parent.name.rsplit("-", 1)[1]
    assert _rows(Path(reused["run_dir"])) == _rows(Path(again["run_dir"]))
    assert [r["phase"] for r in _rows(Path(reused["run_dir"]))] == ["ft"] * 3 + ["pt"] * 3
    a = load_file(str(Path(reused["run_dir"]) / runs.TRAINABLE))
    b = load_file(str(Path(again["run_dir"]) / runs.TRAINABLE))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert reused["final"] == again["final"] and reused["phases"] == again["phases"]


def test_other_ft_lr_is_not_reused(tmp_path) -> None:
    fit(RunConfig(method="ft", base_lr=0.005, weight_decay=FT_WD, out_dir=str(tmp_path), **TINY))
    assert "reused" not in fit(_ftpt(tmp_path))


def test_tuning_runs_evaluate_val_at_rungs_only_and_no_test(tmp_path) -> None:
    tune = fit(RunConfig(method="linear", out_dir=str(tmp_path), **{**TINY, "epochs": 10}))
    rows = runs.read_metrics(Path(tune["run_dir"]))
    assert [r["epoch"] for r in rows if r["val_acc"] is not None] == [1, 3, 10]  # rungs 10, 30 of 100; the last
    assert all(r["test_acc"] is None and r["test_n"] == 0 for r in rows)
    assert tune["final"]["val_acc"] == rows[-1]["val_acc"] and tune["final"]["test_acc"] is None
    final = fit(RunConfig(method="linear", split="final", test_subsample=50, out_dir=str(tmp_path), **TINY))
    rows = runs.read_metrics(Path(final["run_dir"]))
    assert all(r["test_n"] == 50 and r["test_acc"] is not None for r in rows)
    assert final["final"]["test_n"] == final["sizes"]["test"]
