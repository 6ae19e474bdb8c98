"""`vptstudy demo --quick` end to end, offline: sockets are blocked for the whole run."""

from __future__ import annotations

import pytest

from tests.helpers.cli import run_cli
from vptstudy import runs
from vptstudy.demo import demo_studies


def test_quick_demo_runs_offline_and_writes_report_and_figures(tmp_path, no_network, capsys, monkeypatch) -> None:
    out = tmp_path / "demo"
    res = run_cli(["demo", "--quick", "--out-dir", str(out), "--publish", str(tmp_path / "pub")], capsys, monkeypatch)
    assert res.code == 0, res.err
    report = (out / "report.md").read_text()
    for task in ("toy/shapes-new", "toy/sprites-scale"):
        assert task in report
    assert "Agreement with the paper" in report and "Quadrants by measured distance" in report
    figures = {p.name for p in (out / "figures").iterdir()}
    assert {"curves.png", "quadrant.png", "tsne.png"} <= figures
    assert {p.name for p in (tmp_path / "pub").iterdir()} <= figures
    finals = [r for r in runs.iter_runs(out / "runs") if runs.read_config(r).split == "final"]
    assert len(finals) == 4 and all(runs.read_result(r)["status"] == "ok" for r in finals)


def test_demo_study_covers_the_four_quadrants(tmp_path) -> None:
    from vptstudy.data.toy_tasks import TOY_QUADRANTS

    main, sizes = demo_studies(tmp_path, quick=False)
    assert {TOY_QUADRANTS[t] for t in main.tasks} == {
        ("similar data", "similar task"),
        ("different data", "similar task"),
        ("similar data", "different task"),
        ("different data", "different task"),
    }
    assert set(main.methods) == {"ft", "vpt-deep", "mixed", "ft-then-pt"} and len(main.seeds) >= 3
    assert sizes.kind == "datasize" and main.run["model"] == "toy-vit"
    assert len(sizes.sizes) >= 4 and len(sizes.seeds) >= 3 and len(sizes.tasks) >= 2
    # every method searches a grid; one without its own takes that of a method with the same optimizer
    from vptstudy.methods import get_method

    assert set(main.grid) == set(main.methods)
    for method, grid in main.grid.items():
        same = [m for m in ("ft", "vpt-deep") if get_method(m).optimizer == get_method(method).optimizer]
        assert grid == main.grid[same[0]]


def test_missing_demo_study_is_a_user_error(tmp_path) -> None:
    from vptstudy.errors import UserError

    with pytest.raises(UserError, match="demo study"):
        demo_studies(tmp_path, quick=True, studies_dir=tmp_path)


def test_demo_recipe_is_pinned(tmp_path) -> None:
    """The measured recipe (see the comments in demo.toml): 800/200, 4 epochs of batch 16, one prompt."""
    from vptstudy.plan import plan
    from vptstudy.sweep import candidates, expand

    main, sizes = demo_studies(tmp_path, quick=False)
    assert main.grid["ft"] == ((0.005, 0.001), (0.0001,)) and main.grid["vpt-deep"] == ((0.5, 0.125), (0.0001,))
    units = {(u.base.task, u.base.method): u for u in expand(main)}
    p = plan(candidates(units[("toy/digits", "vpt-deep")])[0])
    assert (p.num_prompts, p.input_size, p.cfg.train_size, p.cfg.seed) == (1, 32, None, 42)
    phase = p.phases[0]
    assert (phase.epochs, phase.batch_size, phase.warmup_epochs, phase.base_lr, phase.lr) == (4, 16, 1, 0.5, 0.03125)
    assert tuple(sizes.sizes) == (100, 200, 400, 800) and sizes.run["epochs"] == 4 and sizes.run["num_prompts"] == 1
