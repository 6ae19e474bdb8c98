"""The commands of cli/report.py: ``vptstudy report RUNS --paper`` (our means next to the paper's published values,
on a synthetic runs folder) and ``vptstudy tasks`` (whole, copyable names at any terminal width)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

from tests.helpers.cli import run_cli
from vptstudy.analysis.paper import compare, load_paper
from vptstudy.analysis.tables import collect
from vptstudy.console import out
from vptstudy.data.status import task_rows


def _run(root: Path, task: str, method: str, seed: int, acc: float, **extra) -> None:
    run = root / "vtab1k" / task / method / "final" / "h" / f"seed{seed}"
    for key, value in extra.items():
        run = run.parent.parent / f"{key}{value}" / run.name
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    result = {"task": task, "method": method, "study": "vtab1k", "split": "final", "status": "ok", "seed": seed}
    (run / "result.json").write_text(json.dumps({**result, "final": {"test_acc": acc}, **extra}))


def _runs(root: Path) -> None:
    _run(root, "vtab/cifar100", "ft", 1, 0.60)
    _run(root, "vtab/cifar100", "ft", 2, 0.62)  # mean 61.0; paper 64.5 -> -3.5
    _run(root, "vtab/cifar100", "vpt-deep", 1, 0.772)  # paper 77.7 -> -0.5
    _run(root, "vtab/dtd", "vpt-deep", 1, 0.70)  # paper 68.8 -> +1.2
    _run(root, "vtab/cifar100", "linear", 1, 0.5)  # the paper has no linear probe
    _run(root, "vtab/cifar100", "ft", 1, 0.40, shots=1)  # Table 3: paper 37.4 -> +2.6
    _run(root, "vtab/dtd", "ft", 1, 0.80, train_size=5000)  # Table 5 has no DTD at 5000


def test_comparison_by_value(tmp_path) -> None:
    _runs(tmp_path)
    tables = {t.regime: t for t in collect(tmp_path).tables}
    c = compare(tables["VTAB-1k protocol"])
    assert c is not None and c.paper_tables == [1, 2]
    assert c.methods == ["ft", "vpt-deep", "mixed", "ft-then-pt"] and c.not_in_paper == ["linear"]
    assert len(c.tasks) == 19 and c.tasks[:3] == ["vtab/cifar100", "vtab/caltech101", "vtab/dtd"]
    assert c.paper[("vtab/cifar100", "ft")] == 64.5 and c.ours[("vtab/cifar100", "ft")] == 61.0
    assert round(c.diff("vtab/cifar100", "ft"), 6) == -3.5 and round(c.diff("vtab/dtd", "vpt-deep"), 6) == 1.2
    assert c.diff("vtab/caltech101", "ft") is None  # no run: nothing to compare
    assert c.within("ft") == (0, 1) and c.within("vpt-deep") == (2, 2) and c.within("mixed") == (0, 0)
    size = compare(tables["train size 5000"])
    assert size.paper.get(("vtab/dtd", "ft")) is None and size.ours[("vtab/dtd", "ft")] == 80.0
    assert compare(tables["1-shot"]).paper_tables == [3, 4]


def test_report_paper_prints_paper_value_and_difference(tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(out, "width", 200)  # the wide layout, whatever width an earlier test left the console at
    _runs(tmp_path)
    res = run_cli(["report", str(tmp_path), "--paper"], capsys, monkeypatch)
    assert res.code == 0, res.err
    assert "vtab1k: VTAB-1k protocol vs the paper's Tables 1-2" in res.out
    cifar = next(line for line in res.out.splitlines() if "│ vtab/cifar100" in line and "64.5" in line)
    cells = [c.strip() for c in cifar.strip("│ ").split("│")]
    assert cells[:7] == ["vtab/cifar100", "61.0", "64.5", "-3.5", "77.2", "77.7", "-0.5"]
    assert cells[7:] == ["—", "61.5", "—", "—", "85.9", "—"]  # mixed, ft-then-pt: paper only
    summary = "tasks within 1.5 points of the paper: ft 0/1, vpt-deep 2/2, mixed 0/0, ft-then-pt 0/0"
    assert summary + "; not in the paper: linear" in res.out
    assert "vtab1k: 1-shot vs the paper's Tables 3-4" in res.out and "ft 1/1" not in res.out
    md = (tmp_path / "paper.md").read_text()
    assert "| vtab/cifar100 | 61.0 | 64.5 | -3.5 | 77.2 | 77.7 | -0.5 | — | 61.5 | — | — | 85.9 | — |" in md
    assert "| within 1.5 |  |  | 0/1 |  |  | 2/2 |" in md and "Resisc45 at 800 samples as 83.3" in md
    rows = list(csv.DictReader(io.StringIO((tmp_path / "paper.csv").read_text())))
    shot = next(r for r in rows if r["regime"] == "1-shot" and r["task"] == "vtab/cifar100" and r["method"] == "ft")
    assert (shot["ours"], shot["paper"], shot["diff"], shot["within"]) == ("40.0000", "37.4000", "2.6000", "0")


def test_narrow_terminal_gets_one_row_per_task_and_method(tmp_path, capsys, monkeypatch) -> None:
    from vptstudy.console import out

    _runs(tmp_path)
    monkeypatch.setattr(out, "width", 60)
    res = run_cli(["report", str(tmp_path), "--paper"], capsys, monkeypatch)
    assert res.code == 0
    line = next(x for x in res.out.splitlines() if "│ vtab/dtd" in x and "vpt-deep" in x and "68.8" in x)
    assert [c.strip() for c in line.strip("│ ").split("│")] == ["vtab/dtd", "vpt-deep", "70.0", "68.8", "+1.2"]


def test_no_comparable_regime_says_so(tmp_path, capsys, monkeypatch) -> None:
    _run(tmp_path, "toy/digits", "ft", 1, 0.9, train_size=120)
    res = run_cli(["report", str(tmp_path), "--paper"], capsys, monkeypatch)
    assert res.code == 0 and "--paper: no runs in a regime the paper reports" in res.out
    assert not (tmp_path / "paper.csv").exists() and not (tmp_path / "paper.md").exists()
    assert load_paper().regimes()[0] == "VTAB-1k protocol"


def test_report_over_only_tuning_runs_says_why_there_is_no_table(tmp_path, capsys, monkeypatch) -> None:
    args = ["train", "--task", "toy/digits", "--method", "linear", "--model", "toy-vit", "--no-pretrained"]
    args += ["--epochs", "1", "--train-size", "20", "--img-size", "32", "--device", "cpu"]
    assert run_cli([*args, "--out-dir", str(tmp_path)], capsys, monkeypatch).code == 0
    res = run_cli(["report", str(tmp_path)], capsys, monkeypatch)
    assert res.code == 2
    assert res.err.strip() == (
        f"vptstudy: error: no final runs under {str(tmp_path)!r}, only 1 tuning run(s), which evaluate no test "
        "split (RUNS_DIR): train with --split final, or run a search (--search grid) to get final runs"
    )


# -- vptstudy tasks: every task listed with whole, copyable names, at a wide and at an 80-column terminal --------------


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
