"""Studies: every key is checked for type and range before any run starts (issue 17 §3), a study whose runs fail
exits non-zero saying how many, and a command's change to a loaded study's [run] (with_run) is checked again."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.helpers.cli import run_cli
from tests.helpers.runs import TINY_RUN
from vptstudy.demo import STUDIES_DIR, demo_studies
from vptstudy.errors import UserError
from vptstudy.study import load_study, parse_study, with_run

BASE = 'name = "s"\nkind = "search"\ntasks = ["toy/digits"]\nmethods = ["ft"]\n'

# (study text, words the one error line must hold)
BAD = {
    "string for a number in fixed": (BASE + '[fixed.ft]\nlr = "x"\n', ["fixed.ft.lr must be a number", '"x"']),
    "string for oneshot.shots": (
        BASE.replace('"search"', '"oneshot"') + '[oneshot]\nshots = "x"\n',
        ["oneshot.shots must be an integer", "a string"],
    ),
    "value where a table belongs": ("grid = 3\n" + BASE, ["grid must be a table", "an integer (3)"]),
    "sub-table is a value": (BASE + "[fixed]\nft = 3\n", ["fixed.ft must be a table"]),
    "run.epochs as a string": (BASE + '[run]\nepochs = "10"\n', ["run.epochs must be an integer", '"10"']),
    "batch_size = true": (BASE + "[run]\nbatch_size = true\n", ["run.batch_size must be an integer", "true/false"]),
    "run.epochs zero": (BASE + "[run]\nepochs = 0\n", ["invalid --epochs 0", "run.epochs", "at least 1"]),
    "lr inf in the grid": (BASE + "[grid.ft]\nlr = [inf]\n", ["grid.ft.lr must be finite, not inf"]),
    "wd nan in run": (BASE + "[fixed.ft]\nwd = nan\n", ["fixed.ft.wd must be finite, not nan"]),
    "negative grid lr": (BASE + "[grid.ft]\nlr = [-1.0]\n", ["invalid grid.ft.lr -1", "> 0"]),
    "name ..": (BASE.replace('"s"', '".."'), ["invalid name '..'", "folder name"]),
    "name with a slash": (BASE.replace('"s"', '"a/b"'), ["invalid name 'a/b'"]),
    "model typo": (
        BASE + '[run]\nmodel = "vit_bsae_patch16_224"\n',
        ["unknown model 'vit_bsae_patch16_224'", "run.model"],
    ),
    "cuda on a cpu machine": (BASE + '[run]\ndevice = "cuda"\n', ["CUDA was asked for", "run.device"]),
    "bad device": (BASE + '[run]\ndevice = "tpu7"\n', ["unknown device 'tpu7'", "run.device"]),
    "method option typo": (
        BASE.replace('["ft"]', '["lora"]') + "[method_options.lora]\nrnak = 4\n",
        ["unknown method option 'rnak' for method lora", "method_options.lora", "rank"],
    ),
    "option for a method without options": (
        BASE + "[method_options.ft]\nrank = 4\n",
        ["unknown method option 'rank' for method ft", "its options: none"],
    ),
    "numeric option given text": (
        BASE.replace('["ft"]', '["ft-then-pt"]') + '[method_options.ft-then-pt]\nft_lr = "abc"\n',
        ["method option ft_lr='abc' of ft-then-pt is not a number"],
    ),
    "search flag as a string": (
        BASE.replace('"search"', '"datasize"') + '[datasize]\nsizes = [40]\nsearch = "no"\n',
        ["datasize.search must be true or false"],
    ),
    "negative seed": ("seeds = [42, -1]\n" + BASE, ["invalid seeds -1", "[0, 2^63)"]),
    "task not a string": (BASE.replace('["toy/digits"]', '[["toy/digits"]]'), ["tasks must be a non-empty list"]),
    "draws zero": (
        BASE.replace('"search"', '"oneshot"') + "[oneshot]\ndraws = 0\n",
        ["invalid oneshot.draws 0", ">= 1"],
    ),
}


@pytest.mark.parametrize("case", BAD)
def test_bad_study_values_are_one_line_naming_the_key(case, tmp_path):
    if case == "cuda on a cpu machine" and torch.cuda.is_available():
        pytest.skip("needs a machine without CUDA")
    text, words = BAD[case]
    path = tmp_path / "s.toml"
    path.write_text(text)
    with pytest.raises(UserError) as err:
        load_study(path)
    line = err.value.line()
    assert "\n" not in line and str(path) in line
    for word in words:
        assert word in line, (word, line)


def test_binary_study_file(tmp_path):
    path = tmp_path / "s.toml"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(UserError, match="study file is not UTF-8 text"):
        load_study(path)


def test_valid_study_keeps_its_values():
    s = parse_study(
        {
            "name": "ok-1.b",
            "kind": "oneshot",
            "tasks": ["toy/digits"],
            "methods": ["ft-then-pt", "lora"],
            "run": {"epochs": 3, "prompt_dropout": 0.0, "pretrained": False, "model": "test_vit"},
            "method_options": {"lora": {"rank": 4}, "ft-then-pt": {"ft_lr": 0.001}},
            "oneshot": {"shots": 2, "draws": 3, "search": True},
        }
    )
    assert (s.shots, s.draws, s.search, s.run["epochs"]) == (2, 3, True, 3)


def _study_on_missing_data(tmp_path, seeds: str, datasize: str) -> str:
    """A datasize study file on a folder task whose data root does not exist: every run is skipped."""
    path = tmp_path / "s.toml"
    run = {**TINY_RUN, "out_dir": str(tmp_path / "runs"), "data_root": str(tmp_path / "nowhere")}
    lines = [f"{k} = {str(v).lower() if isinstance(v, bool) else repr(v)}" for k, v in run.items()]
    path.write_text(
        f'name = "s"\nkind = "datasize"\ntasks = ["folder"]\nmethods = ["linear"]\nseeds = {seeds}\n'
        + f"[datasize]\n{datasize}\n[run]\n"
        + "\n".join(lines).replace("'", '"')
        + "\n"
    )
    return str(path)


def test_study_whose_runs_fail_exits_nonzero_saying_how_many(tmp_path, capsys, monkeypatch):
    path = _study_on_missing_data(tmp_path, "[42, 44]", "sizes = [40]\nsearch = false")
    res = run_cli(["run", path], capsys, monkeypatch)
    assert res.code == 1, res.err
    assert "vptstudy: run failed: study s: 2 of 2 final runs did not finish (2 skipped)" in res.err


def test_study_whose_search_finds_nothing_says_why_on_stderr(tmp_path, capsys, monkeypatch):
    grid = "sizes = [40]\nsearch = true\n[grid.linear]\nlr = [0.1]\nwd = [0.0]"
    res = run_cli(["run", _study_on_missing_data(tmp_path, "[42]", grid)], capsys, monkeypatch)
    assert res.code == 1, res.err
    # the reason reaches stderr's one line, not only the summary table on stdout
    line = res.err.strip().splitlines()[-1]
    assert line.startswith("vptstudy: run failed: study s: 1 of 1 units had no search candidate finish (")
    assert "no candidate finished: " in line and "nowhere" in line


# -- study.with_run: a command's change to a loaded study's [run] is checked again, as a study file's is ---------------


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
