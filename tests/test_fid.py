"""The fid package through its front: ``compute_fid`` end to end with backbone features of a tiny ViT: cache hits read
no image, and every part of the key (image cap, split, extractor, reference files) invalidates; --save-stats; errors
before any work."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

import vptstudy.fid.compute as compute
from tests.conftest import tiny_vit
from vptstudy.errors import UserError
from vptstudy.fid import BackboneExtractor, FidRequest, compute_fid, load_stats


@pytest.fixture
def reference(tmp_path):
    folder = tmp_path / "ref"
    (folder / "sub").mkdir(parents=True)
    gen = torch.Generator().manual_seed(0)
    for i in range(6):
        img = torch.randint(0, 256, (32, 32, 3), generator=gen, dtype=torch.uint8).numpy()
        target = folder / "sub" if i % 2 else folder
        Image.fromarray(img).save(target / f"r{i}.{'PNG' if i == 5 else 'png'}")
    return folder


class Counter:
    """Counts task loads and decoded reference files."""

    def __init__(self, monkeypatch):
        self.loads = 0
        self.decodes = 0
        real = compute.load_task_split

        def load(*args, **kwargs):
            self.loads += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(compute, "load_task_split", load)

    def extractor(self, seed: int = 0) -> BackboneExtractor:
        torch.manual_seed(seed)
        ext = BackboneExtractor("toy-vit", module=tiny_vit(), device="cpu")
        real = ext.decode_file

        def decode(path):
            self.decodes += 1
            return real(path)

        ext.decode_file = decode
        return ext


def request(reference, tmp_path, **kw) -> FidRequest:
    base = dict(reference=str(reference), tasks=("toy/digits",), max_images=120, cache_dir=str(tmp_path / "cache"))
    return FidRequest(**{**base, **kw})


def test_cache_hit_reads_nothing_and_invalidates(reference, tmp_path, monkeypatch, no_network):
    count = Counter(monkeypatch)
    first = compute_fid(request(reference, tmp_path), extractor=count.extractor())
    assert (count.loads, count.decodes) == (1, 6)  # recursive scan, .PNG included
    row = first.rows[0]
    assert not row.cached and row.n_task == 120 and row.n_reference == 6 and row.dims == 32
    assert row.fid > 0 and "reference n=6 <= 32 dims" in row.warning and row.split == "trainval"
    assert (row.group, row.disparity) == ("toy", "low")

    again = compute_fid(request(reference, tmp_path), extractor=count.extractor())
    assert (count.loads, count.decodes) == (1, 6)  # nothing read the second time
    assert again.rows[0].cached and again.reference["cached"]
    assert again.rows[0].fid == row.fid

    compute_fid(request(reference, tmp_path, max_images=100), extractor=count.extractor())
    assert count.loads == 2 and count.decodes == 6  # new cap: the task again; the 6 reference files unchanged
    compute_fid(request(reference, tmp_path, split="test"), extractor=count.extractor())
    assert count.loads == 3
    other = compute_fid(request(reference, tmp_path), extractor=count.extractor(seed=1))  # other weights
    assert (count.loads, count.decodes) == (4, 12) and other.rows[0].fid != row.fid

    Image.fromarray(np.zeros((32, 32, 3), np.uint8)).save(reference / "new.png")
    compute_fid(request(reference, tmp_path), extractor=count.extractor())
    assert (count.loads, count.decodes) == (4, 19)  # reference changed: re-read; the task still cached

    before = sorted((tmp_path / "cache").rglob("*"))
    compute_fid(request(reference, tmp_path, use_cache=False), extractor=count.extractor())
    assert count.loads == 5 and sorted((tmp_path / "cache").rglob("*")) == before


def test_save_stats_reuse_and_early_errors(reference, tmp_path, monkeypatch, no_network):
    count = Counter(monkeypatch)
    out = tmp_path / "ref.npz"
    from_folder = compute_fid(request(reference, tmp_path, save_stats=str(out)), extractor=count.extractor())
    assert from_folder.saved_stats == str(out) and load_stats(out).n == 6
    from_npz = compute_fid(request(out, tmp_path), extractor=count.extractor())
    assert from_npz.rows[0].fid == pytest.approx(from_folder.rows[0].fid, rel=1e-12)
    loads = count.loads

    with pytest.raises(UserError, match="already exists"):  # pytorch-fid-like refusal, before any work
        compute_fid(request(reference, tmp_path, save_stats=str(out)), extractor=count.extractor())
    with pytest.raises(UserError, match="unknown task"):
        compute_fid(request(reference, tmp_path, tasks=("toy/digits", "nope")), extractor=count.extractor())
    with pytest.raises(UserError, match="nothing to do"):
        compute_fid(request(reference, tmp_path, tasks=()), extractor=count.extractor())
    with pytest.raises(UserError, match="not found"):
        compute_fid(request(tmp_path / "missing", tmp_path), extractor=count.extractor())
    assert count.loads == loads

    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, mu=np.zeros(7), sigma=np.eye(7))
    with pytest.raises(UserError, match="7-d features"):
        compute_fid(request(wrong, tmp_path), extractor=count.extractor())


def test_toy_upstream_reference(tmp_path, monkeypatch, no_network):
    count = Counter(monkeypatch)
    req = request("toy-upstream", tmp_path, tasks=("toy/count",), max_images=64)
    first = compute_fid(req, extractor=count.extractor())
    assert first.reference == {"kind": "toy-upstream", "path": "toy-upstream", "n": 64, "cached": False}
    assert first.rows[0].n_task == 64 and first.rows[0].disparity == "high" and first.rows[0].fid > 0
    again = compute_fid(req, extractor=count.extractor())
    assert again.reference["cached"] and again.rows[0].cached and again.rows[0].fid == first.rows[0].fid
