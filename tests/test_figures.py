"""Figures from run directories: curves, data size, attribution, embeddings; the `visualize` CLI and its errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_limits

from tests.helpers.cli import run_cli
from tests.helpers.runs import fake_run
from vptstudy import runs
from vptstudy.config import RunConfig
from vptstudy.errors import UserError
from vptstudy.figures.attribution import attribution_figure
from vptstudy.figures.curves import phase_boundaries, plot_curves
from vptstudy.figures.datasize import plot_datasize, size_points
from vptstudy.figures.embeddings import embedding_figure, hyperboloid_to_poincare
from vptstudy.figures.select import Run, find_runs, output_target
from vptstudy.train import fit

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Torch and OpenMP (t-SNE) threads crawl on a busy shared 2-core machine; one thread is several times faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(limits=1, user_api="openmp"):
            yield
    finally:
        torch.set_num_threads(threads)


def is_image(path: Path, magic: bytes = PNG) -> bool:
    return path.is_file() and path.stat().st_size > 5000 and path.read_bytes()[: len(magic)] == magic


def write_curve(path: Path, train, test, phases=None) -> None:
    for i, (a, b) in enumerate(zip(train, test, strict=True)):
        phase = phases[i] if phases else "main"
        runs.append_jsonl(path / runs.METRICS, {"epoch": i + 1, "phase": phase, "train_loss": a, "test_loss": b})


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> dict[str, Path]:
    """Two real tiny runs on toy/digits (FT and VPT-deep, 64x64 input: a 4x4 patch grid), with weights."""
    root = tmp_path_factory.mktemp("runs")
    base = dict(
        task="toy/digits",
        model="test_vit",
        pretrained=False,
        img_size=64,
        epochs=2,
        train_size=100,
        split="final",
        test_subsample=100,
        num_prompts=4,
        device="cpu",
        out_dir=str(root),
    )
    return {
        "ft": Path(fit(RunConfig(method="ft", base_lr=0.001, **base))["run_dir"]),
        "vpt": Path(fit(RunConfig(method="vpt-deep", base_lr=0.5, **base))["run_dir"]),
    }


def copy_run(src: Path, dst: Path, task: str | None = None, weights: bool = True) -> Path:
    shutil.copytree(src, dst)
    if task:
        meta = json.loads((dst / runs.CONFIG).read_text())
        meta["run"]["task"] = task
        (dst / runs.CONFIG).write_text(json.dumps(meta))
    if not weights:
        (dst / runs.TRAINABLE).unlink()
    return dst


# -- curves ----------------------------------------------------------------------------------------------------
def test_curves_grid_over_tasks_with_phase_boundary(tmp_path):
    e = np.arange(40)
    falling = list(2 * np.exp(-e / 6) + 0.05)
    rising = list(0.8 + np.exp(-e / 4) + 0.02 * np.clip(e - 12, 0, None))
    write_curve(fake_run(tmp_path, "toy/digits", "ft"), falling, rising)
    write_curve(fake_run(tmp_path, "toy/digits", "vpt-deep"), falling, list(0.8 + np.exp(-e / 4)))
    two = fake_run(tmp_path, "toy/digits", "ft-then-pt")
    write_curve(two, falling, list(0.9 + np.exp(-e / 4)), ["ft"] * 20 + ["pt"] * 20)
    write_curve(fake_run(tmp_path, "folder", "ft"), falling, falling)
    assert phase_boundaries(runs.read_metrics(two)) == [(20.5, "ft", "pt")]
    selected = find_runs([tmp_path])
    assert len(selected) == 4
    [png] = plot_curves(selected, tmp_path / "out" / "curves")
    assert png.name == "curves.png" and is_image(png)
    [pdf] = plot_curves(selected, tmp_path / "out" / "curves-log", formats=("pdf",), scale="log")
    assert is_image(pdf, b"%PDF")


# -- data size -------------------------------------------------------------------------------------------------
def test_datasize_means_over_seeds_and_renders(tmp_path):
    for method, offset in (("ft", 0.0), ("vpt-deep", 0.1)):
        for n in (100, 400, 1600):
            for seed, jitter in ((1, -0.02), (2, 0.02)):
                acc = 0.3 + offset + 0.1 * np.log10(n) + jitter
                fake_run(tmp_path, "toy/digits", method, seed, n, final={"test_acc": acc})
    fake_run(tmp_path, "toy/digits", "ft", 3, None, final={"test_acc": 0.9})  # not a data-size run: ignored
    points = size_points(find_runs([tmp_path], complete=True))
    assert sorted(points) == [("toy/digits", "ft"), ("toy/digits", "vpt-deep")]
    mid = 0.3 + 0.1 * np.log10(400)
    assert points[("toy/digits", "ft")][400] == pytest.approx([mid - 0.02, mid + 0.02])
    [png] = plot_datasize(find_runs([tmp_path], complete=True), tmp_path / "datasize.png")
    assert is_image(png)


def test_datasize_without_sweep_runs_says_how_to_make_them(tmp_path):
    fake_run(tmp_path, "toy/digits", "ft", final={"test_acc": 0.5})
    with pytest.raises(UserError, match=r"no finished data-size runs.*sweep-datasize"):
        plot_datasize(find_runs([tmp_path]), tmp_path / "x")


# -- attribution -----------------------------------------------------------------------------------------------
def test_attribution_figure_renders_both_kinds(trained, tmp_path):
    events = []
    [png] = attribution_figure(
        trained["ft"],
        trained["vpt"],
        tmp_path / "attr",
        num_images=2,
        ig_steps=8,
        callback=lambda e, i: events.append(e),
    )
    assert is_image(png)
    assert events.count("attribute") == 4


def test_attribution_errors(trained, tmp_path):
    other = copy_run(trained["vpt"], tmp_path / "other", task="folder")
    with pytest.raises(UserError, match="needs runs of one task, got 2: folder, toy/digits"):
        attribution_figure(trained["ft"], other, tmp_path / "x")
    bare = copy_run(trained["vpt"], tmp_path / "bare", weights=False)
    with pytest.raises(UserError, match="has no stored weights"):
        attribution_figure(trained["ft"], bare, tmp_path / "x")


# -- embeddings ------------------------------------------------------------------------------------------------
def test_poincare_radii_below_one():
    rng = np.random.default_rng(0)
    xy = np.concatenate([rng.normal(0, 1, (500, 2)), rng.normal(0, 1e4, (500, 2)), np.zeros((1, 2))])
    disk = hyperboloid_to_poincare(xy)
    radii = np.linalg.norm(disk, axis=1)
    assert (radii < 1).all() and radii[-1] == 0
    order = np.argsort(np.linalg.norm(xy, axis=1))
    assert (np.diff(radii[order]) >= -1e-12).all()  # monotone in the hyperboloid radius


def test_embedding_legend_names_the_classes_from_the_run(trained, tmp_path, monkeypatch):
    import json
    import shutil

    from vptstudy.figures import embeddings

    run = tmp_path / "named" / "seed42"
    shutil.copytree(trained["ft"], run)
    config = json.loads((run / "config.json").read_text())
    assert config["resolved"]["split"]["classes"] == [str(d) for d in range(10)]  # digits record their names
    config["resolved"]["split"]["classes"] = [f"digit {d}" for d in range(10)]
    (run / "config.json").write_text(json.dumps(config))
    figures = []
    monkeypatch.setattr(embeddings, "save_figure", lambda fig, out, formats: figures.append(fig) or [])
    embedding_figure([run], tmp_path / "tsne", max_points=60)
    assert [t.get_text() for t in figures[0].legends[0].get_texts()] == [f"digit {d}" for d in range(10)]


def test_tsne_renders_and_caches_features(trained, tmp_path):
    events = []
    paths = [trained["ft"], trained["vpt"]]
    [png] = embedding_figure(paths, tmp_path / "tsne", max_points=60, callback=lambda e, i: events.append(e))
    assert is_image(png)
    assert events.count("extract") == 2
    assert (trained["ft"] / "features-test797-n60-s0.npz").is_file()
    events.clear()
    embedding_figure(paths, tmp_path / "tsne2", max_points=60, callback=lambda e, i: events.append(e))
    assert events.count("cached") == 2 and "extract" not in events


@pytest.mark.slow
def test_umap_renders(trained, tmp_path):
    [png] = embedding_figure([trained["ft"], trained["vpt"]], tmp_path / "umap", kind="umap", max_points=60)
    assert is_image(png)


def test_embeddings_need_weights(trained, tmp_path):
    bare = copy_run(trained["ft"], tmp_path / "bare", weights=False)
    with pytest.raises(UserError, match="has no stored weights"):
        embedding_figure([bare], tmp_path / "x")


# -- selection helpers -----------------------------------------------------------------------------------------
def test_find_runs_errors_and_output_target(tmp_path):
    with pytest.raises(UserError, match="no runs found"):
        find_runs([tmp_path])
    with pytest.raises(UserError, match="does not exist"):
        find_runs([tmp_path / "missing"])
    assert output_target(None, None, "curves") == (Path("figures/curves"), ("png",))
    assert output_target(Path("a/b.pdf"), None, "x") == (Path("a/b"), ("pdf",))
    assert output_target(Path("a/b.png"), "pdf", "x") == (Path("a/b"), ("pdf",))
    with pytest.raises(UserError, match="unknown figure format"):
        output_target(None, "gif", "x")
    run = fake_run(tmp_path, "toy/digits", "vpt-deep", 7, 400)
    assert Run(run).label == "vpt-deep seed7 n400s0-final"


# -- the CLI ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("command", "extra"),
    [
        ("gradcam", ["--images", "2"]),
        ("ig", ["--images", "1", "--ig-steps", "4", "--select", "both-wrong"]),
        ("tsne", ["--max-points", "60"]),
        ("curves", ["--scale", "log"]),
    ],
)
def test_visualize_commands_render(command, extra, trained, tmp_path, capsys, monkeypatch):
    out = tmp_path / f"{command}.png"
    code, stdout, err = run_cli(
        ["visualize", command, str(trained["ft"]), str(trained["vpt"]), "--out", str(out), "--device", "cpu", *extra]
        if command != "curves"
        else ["visualize", command, str(trained["ft"]), str(trained["vpt"]), "--out", str(out), *extra],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert f"wrote {out}" in stdout and is_image(out)
    if command == "curves":
        assert "too short" in stdout  # two epochs: the detector does not judge


def test_visualize_datasize_and_pdf(tmp_path, capsys, monkeypatch):
    for n in (100, 400):
        fake_run(tmp_path / "runs", "toy/digits", "ft", 1, n, final={"test_acc": 0.5})
    code, _, err = run_cli(
        ["visualize", "datasize", str(tmp_path / "runs"), "--out", str(tmp_path / "ds"), "--format", "pdf"],
        capsys,
        monkeypatch,
    )
    assert code == 0, err
    assert is_image(tmp_path / "ds.pdf", b"%PDF")


def test_visualize_bad_input_is_one_line_exit_2(trained, tmp_path, capsys, monkeypatch):
    (tmp_path / "empty").mkdir()
    code, _, err = run_cli(["visualize", "curves", str(tmp_path / "empty")], capsys, monkeypatch)
    assert code == 2 and err.startswith("vptstudy: error: no runs found") and err.count("\n") == 1
    other = copy_run(trained["vpt"], tmp_path / "other", task="folder")
    code, _, err = run_cli(["visualize", "attribution", str(trained["ft"]), str(other)], capsys, monkeypatch)
    assert code == 2 and "needs runs of one task" in err and "Traceback" not in err
    bare = copy_run(trained["ft"], tmp_path / "bare", weights=False)
    code, _, err = run_cli(["visualize", "tsne", str(bare)], capsys, monkeypatch)
    assert code == 2 and "has no stored weights" in err


def test_visualize_quadrant_from_runs_and_fid(tmp_path, capsys, monkeypatch):
    fids = {"toy/digits": 10.0, "toy/count": 20.0, "toy/shapes-new": 30.0, "toy/sprites-position": 40.0}
    for i, task in enumerate(fids):
        for method, acc in (("ft", 0.5), ("vpt-deep", 0.5 + (0.1 if i % 2 else -0.1))):
            fake_run(tmp_path / "runs", task, method, final={"test_acc": acc}, split="final")
    (tmp_path / "fid.json").write_text(json.dumps(fids))
    out = tmp_path / "quadrant.png"
    args = ["visualize", "quadrant", str(tmp_path / "runs"), "--fid", str(tmp_path / "fid.json"), "--out", str(out)]
    code, stdout, err = run_cli(args, capsys, monkeypatch)
    assert code == 0, err
    assert is_image(out) and "VPT wins" in stdout
    code, _, err = run_cli([*args[:3], "--fid", str(tmp_path / "missing.json")], capsys, monkeypatch)
    assert code == 2 and "not found" in err


def test_ft_is_drawn_above_ft_then_pt_whose_first_phase_repeats_it(tmp_path):
    import matplotlib.pyplot as plt

    from vptstudy.figures.curves import _draw_task

    same = list(np.linspace(2, 1, 8))
    write_curve(fake_run(tmp_path, "toy/digits", "ft"), same[:4], same[:4])
    write_curve(fake_run(tmp_path, "toy/digits", "ft-then-pt"), same, same, ["ft"] * 4 + ["pt"] * 4)
    fig, ax = plt.subplots()
    _draw_task(ax, "toy/digits", find_runs([tmp_path]), "linear")
    z = {line.get_label(): line.get_zorder() for line in ax.get_lines() if not line.get_label().startswith("_")}
    plt.close(fig)
    assert z["ft"] > z["ft-then-pt"]  # otherwise the identical FT phase hides FT's line


def test_a_panel_with_many_runs_keeps_one_legend_entry_per_method(tmp_path):
    import matplotlib.pyplot as plt

    from vptstudy.figures.curves import _draw_task

    e = np.arange(12)
    falling, rising = list(1 + np.exp(-e)), list(0.8 + np.exp(-e / 3) + np.where(e > 5, 0.1 * (e - 5), 0))
    for seed in (42, 43, 44):
        write_curve(fake_run(tmp_path, "toy/digits", "ft", seed=seed), falling, rising if seed == 43 else falling)
        write_curve(fake_run(tmp_path, "toy/digits", "vpt-deep", seed=seed), falling, falling)
    fig, ax = plt.subplots()
    _draw_task(ax, "toy/digits", find_runs([tmp_path]), "linear")
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    plt.close(fig)
    # six runs, two colours: the legend names the methods, how many runs each draws and how many overfit
    assert labels == ["ft (3 runs, 1 overfit)", "vpt-deep (3 runs)", "train", "test"]
