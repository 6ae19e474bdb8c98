"""study.with_run: a command's change to a loaded study's [run] is checked again, as a study file's is."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers.cli import run_cli
from vptstudy.demo import STUDIES_DIR, demo_studies
from vptstudy.errors import UserError
from vptstudy.study import load_study, with_run

DEMO = STUDIES_DIR / "demo.toml"


def test_with_run_changes_only_the_run_table() -> None:
    study = load_study(DEMO)
    changed = with_run(study, "test", out_dir="elsewhere", epochs=3)
    assert changed.run == {**study.run, "out_dir": "elsewhere", "epochs": 3}
    assert (changed.tasks, changed.methods, changed.grid) == (study.tasks, study.methods, study.grid)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"epochs": 0}, "invalid --epochs 0 (test: run.epochs)"),
        ({"bogus": 1}, "unknown key 'run.bogus' (test: run.bogus)"),
        ({"out_dir": 3}, "run.out_dir must be a string, not an integer (3) (test: run.out_dir)"),
    ],
)
def test_with_run_rejects_what_a_study_file_may_not_hold(changes, message) -> None:
    with pytest.raises(UserError) as info:
        with_run(load_study(DEMO), "test", **changes)
    assert info.value.line().startswith(message)


def test_quick_demo_study_is_validated(tmp_path) -> None:
    [study] = demo_studies(tmp_path, quick=True)
    assert study.run["epochs"] == 2 and study.run["out_dir"] == str(tmp_path / "runs")


def test_run_out_dir_reaches_every_run(tmp_path: Path, capsys, monkeypatch) -> None:
    res = run_cli(["run", str(DEMO), "--out-dir", str(tmp_path / "x"), "--dry-run", "--json"], capsys, monkeypatch)
    assert res.code == 0, res.err
    dirs = [r["run_dir"] for r in json.loads(res.out)["run_list"]]
    assert dirs and all(d.startswith(str(tmp_path / "x" / "demo")) for d in dirs)
