"""The uint8 tensor cache: reused without decoding, rebuilt when damaged or stale, written atomically."""

from __future__ import annotations

import torch
from safetensors.torch import load_file, save_file

from tests.helpers.data_fixtures import make_vtab1k, vtab_config
from vptstudy.config import RunConfig
from vptstudy.data import load_task_data
from vptstudy.data.cache import FORMAT

TOTAL = 40 + 10 + 15  # images in the fixture's pool and test lists


def cfg_for(root, **kw) -> RunConfig:
    return vtab_config(root, cache="c", **kw)


def cache_files(root):
    return sorted((root / "c").rglob("*.safetensors"))


def test_second_load_reads_cache_without_decoding(tmp_path, decodes):
    make_vtab1k(tmp_path)
    progress: list[tuple[int, int]] = []
    first = load_task_data(cfg_for(tmp_path), 16, lambda d, t: progress.append((d, t)))
    assert len(decodes) == TOTAL
    assert progress[-1] == (TOTAL, TOTAL) and [d for d, _ in progress] == sorted(d for d, _ in progress)
    assert len(cache_files(tmp_path)) == 2
    assert not list((tmp_path / "c").rglob("*.tmp"))
    decodes.clear()
    progress.clear()
    second = load_task_data(cfg_for(tmp_path, train_size=20, split_seed=4), 16, lambda d, t: progress.append((d, t)))
    again = load_task_data(cfg_for(tmp_path), 16)
    assert decodes == [] and progress == []
    assert torch.equal(first.train.images, again.train.images) and torch.equal(first.test.images, again.test.images)
    assert second.split_info["cache"]["read"] == ["train800+val200", "test"]


def test_cache_keyed_by_size_and_content(tmp_path, decodes):
    task = make_vtab1k(tmp_path)
    load_task_data(cfg_for(tmp_path), 16)
    decodes.clear()
    load_task_data(cfg_for(tmp_path), 8)
    assert len(decodes) == TOTAL
    decodes.clear()
    lines = (task / "test.txt").read_text().splitlines()
    (task / "test.txt").write_text("\n".join(lines[:-1]) + "\n")
    data = load_task_data(cfg_for(tmp_path), 8)
    assert len(decodes) == 14 and len(data.test) == 14


def test_truncated_cache_is_rebuilt(tmp_path, decodes):
    make_vtab1k(tmp_path)
    load_task_data(cfg_for(tmp_path), 16)
    for path in cache_files(tmp_path):
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    decodes.clear()
    data = load_task_data(cfg_for(tmp_path), 16)
    assert len(decodes) == TOTAL and len(data.train) == 40
    assert all(load_file(str(p))["images"].shape[1:] == (3, 16, 16) for p in cache_files(tmp_path))


def test_older_format_or_foreign_file_is_rebuilt(tmp_path, decodes):
    make_vtab1k(tmp_path)
    first = load_task_data(cfg_for(tmp_path), 16)
    old, other = cache_files(tmp_path)
    tensors = load_file(str(old))
    save_file(tensors, str(old), metadata={"format": FORMAT, "version": "1", "key": "whatever"})
    other.write_bytes(b"\x00" * 64)
    decodes.clear()
    data = load_task_data(cfg_for(tmp_path), 16)
    assert len(decodes) == TOTAL
    assert torch.equal(data.train.images, first.train.images)
