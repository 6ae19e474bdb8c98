"""Successive halving on a tiny grid: survivors are the grid's runs, stopped runs are marked and resumable."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers.cli import run_cli
from vptstudy import pools, runs
from vptstudy.config import RunConfig
from vptstudy.errors import RunFailed, UserError
from vptstudy.halving import keep_count, scheduled_epochs
from vptstudy.rungs import STOPPED, divergence, rung_epochs
from vptstudy.study import parse_study
from vptstudy.sweep import run_study
from vptstudy.train import fit

LRS = [5.0, 1.0, 0.5, 0.1]
TINY_RUN = {
    "model": "test_vit",
    "pretrained": False,
    "img_size": 32,
    "epochs": 4,
    "batch_size": 128,
    "test_subsample": 50,
    "rungs": [25, 50],
}  # rung epochs 1 and 2 of 4


def study(out: Path, search: str) -> dict:
    return {
        "name": "h",
        "kind": "search",
        "tasks": ["toy/digits"],
        "methods": ["linear"],
        "seeds": [42],
        "run": {**TINY_RUN, "out_dir": str(out), "search": search, "eta": 2},
        "grid": {"linear": {"lr": LRS, "wd": [0.0]}},
    }


def search_json(out: Path) -> dict:
    return json.loads(next(out.rglob("search.json")).read_text())


def rows(run: Path) -> list[dict]:
    return [{k: v for k, v in r.items() if k != "seconds"} for r in runs.read_metrics(run)]


def tune_runs(out: Path) -> dict[float, Path]:
    found = {}
    for run in runs.iter_runs(out):
        cfg = runs.read_config(run)
        if cfg.split == "tune":
            found[cfg.base_lr] = run
    return found


def same_run(a: Path, b: Path) -> None:
    assert rows(a) == rows(b)
    wa, wb = load_file(str(a / runs.TRAINABLE)), load_file(str(b / runs.TRAINABLE))
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)


def test_rungs_scale_with_the_schedule() -> None:
    assert rung_epochs((10, 30), 100) == (10, 30)
    assert rung_epochs((10, 30), 10) == (1, 3)
    assert rung_epochs((10, 30), 4) == (1,)  # 30 of 100 is epoch 1 of 4 too
    assert rung_epochs((10, 100), 50) == (5,)  # the last epoch is no rung


def test_keep_counts_round_up_so_small_grids_keep_a_margin() -> None:
    assert [keep_count(n, 3) for n in range(1, 11)] == [1, 1, 1, 2, 2, 2, 3, 3, 3, 4]
    assert keep_count(40, 3) == 14 and keep_count(14, 3) == 5 and keep_count(4, 2) == 2
    # the cost on the study's grids (rungs 10, 30 of 100, eta 3): 40 -> 14 -> 5 and 16 -> 6 -> 2
    assert scheduled_epochs(40, 3, (10, 30), 100) == 40 * 10 + 14 * 20 + 5 * 70 == 1030  # 25.75% of 4,000
    assert scheduled_epochs(16, 3, (10, 30), 100) == 16 * 10 + 6 * 20 + 2 * 70 == 420  # 26.25% of 1,600
    assert scheduled_epochs(40, 3, (), 100) == 4000


def test_halving_keeps_the_grids_runs_marks_stopped_ones_and_grid_completes_them(tmp_path, capsys, monkeypatch) -> None:
    (grid,) = run_study(parse_study(study(tmp_path / "grid", "grid")))
    (halved,) = run_study(parse_study(study(tmp_path / "halving", "halving")))
    record = search_json(tmp_path / "halving")
    assert record["search"] == "halving" and record["rungs"] == [
        {"epoch": 1, "entered": 4, "kept": 2},
        {"epoch": 2, "entered": 2, "kept": 1},
    ]
    assert halved["chosen"] == grid["chosen"]
    stopped = {c["lr"]: c["stopped_at"] for c in record["candidates"] if c["status"] == "stopped"}
    assert sorted(stopped.values()) == [1, 1, 2]
    full, half = tune_runs(tmp_path / "grid"), tune_runs(tmp_path / "halving")
    (survivor,) = set(LRS) - set(stopped)
    assert survivor == halved["chosen"][0]
    same_run(full[survivor], half[survivor])  # the survivor is the grid's run, line for line and bit for bit
    for lr, epoch in stopped.items():  # stopped runs keep their curve to the rung, resumable, marked
        assert rows(half[lr]) == rows(full[lr])[:epoch]
        assert json.loads((half[lr] / STOPPED).read_text())["epoch"] == epoch
        assert (half[lr] / runs.CHECKPOINT).is_file() and not runs.is_complete(half[lr])
    # the finals are the grid's finals
    assert [r["final"] for r in halved["results"]] == [r["final"] for r in grid["results"]]
    res = run_cli(["report", str(tmp_path / "halving")], capsys, monkeypatch)
    assert res.out.count("successive halving") == 3 and "stopped at epoch 1" in res.out
    # --search grid over the halving folder continues the stopped runs to the grid's result
    run_study(parse_study(study(tmp_path / "halving", "grid")))
    for lr, run in half.items():
        same_run(full[lr], run)
        assert not (run / STOPPED).exists()
    assert search_json(tmp_path / "halving")["chosen"] == search_json(tmp_path / "grid")["chosen"]


def test_killed_halving_search_resumes_to_the_same_choice(tmp_path, monkeypatch) -> None:
    (straight,) = run_study(parse_study(study(tmp_path / "straight", "halving")))
    real = pools.run_one

    def dies_on_the_second_rung(cfg, callback=None):
        if cfg.stop_epoch == 2:  # killed during the second rung, in its first run's epoch (after its metrics line)

            def boom(event: str, info: dict) -> None:
                if event == "epoch":
                    raise KeyboardInterrupt

            return real(cfg, boom)
        return real(cfg, callback)

    monkeypatch.setattr(pools, "run_one", dies_on_the_second_rung)
    with pytest.raises(KeyboardInterrupt):
        run_study(parse_study(study(tmp_path / "killed", "halving")))
    monkeypatch.setattr(pools, "run_one", real)
    (resumed,) = run_study(parse_study(study(tmp_path / "killed", "halving")))
    assert resumed["chosen"] == straight["chosen"]
    a, b = search_json(tmp_path / "straight"), search_json(tmp_path / "killed")
    strip = lambda rec: [{k: v for k, v in c.items() if k != "run_dir"} for c in rec["candidates"]]  # noqa: E731
    assert strip(a) == strip(b) and a["rungs"] == b["rungs"]


def test_diverging_config_stops_at_once_and_is_marked(tmp_path) -> None:
    cfg = RunConfig(
        task="toy/digits",
        method="linear",
        model="test_vit",
        pretrained=False,
        img_size=32,
        epochs=4,
        batch_size=128,
        base_lr=1e30,
        out_dir=str(tmp_path),
    )
    with pytest.raises(RunFailed, match="diverged"):
        fit(cfg)
    (run,) = runs.iter_runs(tmp_path)
    result = runs.read_result(run)
    assert result["status"] == "failed" and result["diverged"] is True and len(runs.read_metrics(run)) == 1
    # the loss rule: after warm-up, a loss above 3x the first epoch's; never inside warm-up, never a final run
    assert divergence(cfg, 7.0, 2.0, phase_epoch=3, warmup_epochs=1).startswith("training loss 7")
    assert divergence(cfg, 7.0, 2.0, phase_epoch=1, warmup_epochs=1) is None
    assert divergence(cfg, 5.0, 2.0, phase_epoch=3, warmup_epochs=1) is None
    assert divergence(cfg.replace(split="final"), 7.0, 2.0, phase_epoch=3, warmup_epochs=1) is None


def test_unknown_search_and_bad_eta_are_one_line_errors(tmp_path, capsys, monkeypatch) -> None:
    base = ["train", "--task", "toy/digits", "--method", "linear", "--out-dir", str(tmp_path)]
    res = run_cli([*base, "--search", "random"], capsys, monkeypatch)
    assert res.code == 2 and "unknown search 'random'" in res.err and "--search halving" in res.err
    res = run_cli([*base, "--search", "halving", "--eta", "1"], capsys, monkeypatch)
    assert res.code == 2 and "invalid --eta 1" in res.err
    bad = study(tmp_path, "halving")
    bad["run"]["search"] = "hyperband"
    with pytest.raises(UserError, match=r"unknown run\.search 'hyperband'"):
        parse_study(bad)
    assert not list(tmp_path.iterdir())


def test_finished_and_paused_runs_are_skipped_without_loading_data(tmp_path, monkeypatch) -> None:
    cfg = RunConfig(
        task="toy/digits",
        method="linear",
        model="test_vit",
        pretrained=False,
        img_size=32,
        epochs=3,
        batch_size=128,
        out_dir=str(tmp_path),
    )
    paused = fit(cfg.replace(stop_epoch=1))
    assert paused["status"] == "stopped" and paused["epoch"] == 1
    done = fit(cfg.replace(base_lr=0.5))

    def no_load(*args, **kwargs):
        raise AssertionError("data loaded for a run that needs no training")

    monkeypatch.setattr("vptstudy.train.prepare.load_task_data", no_load)
    assert fit(cfg.replace(base_lr=0.5)) == done
    assert fit(cfg.replace(stop_epoch=1)) == paused


@pytest.mark.slow
def test_halving_on_slurm_sends_each_rungs_runs_as_one_array_when_they_are_ready(tmp_path) -> None:
    pytest.importorskip("submitit")
    from vptstudy.executors import ExecutorSpec

    (inline,) = run_study(parse_study(study(tmp_path / "inline", "halving")))
    jobs: list[int] = []
    spec = ExecutorSpec(kind="slurm", cluster="local", log_dir=str(tmp_path / "logs"), time_min=5, runs_per_job=2)
    events = lambda event, info: jobs.append(len(info["jobs"])) if event == "submitted" else None  # noqa: E731
    (slurm,) = run_study(parse_study(study(tmp_path / "slurm", "halving")), spec, events)
    assert slurm["chosen"] == inline["chosen"]
    assert jobs == [2, 1, 1, 1]  # rung 1 (4 runs, 2 per job), rung 2 (2 runs), the survivor to the end, its final
    a, b = search_json(tmp_path / "inline"), search_json(tmp_path / "slurm")
    strip = lambda rec: [{k: v for k, v in c.items() if k != "run_dir"} for c in rec["candidates"]]  # noqa: E731
    assert strip(a) == strip(b) and a["rungs"] == b["rungs"]
