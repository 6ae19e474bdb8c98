"""``vptstudy fid`` from the command line: a backbone run with outputs, and one-line errors with exit code 2."""

from __future__ import annotations

import json

import numpy as np
import pytest
import timm
import torch
from PIL import Image
from safetensors.torch import save_file

from tests.helpers.cli import run_cli
from vptstudy.fid import INCEPTION_FILE


@pytest.fixture
def setup(tmp_path):
    ref = tmp_path / "ref"
    ref.mkdir()
    for i in range(3):
        Image.fromarray(np.full((20, 20, 3), 40 * i, np.uint8)).save(ref / f"{i}.JPG")
    weights = tmp_path / "test_vit.safetensors"
    save_file(timm.create_model("test_vit", pretrained=False, num_classes=0).state_dict(), str(weights))
    return tmp_path, ref, weights


def test_backbone_run_writes_outputs(setup, monkeypatch, capsys, no_network):
    tmp, ref, weights = setup
    backbone = ["--features", "backbone", "--model", "test_vit", "--weights", weights, "--img-size", "32"]
    common = ["fid", "--reference", ref, "--task", "toy/digits", *backbone, "--max-images", "64"]
    res = run_cli(
        [*common, "--cache-dir", tmp / "c", "--out", tmp / "f.json", "--out", tmp / "f.csv"], capsys, monkeypatch
    )
    assert res.code == 0
    data = json.loads((tmp / "f.json").read_text())
    (row,) = data["rows"]
    assert row["task"] == "toy/digits" and row["n_task"] == 64 and row["n_reference"] == 3 and row["fid"] > 0
    assert (tmp / "f.csv").read_text().splitlines()[0].startswith("task,group,disparity,split,fid")
    assert "toy/digits" in res.out

    (tmp / "ref.npz").write_bytes(b"precious")
    code, _, err = run_cli([*common, "--save-stats", tmp / "ref.npz"], capsys, monkeypatch)
    err = err.strip()
    assert code == 2 and err.startswith("vptstudy: error: ") and "already exists" in err and "\n" not in err
    assert (tmp / "ref.npz").read_bytes() == b"precious"


def test_missing_inception_weights_is_one_line(setup, monkeypatch, capsys, no_network):
    tmp, ref, _ = setup
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp / "hub"))
    code, _, err = run_cli(
        ["fid", "--reference", ref, "--task", "toy/digits", "--cache-dir", tmp / "c"], capsys, monkeypatch
    )
    err = err.strip()
    assert code == 2 and err.count("\n") == 0 and "Traceback" not in err
    assert INCEPTION_FILE in err and str(tmp / "hub" / "checkpoints") in err and "--inception-weights" in err
    assert not (tmp / "c").exists()
