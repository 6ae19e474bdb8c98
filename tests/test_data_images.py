"""Images and list labels that must give one clean line (issue 17 §6): decompression bombs, odd label digits."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.helpers.data_fixtures import make_image_folder, make_vtab1k, write_huge_png
from vptstudy.config import RunConfig
from vptstudy.data import images, load_task_data
from vptstudy.data.vtab1k import read_list
from vptstudy.errors import UserError
from vptstudy.fid.extractors import decode_native


@pytest.mark.parametrize("side", [20000, 9000])  # over PIL's own bomb limit, and between ours and PIL's
def test_oversized_image_is_refused_naming_the_file(tmp_path, side):
    bomb = tmp_path / "big.png"
    write_huge_png(bomb, side, side)
    for decode in (lambda p: images.decode_resized(p, 8), decode_native):
        with pytest.raises(UserError, match=r"image '.*big\.png' is too large") as err:
            decode(bomb)
        assert "8192x8192" in str(err.value)


def test_oversized_image_in_a_task_folder_stops_the_load(tmp_path):
    root = make_image_folder(tmp_path / "imgs")
    write_huge_png(root / "cat" / "huge.png", 20000, 20000)
    with pytest.raises(UserError, match=r"huge\.png' is too large"):
        load_task_data(RunConfig(task="folder", method="linear", data_root=str(root), cache_dir=str(tmp_path)), 8)


def test_image_at_the_limit_still_decodes(tmp_path):
    path = tmp_path / "ok.png"
    Image.new("RGB", (8192, 4)).save(path)
    assert tuple(images.decode_resized(path, 4).shape) == (3, 4, 4)


@pytest.mark.parametrize("label", ["--1", "\u00b2", "1\u00b9", "\u0663", "+1", "1.0", "0x1"])
def test_malformed_list_labels_are_one_clean_line(tmp_path, label):
    task = make_vtab1k(tmp_path)
    (task / "test.txt").write_text(f"images/test/0000.png {label}\n")
    with pytest.raises(UserError, match=r"malformed line .*test\.txt:1"):
        read_list(task / "test.txt", 5)


def test_negative_label_is_a_range_error(tmp_path):
    task = make_vtab1k(tmp_path)
    (task / "test.txt").write_text("images/test/0000.png -1\n")
    with pytest.raises(UserError, match=r"label -1 outside \[0, 5\)"):
        read_list(task / "test.txt", 5)
