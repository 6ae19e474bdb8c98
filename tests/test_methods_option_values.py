"""Method options: unknown or mistyped ones are user errors, given ones reach the run, a study's table is parsed
per method."""

from __future__ import annotations

import pytest

from tests.helpers.methods import TINY, built
from vptstudy.errors import UserError


def test_unknown_or_mistyped_method_options_are_user_errors() -> None:
    with pytest.raises(UserError, match="rnak"):
        built("lora", rnak=4)
    with pytest.raises(UserError, match="whole number"):
        built("lora", rank="big")
    with pytest.raises(UserError, match="k <= 2"):
        built("partial-k", k=5)
    with pytest.raises(UserError, match="targets"):
        built("lora", targets="nothing.here")


def test_method_options_reach_the_run_and_bad_ones_fail_cleanly(tmp_path, capsys, monkeypatch) -> None:
    import json

    from tests.helpers.cli import run_cli
    from vptstudy import runs

    args = ["train", "--task", "toy/digits", "--method", "lora", *TINY, "--epochs", "1", "--out-dir", str(tmp_path)]
    res = run_cli([*args, "--method-option", "rank=2", "--method-option", "targets=attn.qkv"], capsys, monkeypatch)
    assert res.code == 0, res.err
    (run,) = runs.iter_runs(tmp_path)
    config = json.loads((run / runs.CONFIG).read_text())["run"]
    assert config["method_options"] == {"rank": 2, "targets": "attn.qkv"}
    result = json.loads((run / runs.RESULT).read_text())
    assert result["trainable_params"] == 6 * 2 * (64 + 3 * 64) + 10 * 64 + 10  # test_vit: 6 blocks, width 64
    bad = run_cli([*args, "--method-option", "rank"], capsys, monkeypatch)
    assert bad.code == 2 and "KEY=VALUE" in bad.err


def test_study_method_options_table_is_parsed_per_method() -> None:
    from vptstudy.study import parse_study

    data = {
        "name": "s",
        "kind": "search",
        "tasks": ["toy/digits"],
        "methods": ["lora", "adapter"],
        "run": {"epochs": 1},
        "method_options": {"lora": {"rank": 4, "targets": "attn.qkv"}},
    }
    study = parse_study(data)
    assert study.run_for("lora")["method_options"] == (("rank", 4), ("targets", "attn.qkv"))
    assert "method_options" not in study.run_for("adapter")
    with pytest.raises(UserError, match="unknown method"):
        parse_study({**data, "method_options": {"nope": {"rank": 4}}})
    with pytest.raises(UserError, match="option = value"):
        parse_study({**data, "method_options": {"lora": {"rank": [1, 2]}}})
