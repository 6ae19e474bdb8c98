"""Numbers and flags (issue 17 §4): finite floats, seeds in [0, 2^63), --gpus without CUDA, numeric method
options given text. Each is one error line, exit 2, and no run directory."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.cli import run_cli

TRAIN = ["train", "--task", "toy/digits", "--model", "test_vit", "--no-pretrained", "--img-size", "32", "--epochs", "1"]

CASES = {
    "lr inf": (["--method", "ft", "--lr", "inf"], "invalid --lr inf (--lr): use a finite number"),
    "wd nan": (["--method", "ft", "--wd", "nan"], "invalid --wd nan (--wd): use a finite number"),
    "prompt dropout inf": (["--method", "vpt-deep", "--prompt-dropout", "-inf"], "invalid --prompt-dropout -inf"),
    "checkpoint minutes inf": (["--method", "ft", "--checkpoint-minutes", "inf"], "invalid --checkpoint-minutes inf"),
    "huge seed": (["--method", "ft", "--seed", str(10**30)], "use a seed in [0, 2^63)"),
    "seed 2^63": (["--method", "ft", "--seed", str(2**63)], "invalid --seed 9223372036854775808"),
    "negative split seed": (["--method", "ft", "--split-seed", "-1"], "invalid --split-seed -1"),
    "text for a numeric option": (
        ["--method", "ft-then-pt", "--method-option", "ft_lr=abc"],
        "method option ft_lr='abc' of ft-then-pt is not a number",
    ),
    "unknown option of ft": (["--method", "ft", "--method-option", "rank=4"], "unknown method option 'rank'"),
    "grid lr nan": (["--method", "ft", "--search", "grid", "--lrs", "0.1,nan"], "invalid --lrs nan"),
}


@pytest.mark.parametrize("case", CASES)
def test_bad_number_is_one_line_and_writes_nothing(case, tmp_path, capsys, monkeypatch):
    args, message = CASES[case]
    res = run_cli([*TRAIN, *args, "--out-dir", str(tmp_path / "runs")], capsys, monkeypatch)
    assert res.code == 2, res.err
    assert res.err.count("vptstudy: error:") == 1 and message in res.err, res.err
    assert not (tmp_path / "runs").exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the CPU-only machine")
def test_gpus_without_cuda_is_an_error(tmp_path, capsys, monkeypatch):
    for search in ([], ["--search", "grid"]):
        args = [*TRAIN, "--method", "ft", *search, "--gpus", "0,1", "--out-dir", str(tmp_path / "runs")]
        res = run_cli(args, capsys, monkeypatch)
        assert res.code == 2, res.err
        assert "--gpus 0,1 asks for CUDA, which is not available (--gpus)" in res.err
        assert not (tmp_path / "runs").exists()


def test_huge_prompt_length_is_one_line_not_an_allocation(tmp_path, capsys, monkeypatch) -> None:
    args = ["train", "--task", "toy/digits", "--method", "vpt-deep", "--model", "toy-vit", "--prompts", "100000000"]
    res = run_cli([*args, "--out-dir", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 2
    assert res.err.strip() == (
        "vptstudy: error: invalid --prompts 100000000 (--prompts): use a prompt length from 0 to 4096 "
        "(the study's longest: 200)"
    )
    assert not any(tmp_path.iterdir())
