"""Quadrant analysis on fixed inputs: the join, the median/given split, wins per quadrant, the input formats,
the run-directory loader, and the Figure 3 rendering."""

from __future__ import annotations

import json

import pytest

from vptstudy.analysis.quadrant import (
    accuracies_from_runs,
    load_fid,
    quadrant_table,
    summary_lines,
    to_csv,
    to_markdown,
)
from vptstudy.errors import UserError

FID = {
    "vtab/cifar100": 50.0,  # natural, low disparity
    "vtab/svhn": 200.0,  # natural, low
    "vtab/eurosat": 120.0,  # specialized, low
    "vtab/clevr_count": 300.0,  # structured, high
    "vtab/dmlab": 90.0,  # structured, high
    "mine": 10.0,  # not registered: needs a disparity
    "vtab/dtd": 70.0,  # no VPT accuracy: skipped
}
ACC = {
    "vtab/cifar100": {"ft": 0.60, "vpt-deep": 0.70},  # low FID, low disp: VPT
    "vtab/svhn": {"ft": 0.90, "vpt-deep": 0.80},  # high FID, low disp: FT
    "vtab/eurosat": {"ft": 0.95, "vpt-deep": 0.95},  # tie
    "vtab/clevr_count": {"ft": 0.50, "vpt-deep": 0.65},  # high FID, high disp: VPT
    "vtab/dmlab": {"ft": 0.45, "vpt-deep": 0.40},  # low FID, high disp: FT
    "mine": {"ft": 0.1, "vpt-deep": 0.2},
    "vtab/dtd": {"ft": 0.6},
    "vtab/pets": {"ft": 0.9, "vpt-deep": 0.9},  # no FID: skipped
}


def test_table_median_split_and_quadrant_wins():
    table = quadrant_table(FID, ACC)
    assert [r.task for r in table.rows] == [  # grouped natural, specialized, structured; input order inside
        "vtab/cifar100",
        "vtab/svhn",
        "vtab/eurosat",
        "vtab/clevr_count",
        "vtab/dmlab",
    ]
    assert table.threshold == 120.0 and table.threshold_rule == "median"  # median of the 5 joined tasks
    by = {r.task: r for r in table.rows}
    assert by["vtab/eurosat"].fid_level == "low"  # the median task itself counts as low
    assert [by[t].winner for t in ("vtab/cifar100", "vtab/svhn", "vtab/eurosat")] == ["vpt", "ft", "tie"]
    assert by["vtab/svhn"].margin == pytest.approx(-0.1)
    assert table.skipped == {
        "mine": "no disparity (not a registered task; pass its disparity)",
        "vtab/dtd": "no vpt-deep accuracy",
        "vtab/pets": "no FID",
    }
    quads = {(q.fid_level, q.disparity): q for q in table.quadrants()}
    assert quads[("low", "low")].tasks == ("vtab/cifar100", "vtab/eurosat")
    assert (quads[("low", "low")].vpt_wins, quads[("low", "low")].ties) == (1, 1)
    assert (quads[("high", "low")].vpt_wins, quads[("high", "low")].ft_wins) == (0, 1)
    assert quads[("high", "low")].expected == "ft" and quads[("low", "high")].expected == "vpt"
    assert quads[("high", "high")].vpt_wins == 1 and quads[("low", "high")].ft_wins == 1
    lines = summary_lines(table)
    assert lines[1] == "low FID, low disparity: VPT wins 1/2, 1 tie(s) (paper expects VPT): vtab/cifar100, vtab/eurosat"


