"""Atomic writes: all or nothing, no temporary file left, and readable files (not mkstemp's 0600) everywhere."""

from __future__ import annotations

import os
import stat

import numpy as np
import pytest
import torch

from vptstudy.atomic import atomic_path, atomic_write_bytes
from vptstudy.data import cache
from vptstudy.data.types import ImageSet
from vptstudy.fid.store import write_npz


def umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_replaces_content_and_leaves_no_temporary(tmp_path) -> None:
    target = tmp_path / "sub" / "a.json"
    atomic_write_bytes(target, b"one")
    atomic_write_bytes(target, b"two")
    assert target.read_bytes() == b"two" and sorted(p.name for p in target.parent.iterdir()) == ["a.json"]


def test_failure_inside_keeps_the_old_file(tmp_path) -> None:
    target = tmp_path / "a.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_bytes(b"half")
        raise RuntimeError("killed mid-write")
    assert target.read_bytes() == b"old" and [p.name for p in tmp_path.iterdir()] == ["a.bin"]


def test_results_caches_and_stats_are_readable_as_the_umask_says(tmp_path) -> None:
    expected = 0o666 & ~umask()
    atomic_write_bytes(tmp_path / "r.json", b"{}")
    images = ImageSet(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), torch.tensor([0, 1]))
    cache.save(tmp_path / "c.safetensors", "key", images)
    write_npz(tmp_path / "s.npz", {"mu": np.zeros(2)})
    modes = {p.name: mode(p) for p in tmp_path.iterdir()}
    assert modes == dict.fromkeys(["r.json", "c.safetensors", "s.npz"], expected)
