"""Per-task prompt lengths (study paper Tables 16-18) and their column in `vptstudy tasks`."""

from __future__ import annotations

import re

from tests.helpers.cli import run_cli
from vptstudy.data.benchmarks import VTAB
from vptstudy.data.prompt_lengths import VTAB1K_PROMPT_LENGTHS, default_prompt_length


def test_every_vtab1k_task_has_the_papers_length():
    assert set(VTAB1K_PROMPT_LENGTHS) == {bench.name for bench in VTAB}
    natural = [
        default_prompt_length(f"vtab/{t}")
        for t in ("cifar100", "caltech101", "dtd", "flowers102", "pets", "svhn", "sun397")
    ]
    specialized = [default_prompt_length(t) for t in ("patch_camelyon", "eurosat", "resisc45", "retinopathy")]
    structured = [
        default_prompt_length(f"vtab/{t}")
        for t in (
            "clevr_count",
            "clevr_dist",
            "dmlab",
            "kitti_dist",
            "dsprites_loc",
            "dsprites_ori",
            "smallnorb_azi",
            "smallnorb_ele",
        )
    ]
    assert natural == [100, 5, 1, 200, 50, 200, 1]
    assert specialized == [5, 50, 50, 10]
    assert structured == [100, 200, 100, 100, 100, 100, 200, 200]
    assert sum(structured) / 8 == 137.5  # the mean printed in Table 18


def test_other_tasks_have_no_study_length():
    assert default_prompt_length("toy/digits") is None
    assert default_prompt_length("fgvc/cub") is None


def test_tasks_table_shows_the_length(tmp_path, capsys, monkeypatch):
    res = run_cli(["tasks", "--data-root", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 0 and "prompts" in res.out
    assert re.search(r"│ vtab/flowers102 +│ natural +│ 102 +│ \S+ +│ 200 +│", res.out)
    assert re.search(r"│ vtab/dtd +│ natural +│ 47 +│ \S+ +│ 1 +│", res.out)
    assert re.search(r"│ toy/digits +│ toy +│ 10 +│ \S+ +│ - +│", res.out)
