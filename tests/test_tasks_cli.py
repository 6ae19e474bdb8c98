"""`vptstudy tasks`: every task listed with whole, copyable names, at a wide and at an 80-column terminal."""

from __future__ import annotations

from tests.helpers.cli import run_cli
from vptstudy.console import out
from vptstudy.data.status import task_rows


def test_wide_terminal_has_how_to_get_it_column(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(out, "width", 240)
    res = run_cli(["tasks", "--data-root", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 0 and "how to get it" in res.out
    names = [row["task"] for row in task_rows(tmp_path)]
    assert all(f" {name} " in res.out for name in names)


def test_80_columns_keeps_names_whole_and_lists_data_sources_below(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(out, "width", 80)
    res = run_cli(["tasks", "--data-root", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 0 and "how to get it" not in res.out
    assert max(len(line) for line in res.out.splitlines()) <= 80
    below = res.out.split("preprocessing and how to get the data")[1]
    for row in task_rows(tmp_path):
        assert f"│ {row['task']} " in res.out, row["task"]
        assert f"{row['task']} ({row['preprocess']}): " in below, row["task"]
