"""The VTAB-1k folder source end to end, and every bad input as a one-line UserError."""

from __future__ import annotations

import sys

import pytest
import torch

from tests.helpers.data_fixtures import edit_line, make_image_folder, make_vtab1k, vtab_config
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.errors import UserError

TASK = "vtab/retinopathy"  # 5 classes, folder name diabetic_retinopathy


def cfg_for(root, **kw) -> RunConfig:
    return vtab_config(root, **kw)


def test_official_lists_give_train_val_test(tmp_path):
    make_vtab1k(tmp_path)
    data = load_task_data(cfg_for(tmp_path), 16)
    assert (len(data.train), len(data.val), len(data.test)) == (40, 10, 15)
    assert data.train.images.shape == (40, 3, 16, 16) and data.train.images.dtype == torch.uint8
    assert data.train.labels.tolist() == [i % 5 for i in range(40)]
    assert int(data.val.images[3, 0, 5, 5]) == 3  # val200 line 3 is the image filled with value 3
    info = data.split_info
    assert info["kind"] == "official train40/val10" and info["test"] == 15
    assert info["source"].startswith("VTAB-1k folder")
    final = load_task_data(cfg_for(tmp_path, split="final"), 16)
    assert final.val is None and len(final.train) == 50


def test_without_train800_lists_the_split_is_seeded(tmp_path):
    make_vtab1k(tmp_path, official=False, train=800, val=200, test=5)
    a = load_task_data(cfg_for(tmp_path), 8)
    b = load_task_data(cfg_for(tmp_path, split_seed=3), 8)
    assert (len(a.train), len(a.val)) == (800, 200)
    assert a.split_info["kind"] == "train800/val200"
    assert a.split_info["train_hash"] != b.split_info["train_hash"]


def test_train_size_and_shots_draw_from_the_pool(tmp_path):
    make_vtab1k(tmp_path)
    sized = load_task_data(cfg_for(tmp_path, train_size=20), 8)
    assert (len(sized.train), len(sized.val)) == (20, 5)
    assert torch.bincount(sized.train.labels).tolist() == [4] * 5
    shots = load_task_data(cfg_for(tmp_path, shots=2), 8)
    assert torch.bincount(shots.train.labels).tolist() == [2] * 5
    assert torch.bincount(shots.val.labels).tolist() == [2] * 5
    with pytest.raises(UserError, match="at most 40"):
        load_task_data(cfg_for(tmp_path, train_size=41), 8)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("images/train800/0002.png", r"malformed line .*train800\.txt:3"),
        ("images/train800/0002.png two", r"malformed line .*train800\.txt:3"),
        ("../secret.png 1", r"unsafe path '\.\./secret\.png' escapes.*train800\.txt:3"),
        ("/etc/passwd 1", r"unsafe path '/etc/passwd'"),
        ("images/a/../../x.png 1", "unsafe path"),
        ("images/train800/0002.png 7", r"label 7 outside \[0, 5\) \(.*train800\.txt:3\)"),
        ("images/train800/0002.png -1", r"label -1 outside"),
    ],
)
def test_bad_list_lines_name_file_and_line(tmp_path, line, message):
    task = make_vtab1k(tmp_path)
    edit_line(task / "train800.txt", 3, line)
    with pytest.raises(UserError, match=message) as err:
        load_task_data(cfg_for(tmp_path), 8)
    assert "\n" not in err.value.line()
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").rglob("*.safetensors"))


def test_corrupt_image_is_named_and_nothing_cached(tmp_path):
    task = make_vtab1k(tmp_path)
    (task / "images/val200/0004.png").write_bytes(b"not an image")
    with pytest.raises(UserError, match=r"cannot decode image '.*val200/0004\.png'"):
        load_task_data(cfg_for(tmp_path), 8)
    assert not any((tmp_path / "cache").rglob("*.safetensors"))


def test_missing_files_are_named(tmp_path):
    task = make_vtab1k(tmp_path)
    (task / "test.txt").unlink()
    with pytest.raises(UserError, match=r"incomplete.*needs test\.txt and train800val200\.txt"):
        load_task_data(cfg_for(tmp_path), 8)
    with pytest.raises(UserError, match=r"no data for vtab/dmlab.*vtab-1k/dmlab/"):
        load_task_data(cfg_for(tmp_path).replace(task="vtab/dmlab"), 8)


def test_image_folder_with_an_empty_class(tmp_path):
    root = make_image_folder(tmp_path / "mine")
    (root / "zebra").mkdir()
    with pytest.raises(UserError, match="class folder 'zebra' holds no images"):
        load_task_data(RunConfig(task="folder", method="linear", data_root=str(root)), 8)


def test_image_folder_loads_with_held_out_test(tmp_path):
    root = make_image_folder(tmp_path / "mine", per_class=10)
    data = load_task_data(RunConfig(task="folder", method="linear", data_root=str(root)), 8)
    assert data.num_classes == 3 and len(data.test) == 6
    assert torch.bincount(data.test.labels).tolist() == [2, 2, 2]
    assert len(data.train) + len(data.val) == 24
    assert data.split_info["classes"] == ["cat", "dog", "fox"]


def test_cli_prints_one_line_and_exits_2(tmp_path, monkeypatch, capsys):
    from vptstudy.cli import main

    task = make_vtab1k(tmp_path)
    edit_line(task / "test.txt", 2, "nonsense")
    out = tmp_path / "runs"
    argv = ["vptstudy", "train", "--task", TASK, "--method", "linear", "--data-root", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", [*argv, "--out-dir", str(out), "--cache-dir", str(tmp_path / "c")])
    with pytest.raises(SystemExit) as exit_info:
        main()
    err = capsys.readouterr().err.strip()
    assert exit_info.value.code == 2
    assert err.startswith("vptstudy: error: malformed line 'nonsense'") and "test.txt:2" in err
    assert len(err.splitlines()) == 1
    assert not out.exists()
