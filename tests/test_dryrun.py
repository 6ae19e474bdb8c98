"""--dry-run on train, the sweeps and `vptstudy run STUDY`: resolved plans, counts and images; nothing runs."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers.cli import run_cli

TRAIN = ["train", "--task", "toy/digits", "--model", "test_vit", "--no-pretrained"]


def _json(args: list[str], capsys, monkeypatch) -> dict:
    res = run_cli([*args, "--dry-run", "--json"], capsys, monkeypatch)
    assert res.code == 0, res.err
    return json.loads(res.out)


def test_train_dry_run_resolves_the_plan_and_counts_images(capsys, monkeypatch, tmp_path) -> None:
    out = tmp_path / "runs"
    data = _json([*TRAIN, "--method", "vpt-deep", "--epochs", "20", "--out-dir", str(out)], capsys, monkeypatch)
    assert (data["runs"], data["finished"], data["tune_runs"], data["final_runs"]) == (1, 0, 1, 0)
    (row,) = data["plans"]
    assert (row["optimizer"], row["batch_size"], row["warmup_epochs"], row["epochs"]) == ("sgd", 64, 2, 20)
    assert row["base_lr"] == [1.0] and row["lr"] == [0.25] and row["weight_decay"] == [0.001]
    assert (row["num_prompts"], row["prompt_dropout"], row["backbone_dropout"]) == ([10], 0.1, 0.0)
    # toy/digits: train800 / val200; a tuning run evaluates val at the rungs (10 and 30 of 100 epochs: 2 and 6 of
    # 20) and at the last epoch, and never test
    assert data["train_images"] == 800 * 20
    assert data["eval_images"] == 200 * 3
    assert not out.exists()  # a dry run writes nothing


def test_final_split_counts_the_whole_test_set_once(capsys, monkeypatch, tmp_path) -> None:
    args = [*TRAIN, "--method", "ft", "--epochs", "4", "--split", "final", "--test-subsample", "100"]
    data = _json([*args, "--out-dir", str(tmp_path)], capsys, monkeypatch)
    assert data["train_images"] == 1000 * 4
    assert data["eval_images"] == 100 * 4 + 797


def test_dry_run_identity_cases_through_the_cli(capsys, monkeypatch, tmp_path) -> None:
    def run_dir(*extra: str) -> str:
        data = _json([*TRAIN, "--out-dir", str(tmp_path), *extra], capsys, monkeypatch)
        return data["run_list"][0]["run_dir"]

    assert run_dir("--method", "vpt-deep") == run_dir("--method", "vpt-deep", "--lr", "1", "--wd", "0.001")
    assert run_dir("--method", "ft") == run_dir("--method", "ft", "--prompts", "5")
    assert run_dir("--method", "vpt-deep") != run_dir("--method", "vpt-deep", "--prompts", "5")


def test_a_finished_run_is_counted_finished(capsys, monkeypatch, tmp_path) -> None:
    args = [*TRAIN, "--method", "linear", "--epochs", "1", "--test-subsample", "50", "--img-size", "32"]
    args += ["--train-size", "40", "--out-dir", str(tmp_path)]  # a finished run is what counts, not its training
    assert run_cli(args, capsys, monkeypatch).code == 0
    data = _json(args, capsys, monkeypatch)
    assert (data["runs"], data["finished"]) == (1, 1)
    assert Path(data["run_list"][0]["run_dir"]).is_dir()


STUDY = """
name = "tiny"
kind = "search"
tasks = ["toy/digits", "toy/count"]
methods = ["ft", "vpt-deep"]
seeds = [1, 2, 3]

[grid.ft]
lr = [0.001, 0.0005]
wd = [0.0]

[grid.vpt-deep]
lr = [1.0]
wd = [0.01, 0.0]

[run]
model = "test_vit"
pretrained = false
epochs = 10
"""


def test_study_dry_run_counts_runs_and_images(capsys, monkeypatch, tmp_path) -> None:
    study = tmp_path / "tiny.toml"
    study.write_text(STUDY + f'out_dir = "{tmp_path / "runs"}"\n')
    data = _json(["run", str(study)], capsys, monkeypatch)
    # per task: 2 (ft) + 2 (vpt-deep) tuning runs, then 3 seeds each: 2 tasks x (4 + 6)
    assert (data["runs"], data["tune_runs"], data["final_runs"], data["finished"]) == (20, 8, 12, 0)
    by_method = {row["method"]: row for row in data["plans"]}
    assert by_method["ft"]["batch_size"] == 128 and by_method["vpt-deep"]["batch_size"] == 64
    assert by_method["ft"]["lr"] == [0.0005, 0.00025]  # the grid x 128 / 256
    assert by_method["ft"]["runs"] == 2 * (2 + 3)
    # toy tasks: tune 800 train / 200 val, final 1000 train; test: digits 797, count 1000 (1000-image subsample)
    tune_train, final_train = 8 * 800 * 10, 12 * 1000 * 10
    assert data["train_images"] == tune_train + final_train
    tune_eval = 8 * 200 * 3  # val at epochs 1 and 3 (the rungs 10 and 30 of 100) and 10; no test
    final_eval = 6 * 797 * 10 + 6 * 1000 * 10
    assert data["eval_images"] == tune_eval + final_eval
    assert not (tmp_path / "runs").exists()


def test_study_dry_run_prints_a_table(capsys, monkeypatch, tmp_path) -> None:
    study = tmp_path / "tiny.toml"
    study.write_text(STUDY)
    res = run_cli(["run", str(study), "--dry-run"], capsys, monkeypatch)
    assert res.code == 0, res.err
    assert "resolved plans" in res.out and "vpt-deep" in res.out and "adamw" in res.out
    assert "20 runs (8 tuning, 12 final), 0 finished" in res.out


def test_invalid_study_gives_the_same_line_as_a_real_run(capsys, monkeypatch, tmp_path) -> None:
    study = tmp_path / "bad.toml"
    study.write_text(STUDY.replace("[run]\n", "[method_options.vpt-deep]\nrnak = 3\n\n[run]\n"))
    dry = run_cli(["run", str(study), "--dry-run"], capsys, monkeypatch)
    real = run_cli(["run", str(study)], capsys, monkeypatch)
    assert dry.code == real.code == 2
    assert dry.err == real.err and len(dry.err.strip().splitlines()) == 1 and "rnak" in dry.err


def test_sweep_oneshot_dry_run(capsys, monkeypatch, tmp_path) -> None:
    args = ["sweep-oneshot", "--task", "toy/digits", "--method", "vpt-deep", "--model", "test_vit", "--no-pretrained"]
    data = _json(
        [*args, "--draws", "2", "--seeds", "5", "--epochs", "3", "--out-dir", str(tmp_path)], capsys, monkeypatch
    )
    assert (data["runs"], data["tune_runs"], data["final_runs"]) == (2, 0, 2)
    assert data["train_images"] == 2 * (10 + 10) * 3  # final: 1 train + 1 val image per class, 10 classes


def test_json_without_dry_run_is_an_error(capsys, monkeypatch, tmp_path) -> None:
    res = run_cli([*TRAIN, "--method", "ft", "--json", "--out-dir", str(tmp_path / "o")], capsys, monkeypatch)
    assert res.code == 2 and "--json" in res.err and not (tmp_path / "o").exists()
