"""The demo report's verdicts on hand-made accuracy tables: decided, undecided, agreement, and the crossover."""

from __future__ import annotations

from vptstudy.demo_report import agreement_line, datasize_lines, verdicts

# {task: {method: {seed: test accuracy}}}; the paper expects VPT on shapes-new, count and sprites-orientation,
# FT on digits (different data, similar task).
ACCS = {
    # VPT ahead by 5 +- 1 points on every seed: decided for VPT, as the paper expects
    "toy/shapes-new": {"ft": {42: 0.60, 43: 0.62, 44: 0.58}, "vpt-deep": {42: 0.65, 43: 0.66, 44: 0.64}},
    # VPT ahead by 10 +- 1: decided for VPT, against the paper (it expects FT here)
    "toy/digits": {"ft": {42: 0.50, 43: 0.52, 44: 0.48}, "vpt-deep": {42: 0.60, 43: 0.63, 44: 0.57}},
    # seeds disagree: undecided
    "toy/count": {"ft": {42: 0.60, 43: 0.70, 44: 0.50}, "vpt-deep": {42: 0.66, 43: 0.64, 44: 0.53}},
    # FT never ran here: no comparison
    "toy/sprites-orientation": {"vpt-deep": {42: 0.5}},
}


def test_each_quadrant_gets_a_paired_verdict_and_its_agreement():
    rows = {v.task: v for v in verdicts(list(ACCS), ACCS)}
    assert set(rows) == {"toy/shapes-new", "toy/digits", "toy/count"}
    assert (rows["toy/shapes-new"].result.winner, rows["toy/shapes-new"].agreement) == ("vpt-deep", "agrees")
    assert (rows["toy/digits"].result.winner, rows["toy/digits"].agreement) == ("vpt-deep", "disagrees")
    assert rows["toy/digits"].expected == "ft" and round(100 * rows["toy/digits"].result.mean_diff, 6) == 10.0
    assert (rows["toy/count"].result.winner, rows["toy/count"].agreement) == ("undecided", "no verdict")


def test_the_agreement_line_counts_decided_comparisons_only():
    line = agreement_line(verdicts(list(ACCS), ACCS))
    assert "2 of 3 comparisons are decided" in line
    assert "agrees with the paper on 1 of 2 decided" in line
    assert "disagrees on toy/digits" in line and "undecided (difference within seed noise): toy/count" in line


def _size_summary(task: str, method: str, accs: dict[int, list[float]]) -> dict:
    results = [
        {"status": "ok", "train_size": n, "seed": 42 + i, "final": {"test_acc": a}}
        for n, values in accs.items()
        for i, a in enumerate(values)
    ]
    return {"task": task, "method": method, "unit": f"{task} {method}", "results": results}


def test_datasize_lines_state_the_crossover():
    summaries = [
        _size_summary("toy/count", "ft", {50: [0.30, 0.32, 0.31], 100: [0.40, 0.41, 0.42], 400: [0.70, 0.72, 0.71]}),
        _size_summary(
            "toy/count", "vpt-deep", {50: [0.34, 0.36, 0.35], 100: [0.42, 0.43, 0.44], 400: [0.66, 0.67, 0.68]}
        ),
    ]
    text = "\n".join(datasize_lines(summaries))
    # FT - VPT: -4 at 50, -2 at 100, +4 at 400: the sign turns a third of the way from 100 to 400 in log size
    assert "FT overtakes VPT-deep at about 159 training images" in text
    assert "| 400 | 71.0 ± 1.0 | 67.0 ± 1.0 | +4.0 ± 1.0 | 0.020 | FT |" in text
    assert "| 50 | 31.0 ± 1.0 | 35.0 ± 1.0 | -4.0 ± 0.0 | 0.000 | VPT-deep |" in text


def test_datasize_lines_without_crossover_say_who_leads():
    summaries = [
        _size_summary("toy/count", "ft", {50: [0.30, 0.31, 0.32], 100: [0.40, 0.41, 0.42]}),
        _size_summary("toy/count", "vpt-deep", {50: [0.40, 0.41, 0.42], 100: [0.50, 0.52, 0.51]}),
    ]
    assert "**No crossover**: VPT-deep is ahead" in "\n".join(datasize_lines(summaries))


def test_backbone_line_counts_every_pretraining_stage():
    from vptstudy.demo_report import _pretraining

    one = {
        "training": {"steps": 3, "batch_size": 8},
        "command": "vptstudy pretrain-toy --steps 3",
        "train_seconds": 60.0,
    }
    assert _pretraining(one) == ("3 steps of batch 8", "1 min")
    two = {
        "training": {"steps": 6000, "batch_size": 64},
        "stages": ["vptstudy pretrain-toy --steps 7000 --seed 0", "vptstudy pretrain-toy --steps 6000 --init w"],
        "train_seconds": 2841.6,
        "init": {"train_seconds": 3744.7},
    }
    assert _pretraining(two) == ("7000 + 6000 steps of batch 64", "110 min")
    three = {
        **two,
        "stages": [*two["stages"], "vptstudy pretrain-toy --steps 6000 --init w --scenes"],
        "train_seconds": 853.6,
        "init": {"train_seconds": 2841.6},  # only the stage before: the total comes from train_seconds_all_stages
        "train_seconds_all_stages": 7439.8,
    }
    assert _pretraining(three) == ("7000 + 6000 + 6000 steps of batch 64", "124 min")
