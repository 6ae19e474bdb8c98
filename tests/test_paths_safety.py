"""Paths stay where they belong: no symlink out of the data folder, no study name out of --out-dir, one line
for an unwritable output, a finished study reruns without writing, 16-bit PNGs keep their grey levels."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.helpers.cli import run_cli
from tests.helpers.data_fixtures import edit_line, make_image_folder, make_vtab1k, vtab_config
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.images import decode_resized
from vptstudy.data.paths import ALLOW_SYMLINKS_ENV
from vptstudy.errors import UserError

TINY = ["--model", "test_vit", "--no-pretrained", "--img-size", "32", "--batch-size", "64", "--epochs", "1"]


@pytest.fixture
def outside(tmp_path) -> Path:
    """An image and a folder of images outside every data folder (what a symlink could point at)."""
    make_image_folder(tmp_path / "elsewhere", classes=("secret",), per_class=2)
    return tmp_path / "elsewhere"


def test_vtab_list_entry_symlinked_out_is_refused_like_dotdot(tmp_path, outside, monkeypatch) -> None:
    monkeypatch.delenv(ALLOW_SYMLINKS_ENV, raising=False)
    data = tmp_path / "data"
    task = make_vtab1k(data)
    (task / "images" / "link.png").symlink_to(outside / "secret" / "0.png")
    edit_line(task / "train800.txt", 3, "images/link.png 1")
    with pytest.raises(UserError) as err:
        load_task_data(vtab_config(data), 8)
    line = err.value.line()
    assert line.startswith("unsafe path 'images/link.png' escapes the data folder") and "train800.txt:3" in line
    assert "--allow-symlinks" in line and "\n" not in line
    edit_line(task / "train800.txt", 3, "../x.png 1")  # the same error as a '..' path
    with pytest.raises(UserError, match=r"^unsafe path '\.\./x\.png' escapes the data folder"):
        load_task_data(vtab_config(data), 8)
    edit_line(task / "train800.txt", 3, "images/link.png 1")
    monkeypatch.setenv(ALLOW_SYMLINKS_ENV, "1")  # opted in: followed
    assert len(load_task_data(vtab_config(data), 8).train) > 0


def test_class_folder_symlinked_out_is_one_line_exit_2_unless_allowed(tmp_path, outside, capsys, monkeypatch) -> None:
    monkeypatch.setenv(ALLOW_SYMLINKS_ENV, "0")  # restored after the test (--allow-symlinks sets it)
    root = make_image_folder(tmp_path / "mine", per_class=6)
    (root / "leak").symlink_to(outside / "secret", target_is_directory=True)
    args = ["train", "--task", "folder", "--data-root", str(root), "--method", "linear", *TINY]
    args += ["--out-dir", str(tmp_path / "out")]
    res = run_cli(args, capsys, monkeypatch)
    assert res.code == 2
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("vptstudy: error: unsafe path 'leak/0.png' escapes the data folder")
    assert not (tmp_path / "out").exists()
    assert run_cli(["--allow-symlinks", *args], capsys, monkeypatch).code == 0
    # a link that stays inside the data folder is fine without the flag
    os.environ[ALLOW_SYMLINKS_ENV] = "0"
    (root / "leak").unlink()
    (root / "alias").symlink_to(root / "cat", target_is_directory=True)
    data = load_task_data(RunConfig(task="folder", method="linear", data_root=str(root)), 8)
    assert data.split_info["classes"] == ["alias", "cat", "dog", "fox"]


@pytest.mark.parametrize("name", ["../x", "..", "a/b", ".hidden"])
def test_study_name_is_one_safe_folder(name, tmp_path, capsys, monkeypatch) -> None:
    out = tmp_path / "deep" / "out"
    res = run_cli(
        ["train", "--task", "toy/digits", "--method", "linear", *TINY, "--study", name, "--out-dir", str(out)],
        capsys,
        monkeypatch,
    )
    assert res.code == 2 and res.err.startswith(f"vptstudy: error: invalid --study {name!r}"), res.err
    assert len(res.err.strip().splitlines()) == 1
    assert not (tmp_path / "deep").exists()


def _unwritable_dir(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        folder = tmp_path / "readonly"
        folder.mkdir()
        folder.chmod(0o555)
        return folder / "out"
    if os.access("/sys", os.W_OK) and Path("/sys/kernel").is_dir():  # root: a read-only mount instead
        return Path("/sys/vptstudy-test-out")
    pytest.skip("no read-only folder available to root here")


@pytest.mark.parametrize("case", ["under a file", "read-only"])
def test_unwritable_out_dir_is_one_line_naming_the_path(case, tmp_path, capsys, monkeypatch) -> None:
    if case == "under a file":
        (tmp_path / "afile").write_text("x")
        out = tmp_path / "afile" / "out"
    else:
        out = _unwritable_dir(tmp_path)
    res = run_cli(
        ["train", "--task", "toy/digits", "--method", "linear", *TINY, "--out-dir", str(out)], capsys, monkeypatch
    )
    assert res.code == 2, res.err
    lines = res.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(
        ("vptstudy: error: cannot write '", "vptstudy: error: cannot access '", "vptstudy: error: cannot create ")
    )
    cause = ("Not a directory", "Operation not permitted", "Read-only", "[E")
    assert str(out.parent) in lines[0] and any(c in lines[0] for c in cause) and "--out-dir" in lines[0]


STUDY = """
name = "ro"
kind = "search"
tasks = ["toy/digits"]
methods = ["linear"]
seeds = [42]
[grid.linear]
lr = [1.0, 0.1]
wd = [0.0]
[run]
model = "test_vit"
pretrained = false
img_size = 32
epochs = 1
batch_size = 64
test_subsample = 100
out_dir = "{out}"
"""


def _snapshot(root: Path) -> dict[str, tuple[int, int, int]]:
    return {str(p): (p.stat().st_ino, p.stat().st_size, p.stat().st_mtime_ns) for p in [root, *root.rglob("*")]}


def test_a_finished_study_reruns_from_a_read_only_folder(tmp_path, capsys, monkeypatch) -> None:
    (tmp_path / "s.toml").write_text(STUDY.format(out=tmp_path / "out"))
    assert run_cli(["run", str(tmp_path / "s.toml")], capsys, monkeypatch).code == 0
    before = _snapshot(tmp_path / "out")
    folders = [p for p in [tmp_path / "out", *(tmp_path / "out").rglob("*")] if p.is_dir()]
    for folder in folders:
        folder.chmod(0o555)  # read-only (root ignores this; the snapshot then proves nothing was written)
    try:
        res = run_cli(["run", str(tmp_path / "s.toml")], capsys, monkeypatch)
    finally:
        for folder in folders:
            folder.chmod(0o755)
    assert res.code == 0, res.err
    assert _snapshot(tmp_path / "out") == before  # nothing deleted, created or rewritten


def test_16_bit_png_is_scaled_not_clipped(tmp_path) -> None:
    grey = np.full((6, 6), 32896, dtype=np.uint16)  # 128 * 257: mid grey in 16 bit
    grey[0, 0], grey[0, 1] = 65535, 0
    Image.fromarray(grey).save(tmp_path / "g.png")
    assert Image.open(tmp_path / "g.png").mode.startswith("I")
    pixels = decode_resized(tmp_path / "g.png", 6)
    assert pixels[:, 3, 3].tolist() == [128, 128, 128]  # convert("RGB") gave 255: white
    assert pixels[:, 0, 0].tolist() == [255] * 3 and pixels[:, 0, 1].tolist() == [0] * 3
