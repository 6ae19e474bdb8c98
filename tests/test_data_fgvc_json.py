"""FGVC json splits: official train/val kept, sorted class ids, FGVC crops from the 256 cache, bad input."""

from __future__ import annotations

import json

import pytest
import torch

from tests.helpers.data_fixtures import make_fgvc
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.errors import UserError


def cfg_for(root, **kw) -> RunConfig:
    return RunConfig(task="fgvc/cub", method="linear", data_root=str(root), cache_dir=str(root / "c"), **kw)


def test_fgvc_json_official_split_and_256_cache(tmp_path):
    make_fgvc(tmp_path)
    data = load_task_data(cfg_for(tmp_path), 32)
    assert (len(data.train), len(data.val), len(data.test)) == (12, 4, 8)
    assert data.train.images.shape[-2:] == (37, 37)  # 32 * 256 / 224, cropped to 32 on the device
    assert (data.preprocess.crop, data.preprocess.flip) == (32, True)
    assert data.split_info["kind"] == "official train12/val4"
    assert sorted(set(data.test.labels.tolist())) == [0, 1, 2, 3]  # json ids 1..4 -> 0..3
    assert torch.bincount(data.train.labels).tolist() == [3, 3, 3, 3]


def write(task, name, mapping):
    (task / name).write_text(json.dumps(mapping) if not isinstance(mapping, str) else mapping)


def test_bad_json_is_named_with_its_line(tmp_path):
    task = make_fgvc(tmp_path)
    write(task, "val.json", '{\n "a.jpg": 1,\n oops\n}')
    with pytest.raises(UserError, match=r"invalid JSON.*val\.json:3"):
        load_task_data(cfg_for(tmp_path), 32)


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ({"../../etc/x.jpg": 1}, "unsafe path"),
        ({"/abs/x.jpg": 1}, "unsafe path"),
        ([1, 2], "must be a non-empty object"),
        ({"001.class/img_0.jpg": 1.5}, "is not an int or a name"),
        ({"001.class/img_0.jpg": "name"}, "mix ints and strings"),
        ({f"x{i}.jpg": i for i in range(201)}, "201 classes found, the task has 200"),
    ],
)
def test_bad_split_files(tmp_path, mapping, message):
    task = make_fgvc(tmp_path)
    write(task, "test.json", mapping)
    with pytest.raises(UserError, match=message):
        load_task_data(cfg_for(tmp_path), 32)


def test_missing_image_is_named(tmp_path):
    task = make_fgvc(tmp_path, classes=3)
    train = json.loads((task / "train.json").read_text())
    write(task, "train.json", {"missing/x.jpg": 1, **train})
    with pytest.raises(UserError, match=r"image 'missing/x\.jpg' from train\.json not found"):
        load_task_data(cfg_for(tmp_path), 32)
