"""The halving benchmark: its replay chooses what a real ``--search halving`` chooses and counts the epochs that
search trains; its table says what it measured."""

from __future__ import annotations

import dataclasses
import json

import pytest

from vptstudy import runs
from vptstudy.halving_bench import SearchBench, bench_study, run_search_bench, table, trained_epochs
from vptstudy.study import with_run
from vptstudy.sweep import run_study

TINY = (
    ("model", "test_vit"),
    ("pretrained", False),
    ("img_size", 32),
    ("epochs", 4),
    ("warmup_epochs", 0),
    ("train_size", 40),
    ("batch_size", 20),
    ("test_subsample", 50),
)


@pytest.mark.slow  # about 45 s: 14 grid runs, a real halving search of the same units, finals
def test_the_replay_is_a_real_halving_search_and_counts_its_epochs(tmp_path) -> None:
    cfg = SearchBench(
        str(tmp_path / "bench"),
        tasks=("toy/digits",),
        methods=("ft", "ft-then-pt"),
        wds=(0.0,),
        settings=((25, 50),),
        seeds=1,
        workers=1,
        run=TINY,
    )
    figures = run_search_bench(cfg)
    real = with_run(dataclasses.replace(bench_study(cfg), search_mode="halving"), "test", rungs=[25, 50])
    real = with_run(real, "test", out_dir=str(tmp_path / "real"))
    summaries = run_study(real)
    for row, summary in zip(figures["units"], summaries, strict=True):
        assert tuple(row["halving"]["25,50"]["choice"]) == summary["chosen"]
    epochs = 0
    for run in runs.iter_runs(tmp_path / "real"):
        cfg_run = runs.read_config(run)
        if cfg_run.split == "tune":
            epochs += trained_epochs(cfg_run)
    assert sum(row["halving"]["25,50"]["epochs"] for row in figures["units"]) == epochs
    assert figures["units"][0]["configs"] == 4 and figures["units"][1]["configs"] == 10


def test_the_table_gives_epochs_used_same_choices_and_test_gaps() -> None:
    figures = {
        "settings": ["10,30"],
        "rung_epochs": {"10,30": [1, 3]},
        "epochs": 10,
        "units": [
            {
                "unit": "a ft",
                "grid_epochs": 40,
                "grid_test_acc": 0.5,
                "halving": {"10,30": {"epochs": 10, "same": True}},
            },
            {
                "unit": "a vpt-deep",
                "grid_epochs": 60,
                "grid_test_acc": 0.5,
                "halving": {"10,30": {"epochs": 15, "same": False, "test_acc": 0.47}},
            },
        ],
    }
    assert table(figures).splitlines()[2] == "| 10,30 (epochs 1,3 of 10) | 25/100 = 25.0% | 1/2 | a vpt-deep: -3.0 |"


def test_bench_search_on_the_command_line_prints_the_table_and_writes_the_figures(tmp_path, capsys, monkeypatch):
    from tests.helpers.cli import run_cli
    from vptstudy import halving_bench

    asked = []
    figures = {
        "settings": ["10,30"],
        "rung_epochs": {"10,30": [1, 3]},
        "epochs": 10,
        "units": [
            {"unit": "a ft", "grid_epochs": 8, "grid_test_acc": None, "halving": {"10,30": {"epochs": 2, "same": True}}}
        ],
        "seconds": 3.0,
    }
    monkeypatch.setattr(halving_bench, "run_search_bench", lambda cfg, callback: asked.append(cfg) or figures)
    res = run_cli(
        ["bench", "--search", "--quick", "--out-dir", str(tmp_path / "r"), "--out", str(tmp_path / "f.json")],
        capsys,
        monkeypatch,
    )
    assert res.code == 0, res.err
    assert asked == [SearchBench(str(tmp_path / "r"), quick=True, workers=2)]
    assert "| 10,30 (epochs 1,3 of 10) | 2/8 = 25.0% | 1/1 | - |" in res.out
    assert json.loads((tmp_path / "f.json").read_text()) == figures


def test_the_script_s_longer_schedule_warms_up_for_a_tenth_and_reaches_the_study(tmp_path) -> None:
    import argparse

    from benchmarks.halving import _run_overrides

    args = argparse.Namespace(epochs=20, warmup_epochs=None, train_size=160)
    run = _run_overrides(args)
    assert run == (("epochs", 20), ("warmup_epochs", 2), ("train_size", 160))
    assert _run_overrides(argparse.Namespace(epochs=None, warmup_epochs=None, train_size=None)) == ()
    study = bench_study(SearchBench(out_dir=str(tmp_path), quick=True, run=run))
    values = study.run_for("ft")
    assert (values["epochs"], values["warmup_epochs"], values["train_size"]) == (20, 2, 160)
