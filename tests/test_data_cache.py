"""The uint8 tensor cache: reused without decoding, rebuilt when stale, reported and set aside when damaged, written
atomically; and the in-process copy a worker keeps between runs. ``memo.clear_all()`` stands for a fresh process."""

from __future__ import annotations

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from tests.helpers.data_fixtures import make_vtab1k, vtab_config
from vptstudy import memo
from vptstudy.config import RunConfig
from vptstudy.data import cache, load_task_data
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
    memo.clear_all()
    second = load_task_data(cfg_for(tmp_path, train_size=20, split_seed=4), 16, lambda d, t: progress.append((d, t)))
    memo.clear_all()
    again = load_task_data(cfg_for(tmp_path), 16)
    assert decodes == [] and progress == []
    assert torch.equal(first.train.images, again.train.images) and torch.equal(first.test.images, again.test.images)
    assert second.split_info["cache"]["read"] == ["train800+val200", "test"]


def test_second_load_in_the_same_process_reads_no_file(tmp_path, decodes, monkeypatch):
    make_vtab1k(tmp_path)
    first = load_task_data(cfg_for(tmp_path), 16)
    reads: list[str] = []
    monkeypatch.setattr(cache, "load_file", lambda path: reads.append(path))  # any file read fails the test
    again = load_task_data(cfg_for(tmp_path, train_size=20, split_seed=4), 16)
    assert decodes[TOTAL:] == [] and reads == []
    assert again.split_info["cache"]["memory"] == ["train800+val200", "test"]
    assert torch.equal(again.test.images, first.test.images) and len(again.train) == 20


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


def test_truncated_cache_is_reported_set_aside_and_rebuilt(tmp_path, decodes, capsys):
    make_vtab1k(tmp_path)
    load_task_data(cfg_for(tmp_path), 16)
    damaged = cache_files(tmp_path)
    for path in damaged:
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    decodes.clear()
    memo.clear_all()
    capsys.readouterr()
    data = load_task_data(cfg_for(tmp_path), 16)
    assert len(decodes) == TOTAL and len(data.train) == 40
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 2 and all(line.startswith("vptstudy: warning: damaged data cache ") for line in lines)
    assert all("rebuilding it" in line and "Traceback" not in line for line in lines)
    rejected = sorted((damaged[0].parent / "rejected").iterdir())
    assert [p.name.split(".safetensors")[0] for p in rejected] == [p.stem for p in damaged]
    assert all(load_file(str(p))["images"].shape[1:] == (3, 16, 16) for p in cache_files(tmp_path))


def test_older_format_is_rebuilt_quietly_and_garbage_is_reported(tmp_path, decodes, capsys):
    make_vtab1k(tmp_path)
    first = load_task_data(cfg_for(tmp_path), 16)
    old, other = cache_files(tmp_path)
    tensors = load_file(str(old))
    save_file(tensors, str(old), metadata={"format": FORMAT, "version": "1", "key": "whatever"})
    other.write_bytes(b"\x00" * 64)
    decodes.clear()
    memo.clear_all()
    capsys.readouterr()
    data = load_task_data(cfg_for(tmp_path), 16)
    assert len(decodes) == TOTAL
    assert torch.equal(data.train.images, first.train.images)
    (line,) = capsys.readouterr().err.splitlines()  # the stale file is no damage: only the garbage one is named
    assert str(other) in line and "not a complete safetensors file" in line
    assert [p.name.split(".safetensors")[0] for p in (other.parent / "rejected").iterdir()] == [other.stem]


def test_cache_file_with_the_right_key_but_wrong_shape_is_damage(tmp_path, decodes, capsys):
    make_vtab1k(tmp_path)
    load_task_data(cfg_for(tmp_path), 16)
    path = cache_files(tmp_path)[0]
    with safe_open(str(path), framework="pt") as handle:
        meta = handle.metadata()
    tensors = load_file(str(path))
    save_file({"images": tensors["images"][:, :, :8, :8].contiguous(), "labels": tensors["labels"]}, str(path), meta)
    memo.clear_all()
    capsys.readouterr()
    decodes.clear()
    load_task_data(cfg_for(tmp_path), 16)
    (line,) = capsys.readouterr().err.splitlines()
    assert "expected" in line and str(path) in line and len(decodes) == 15
