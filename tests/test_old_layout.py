"""Run folders of the layout before plans (layout 1: hash of the raw config) still load in load_run and report.

The fixture under tests/fixtures/layout1_runs was written by vptstudy at commit cf6699c (the last layout-1 code):
``vptstudy train --task toy/digits --method vpt-deep --model toy-vit --epochs 1 --split final --test-subsample 100``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file

from tests.helpers.cli import run_cli
from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.load import load_run
from vptstudy.plan import plan

FIXTURE = Path(__file__).parent / "fixtures" / "layout1_runs"
RUN = FIXTURE / "adhoc/toy/digits/vpt-deep/final/lr1-wd0.001-p10-c912ffca/seed42"


def test_the_fixture_is_layout_1() -> None:
    meta = json.loads((RUN / runs.CONFIG).read_text())
    assert "layout" not in meta and "plan" not in meta
    assert meta["run"]["batch_size"] == 128 and meta["run"]["num_prompts"] == 10


def test_load_run_rebuilds_a_layout_1_run() -> None:
    model = load_run(RUN)
    stored = load_file(str(RUN / runs.TRAINABLE))
    assert model.num_prompts == 10
    own = model.state_dict()
    assert stored.keys() <= own.keys()
    assert all(torch.equal(own[k], stored[k]) for k in stored)
    assert model(torch.rand(2, 3, 32, 32)).shape == (2, 10)


def test_report_reads_a_layout_1_run(capsys, monkeypatch, tmp_path) -> None:
    runs_dir = tmp_path / "runs"
    shutil.copytree(FIXTURE, runs_dir)
    res = run_cli(["report", str(runs_dir), "--out", str(tmp_path / "report")], capsys, monkeypatch)
    assert res.code == 0, res.err
    csv = (tmp_path / "report" / "report.csv").read_text()
    assert "toy/digits,vpt-deep,0.090339," in csv  # test acc of the stored result.json


def test_the_new_identity_names_another_folder() -> None:
    # why README says a sweep started under the old hash does not resume under the new one
    cfg = runs.read_config(RUN).replace(out_dir=str(FIXTURE))
    assert plan(cfg).run_dir.parent.name != RUN.parent.name
    assert plan(cfg).run_dir.parent.parent == RUN.parent.parent  # same study/task/method/split levels


def test_layout_1_none_test_subsample_means_the_whole_test_set() -> None:
    data = {"task": "toy/digits", "method": "ft", "test_subsample": None}
    assert RunConfig.from_dict(data, layout=1).test_subsample == 0
    assert plan(RunConfig.from_dict(data, layout=1)).test_subsample is None
    assert RunConfig.from_dict(data).test_subsample is None  # layout 2: None is the recipe default (1000)
