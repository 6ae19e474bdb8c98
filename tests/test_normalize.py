"""--normalize imagenet|backbone: ImageNet mean/std by default, the backbone's timm pretrained_cfg on request."""

from __future__ import annotations

import json

import pytest
import torch

from tests.helpers.cli import run_cli
from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.pipeline import DeviceImages
from vptstudy.normalize import describe, mismatch_note, stats
from vptstudy.plan import plan
from vptstudy.study import parse_study

IMAGENET = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
CLIP = ((0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711))
HALF = ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5))
TINY_HALF = "vit_tiny_patch16_224.augreg_in21k"  # a timm ViT whose pretrained_cfg has mean = std = 0.5


def test_stats_by_value():
    assert stats("imagenet", "vit_base_patch16_clip_224.openai") == IMAGENET
    assert stats("backbone", "vit_base_patch16_clip_224.openai") == CLIP
    assert stats("backbone", "vit_base_patch16_224.orig_in21k") == HALF
    assert stats("backbone", "vit_base_patch16_224.mae") == IMAGENET
    assert stats("backbone", "toy-vit") == IMAGENET  # no timm cfg: ImageNet's, which it was pretrained with


def test_mismatch_note_only_when_the_backbone_differs():
    note = mismatch_note("imagenet", "vit_base_patch16_224.orig_in21k")
    assert note is not None and "mean (0.5, 0.5, 0.5)" in note and "--normalize backbone" in note
    assert mismatch_note("backbone", "vit_base_patch16_224.orig_in21k") is None
    assert mismatch_note("imagenet", "vit_base_patch16_224.mae") is None
    assert mismatch_note("imagenet", "toy-vit") is None


def test_default_keeps_run_identity_and_backbone_changes_it():
    # random init, so the pinned hash does not depend on the packaged weights' content (vptstudy.digests)
    cfg = RunConfig(task="toy/digits", method="vpt-deep", model="toy-vit", pretrained=False)
    assert plan(cfg).identity == "72a35fd1"  # the identity before --normalize existed: run folders still match
    assert plan(cfg.replace(normalize="backbone")).identity != "72a35fd1"


def test_dry_run_shows_the_normalisation_in_force(capsys, monkeypatch):
    args = ["train", "--task", "toy/digits", "--method", "ft", "--model", TINY_HALF, "--dry-run"]
    res = run_cli(args, capsys, monkeypatch)
    assert res.code == 0, res.err
    text = " ".join(res.out.split())
    assert f"inputs for {TINY_HALF}: {describe('imagenet', TINY_HALF)}" in text
    assert "own: mean (0.5, 0.5, 0.5)" in text


def test_inputs_are_normalised_with_the_chosen_stats():
    cfg = RunConfig(task="toy/shapes-new", method="linear", model=TINY_HALF, train_size=8, normalize="backbone")
    data = load_task_data(cfg, 32)
    assert (data.preprocess.mean, data.preprocess.std) == HALF
    x, _ = next(DeviceImages(data.test, data.preprocess, torch.device("cpu"), train=False).batches(4))
    raw = data.test.images[:4].float() / 255.0
    torch.testing.assert_close(x, (raw - 0.5) / 0.5)
    default = load_task_data(cfg.replace(normalize="imagenet"), 32)
    x, _ = next(DeviceImages(default.test, default.preprocess, torch.device("cpu"), train=False).batches(4))
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in IMAGENET)
    torch.testing.assert_close(x, (raw - mean) / std)


@pytest.mark.parametrize("normalize", ["imagenet", "backbone"])
def test_train_records_stats_and_notes_a_mismatch(normalize, tmp_path, capsys, monkeypatch, no_network):
    args = ["train", "--task", "toy/shapes-new", "--method", "linear", "--model", TINY_HALF, "--no-pretrained"]
    args += ["--img-size", "32", "--epochs", "1", "--train-size", "8", "--batch-size", "8", "--test-subsample", "8"]
    res = run_cli([*args, "--device", "cpu", "--normalize", normalize, "--out-dir", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 0, res.err
    (run,) = runs.iter_runs(tmp_path)
    pre = json.loads((run / runs.CONFIG).read_text())["resolved"]["preprocess"]
    notes = [line for line in res.err.splitlines() if "--normalize backbone" in line]
    if normalize == "imagenet":
        assert (tuple(pre["mean"]), tuple(pre["std"])) == IMAGENET
        assert notes == [f"vptstudy: {mismatch_note('imagenet', TINY_HALF)}"]
    else:
        assert (tuple(pre["mean"]), tuple(pre["std"])) == HALF and notes == []


def test_tasks_shows_the_normalisation_in_force(capsys, monkeypatch):
    res = run_cli(["tasks", "--model", TINY_HALF, "--normalize", "backbone"], capsys, monkeypatch)
    assert res.code == 0
    text = " ".join(res.out.split())  # rich wraps the line to the terminal
    assert f"inputs for {TINY_HALF}: {describe('backbone', TINY_HALF)}" in text
    assert "normalize backbone: mean (0.5, 0.5, 0.5), std (0.5, 0.5, 0.5)" in text


def test_bad_normalize_is_one_line_and_study_key_works(capsys, monkeypatch):
    res = run_cli(["train", "--task", "toy/digits", "--method", "ft", "--normalize", "clip"], capsys, monkeypatch)
    assert res.code == 2
    assert res.err.strip() == "vptstudy: error: invalid --normalize 'clip' (--normalize): use one of imagenet, backbone"
    data = {"name": "s", "kind": "search", "tasks": ["toy/digits"], "methods": ["ft"]}
    assert parse_study({**data, "run": {"normalize": "backbone"}}).run["normalize"] == "backbone"
    with pytest.raises(Exception, match="normalize"):
        parse_study({**data, "run": {"normalize": "clip"}})