def test_given_threshold_disparity_override_and_other_methods():
    table = quadrant_table(FID, ACC, disparity={"mine": "high"}, threshold=100.0)
    assert table.threshold_rule == "given" and "mine" not in table.skipped
    by = {r.task: r for r in table.rows}
    assert by["mine"].group == "custom" and by["mine"].disparity == "high" and by["mine"].fid_level == "low"
    assert by["vtab/eurosat"].fid_level == "high"
    shallow = quadrant_table(
        {"vtab/svhn": 1.0}, {"vtab/svhn": {"ft": 0.5, "vpt-shallow": 0.6}}, vpt_method="vpt-shallow"
    )
    assert shallow.rows[0].winner == "vpt"
    with pytest.raises(UserError, match="no task has"):
        quadrant_table({"vtab/svhn": 1.0}, {"vtab/dtd": {"ft": 0.5, "vpt-deep": 0.6}})
    with pytest.raises(UserError, match="use low or high"):
        quadrant_table(FID, ACC, disparity={"mine": "medium"})


def test_markdown_and_csv():
    table = quadrant_table(FID, ACC)
    md = to_markdown(table)
    assert "| vtab/svhn | natural | low | 200.00 | high | 90.00 | 80.00 | FT |" in md
    assert "| high | low | 1 | 0 | 1 | 0 | 0 | FT |" in md and "Skipped: mine" in md
    rows = to_csv(table).splitlines()
    assert rows[0] == "task,group,disparity,fid,fid_level,ft_acc,vpt_acc,winner,margin" and len(rows) == 6


def test_fid_inputs_from_fid_outputs(tmp_path):
    from vptstudy.fid.compute import FidResult, FidRow
    from vptstudy.fid.report import write_outputs

    result = FidResult({"kind": "folder", "path": "x", "n": 9, "cached": False}, {"extractor": "inception"})
    result.rows = [FidRow(t, "natural", "low", "trainval", f, 10, 9, 2048, False) for t, f in FID.items()]
    write_outputs(result, [tmp_path / "f.json", tmp_path / "f.csv"])
    assert load_fid(tmp_path / "f.json") == FID == load_fid(tmp_path / "f.csv")
    (tmp_path / "plain.json").write_text(json.dumps({"vtab/svhn": 3}))
    assert load_fid(tmp_path / "plain.json") == {"vtab/svhn": 3.0}
    (tmp_path / "bad.json").write_text("[1, 2]")
    with pytest.raises(UserError, match="not FID output"):
        load_fid(tmp_path / "bad.json")
    with pytest.raises(UserError, match="not found"):
        load_fid(tmp_path / "missing.json")


def _run(root, study, task, method, seed, acc, **extra):
    run = root / study / task / method / "final" / "h" / f"seed{seed}"
    run.mkdir(parents=True)
    (run / "config.json").write_text("{}")
    result = {"task": task, "method": method, "study": study, "split": "final", "status": "ok", "seed": seed}
    result.update({"final": {"test_acc": acc}, **extra})
    (run / "result.json").write_text(json.dumps(result))


def test_accuracies_from_run_directories(tmp_path):
    _run(tmp_path, "s", "vtab/svhn", "ft", 1, 0.8)
    _run(tmp_path, "s", "vtab/svhn", "ft", 2, 0.6)
    _run(tmp_path, "s", "vtab/svhn", "vpt-deep", 1, 0.75)
    _run(tmp_path, "s", "vtab/svhn", "vpt-deep", 2, 0.1, status="failed")  # not averaged
    _run(tmp_path, "s", "vtab/svhn", "vpt-deep", 3, 0.1, split="tune")  # not a final run
    _run(tmp_path, "s", "vtab/svhn", "vpt-deep", 4, 0.1, train_size=400)  # another regime
    assert accuracies_from_runs(tmp_path) == {"vtab/svhn": {"ft": pytest.approx(0.7), "vpt-deep": 0.75}}
    _run(tmp_path, "other", "vtab/svhn", "ft", 1, 0.2)
    with pytest.raises(UserError, match="several studies"):
        accuracies_from_runs(tmp_path)
    table = quadrant_table({"vtab/svhn": 5.0}, tmp_path, study="s")
    assert table.rows[0].winner == "vpt"


