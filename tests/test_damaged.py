"""Damaged run directories (issue 17 §2): report and visualize list ``corrupt: <path>: <why>`` and leave the run
out of every mean; a sweep sets the damaged files aside and trains the run again; load_run names the file."""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

import vptstudy
from tests.helpers.cli import run_cli
from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.damaged import CorruptFile
from vptstudy.train import fit

FILES = ("result.json", "metrics.jsonl", "config.json", "trainable.safetensors")
DAMAGE = {
    "truncated": lambda data: data[: len(data) // 2],
    "garbage": lambda data: b"\x00\xffnot what was written\x13" * 8,
}


def tiny_cfg(out: Path, seed: int) -> RunConfig:
    return RunConfig(
        task="toy/digits",
        method="linear",
        model="test_vit",
        pretrained=False,
        img_size=32,
        epochs=1,
        batch_size=128,
        out_dir=str(out),
        test_subsample=100,
        split="final",
        seed=seed,
    )


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory) -> Path:
    """Two finished final runs of one cell (seeds 42 and 44), trained once for the module."""
    out = tmp_path_factory.mktemp("runs")
    for seed in (42, 44):
        assert fit(tiny_cfg(out, seed))["status"] == "ok"
    return out


@pytest.fixture
def runs_copy(two_runs, tmp_path) -> Path:
    out = tmp_path / "runs"
    shutil.copytree(two_runs, out)
    return out


def seed_dir(out: Path, seed: int) -> Path:
    return next(r for r in runs.iter_runs(out) if r.name == f"seed{seed}")


def damage(run: Path, name: str, how: str) -> Path:
    path = run / name
    path.write_bytes(DAMAGE[how](path.read_bytes()))
    return path


@pytest.mark.parametrize("how", DAMAGE)
@pytest.mark.parametrize("name", FILES)
def test_report_lists_the_damaged_run_and_leaves_it_out_of_the_mean(runs_copy, name, how, capsys, monkeypatch):
    good = runs.read_result(seed_dir(runs_copy, 42))["final"]["test_acc"]
    path = damage(seed_dir(runs_copy, 44), name, how)
    res = run_cli(["report", str(runs_copy)], capsys, monkeypatch)
    assert res.code == 0, res.err
    assert f"corrupt: {path}: " in res.out and "excluded 1 corrupt run(s) from every mean" in res.out
    (row,) = list(csv.DictReader(io.StringIO((runs_copy / "report.csv").read_text())))
    assert row["seeds"] == "1" and float(row["mean_acc"]) == pytest.approx(good, abs=1e-6)
    assert f"corrupt: {path}: " in (runs_copy / "report.md").read_text()


@pytest.mark.parametrize("name", ["metrics.jsonl", "config.json", "result.json"])
def test_visualize_curves_lists_the_damaged_run_and_draws_the_rest(runs_copy, name, tmp_path, capsys, monkeypatch):
    path = damage(seed_dir(runs_copy, 44), name, "garbage")
    res = run_cli(["visualize", "curves", str(runs_copy), "--out", str(tmp_path / "c.png")], capsys, monkeypatch)
    assert res.code == 0, res.err
    assert f"corrupt: {path}: " in res.out and (tmp_path / "c.png").is_file()
    assert "seed42" in res.out and "seed44" not in res.out.replace(str(path), "")


@pytest.mark.parametrize("name", ["config.json", "trainable.safetensors"])
def test_load_run_names_the_damaged_file(runs_copy, name):
    path = damage(seed_dir(runs_copy, 42), name, "truncated")
    with pytest.raises(CorruptFile) as err:
        vptstudy.load_run(seed_dir(runs_copy, 42))
    assert err.value.path == path and str(path) in err.value.line()


@pytest.mark.parametrize("name", FILES)
def test_rerun_sets_damaged_files_aside_and_trains_again(runs_copy, name):
    run = seed_dir(runs_copy, 44)
    before = runs.read_result(run)
    bad = damage(run, name, "garbage").read_bytes()
    events: list[tuple[str, dict]] = []
    result = fit(tiny_cfg(runs_copy, 44), lambda event, info: events.append((event, info)))
    assert result["status"] == "ok" and result["final"]["test_acc"] == before["final"]["test_acc"]
    assert runs.damage(run) == [] and runs.read_result(run)["status"] == "ok"
    kept = list((run / "rejected").glob(f"{name}.*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bad
    warnings = [info["message"] for event, info in events if event == "warning"]
    assert len(warnings) == 1 and f"corrupt: {run / name}: " in warnings[0]


def test_damaged_search_json_is_listed(runs_copy, capsys, monkeypatch):
    search = seed_dir(runs_copy, 42).parent.parent / "search.json"
    search.write_text('{"chosen": ')
    res = run_cli(["report", str(runs_copy)], capsys, monkeypatch)
    assert res.code == 0 and f"corrupt: {search}: invalid JSON" in res.out
