"""Caches keyed on what the data is: an edited image is decoded again, never served stale (issue 17 §1)."""

from __future__ import annotations

import os

import torch

from tests.conftest import tiny_vit
from tests.helpers.data_fixtures import make_image_folder, make_vtab1k, vtab_config, write_image
from vptstudy.config import RunConfig
from vptstudy.data import content_key, load_task_data
from vptstudy.fid import BackboneExtractor, FidRequest, compute_fid


def replace_image(path, value: int) -> None:
    """Rewrite ``path`` with other pixels and a clearly later mtime (same name, same size on disk is not assumed)."""
    before = path.stat().st_mtime_ns
    write_image(path, value)
    os.utime(path, ns=(before + 5_000_000_000, before + 5_000_000_000))


def test_changed_image_is_decoded_again_not_read_from_the_cache(tmp_path, decodes):
    task = make_vtab1k(tmp_path)
    first = load_task_data(vtab_config(tmp_path, cache="c"), 16)
    decodes.clear()
    replace_image(task / "images/test/0003.png", 200)
    second = load_task_data(vtab_config(tmp_path, cache="c"), 16)
    assert len(decodes) == 15  # the test part only: the pool's cache entry still holds
    assert second.split_info["cache"]["read"] == ["train800+val200"]
    changed = (second.test.images != first.test.images).flatten(1).any(1)
    assert changed.tolist() == [i == 3 for i in range(15)]
    assert int(second.test.images[3, 0, 8, 8]) == 200


def test_content_key_follows_the_files_and_ignores_the_cache_beside_them(tmp_path):
    root = make_image_folder(tmp_path / "imgs")
    cfg = RunConfig(task="folder", method="linear", data_root=str(root))
    key = content_key(cfg)
    assert key["data_dir"] == str(root.resolve()) and key["files"] == 15
    load_task_data(cfg, 8)  # writes root/.vptstudy-cache
    assert (root / ".vptstudy-cache").is_dir() and content_key(cfg) == key
    replace_image(root / "dog" / "2.png", 99)
    assert content_key(cfg)["fingerprint"] != key["fingerprint"]
    assert content_key(RunConfig(task="toy/digits", method="linear"))["fingerprint"] is None


def test_fid_task_statistics_are_recomputed_after_an_image_changes(tmp_path, no_network):
    ref = make_image_folder(tmp_path / "ref", per_class=2)
    data = make_image_folder(tmp_path / "data", per_class=6)
    req = FidRequest(reference=str(ref), tasks=("folder",), data_root=str(data), cache_dir=str(tmp_path / "c"))

    def run():
        torch.manual_seed(0)
        return compute_fid(req, extractor=BackboneExtractor("toy-vit", module=tiny_vit(), device="cpu")).rows[0]

    first, again = run(), run()
    assert not first.cached and again.cached and again.fid == first.fid
    replace_image(data / "cat" / "1.png", 250)
    after = run()
    assert not after.cached and after.fid != first.fid