def test_figure_renders_png_and_pdf(tmp_path):
    from vptstudy.figures.quadrant import plot_quadrant

    table = quadrant_table(FID, ACC)
    paths = plot_quadrant(table, tmp_path / "fig3", ("png", "pdf"))
    assert [p.name for p in paths] == ["fig3.png", "fig3.pdf"]
    png = paths[0].read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000
    assert paths[1].read_bytes()[:5] == b"%PDF-"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig3.pdf", "fig3.png"]  # no temporary files left

    from matplotlib.image import imread

    height, width = imread(paths[0]).shape[:2]
    assert width > height > 300  # a wide, readable bar chart


def test_runs_of_other_regimes_only_say_why_nothing_is_used(tmp_path) -> None:
    from tests.helpers.runs import fake_run
    from vptstudy import runs
    from vptstudy.analysis.quadrant import accuracies_from_runs
    from vptstudy.errors import UserError

    for method in ("ft", "vpt-deep"):
        run = fake_run(tmp_path, "toy/count", method, train_size=120)
        result = {"status": "ok", "task": "toy/count", "method": method, "split": "final", "train_size": 120}
        runs.atomic_write_json(run / runs.RESULT, {**result, "final": {"test_acc": 0.5}})
    with pytest.raises(UserError, match="its 2 final runs are of data-size or one-shot regimes"):
        accuracies_from_runs(tmp_path)


SEEDS = {  # per-seed accuracies: svhn's VPT lead is within seed noise, cifar100's is consistent
    "vtab/svhn": {"ft": {1: 0.80, 2: 0.60, 3: 0.70}, "vpt-deep": {1: 0.62, 2: 0.81, 3: 0.75}},
    "vtab/cifar100": {"ft": {1: 0.60, 2: 0.62, 3: 0.58}, "vpt-deep": {1: 0.70, 2: 0.71, 3: 0.69}},
}


def _means(seeds):
    return {t: {m: sum(v.values()) / len(v) for m, v in ms.items()} for t, ms in seeds.items()}


def test_paired_verdict_replaces_the_raw_mean_winner():
    table = quadrant_table({"vtab/svhn": 200.0, "vtab/cifar100": 50.0}, _means(SEEDS), seeds=SEEDS)
    by = {r.task: r for r in table.rows}
    assert by["vtab/svhn"].vpt_acc > by["vtab/svhn"].ft_acc  # the means alone would say VPT
    assert by["vtab/svhn"].winner == "undecided"  # +2.7 ± 19 pts over 3 seeds, p = 0.83
    assert by["vtab/cifar100"].winner == "vpt"  # +10 ± 1 pts, p < 0.01
    assert quadrant_table({"vtab/svhn": 200.0}, _means(SEEDS)).rows[0].winner == "vpt"  # no seeds: the means
    quads = {(q.fid_level, q.disparity): q for q in table.quadrants()}
    assert (quads[("high", "low")].undecided, quads[("high", "low")].vpt_wins) == (1, 0)
    assert "1 undecided" in "\n".join(summary_lines(table))
    assert "| high | low | 1 | 0 | 0 | 0 | 1 | FT |" in to_markdown(table)


def test_runs_folder_gives_paired_verdicts(tmp_path):
    for method, by_seed in SEEDS["vtab/svhn"].items():
        for seed, acc in by_seed.items():
            _run(tmp_path, "s", "vtab/svhn", method, seed, acc)
    assert quadrant_table({"vtab/svhn": 5.0}, tmp_path).rows[0].winner == "undecided"


def test_undecided_bars_are_not_drawn_in_a_method_colour():
    from vptstudy.figures.quadrant import UNDECIDED_COLOR, winner_colors

    table = quadrant_table({"vtab/svhn": 200.0, "vtab/cifar100": 50.0}, _means(SEEDS), seeds=SEEDS)
    colors = winner_colors(table)
    drawn = {r.task: colors[r.winner] for r in table.rows}
    assert drawn == {"vtab/cifar100": colors["vpt"], "vtab/svhn": UNDECIDED_COLOR}
    assert UNDECIDED_COLOR not in (colors["ft"], colors["vpt"], colors["tie"])
