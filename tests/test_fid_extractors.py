"""The Inception path with a randomly initialised (He) FID InceptionV3: in memory, from a folder, and against
pytorch-fid's own folder statistics; and the missing-weights errors. No download ever happens."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from pytorch_fid.fid_score import calculate_frechet_distance, compute_statistics_of_path

from vptstudy.errors import UserError
from vptstudy.fid import INCEPTION_FILE, InceptionExtractor, feature_stats, file_stats, frechet_distance
from vptstudy.fid.sources import scan_folder


def images(seed: int, n: int, h: int, w: int) -> torch.Tensor:
    """Smooth coloured gradients plus noise: varied enough that pool3 features differ between images."""
    gen = torch.Generator().manual_seed(seed)
    ys, xs = torch.meshgrid(torch.linspace(0, 1, h), torch.linspace(0, 1, w), indexing="ij")
    out = []
    for _ in range(n):
        c = torch.rand(3, 3, generator=gen)
        img = c[:, 0, None, None] * ys + c[:, 1, None, None] * xs + c[:, 2, None, None]
        img = img / img.amax() + 0.2 * torch.rand(3, h, w, generator=gen)
        out.append((img.clamp(0, 1) * 255).round().to(torch.uint8))
    return torch.stack(out)


def write_pngs(folder, batch: torch.Tensor, prefix: str = "img") -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i, img in enumerate(batch):
        Image.fromarray(img.permute(1, 2, 0).numpy()).save(folder / f"{prefix}{i:02d}.png")


@pytest.fixture(scope="module")
def extractor():
    return InceptionExtractor(random_seed=0)


def test_memory_folder_and_pytorch_fid_agree(tmp_path, extractor, no_network):
    a = images(1, 2, 32, 32)
    b_small, b_wide = images(2, 1, 32, 32), images(3, 1, 24, 40)  # mixed sizes in one folder
    write_pngs(tmp_path / "a", a)
    write_pngs(tmp_path / "b", b_small, "s")
    write_pngs(tmp_path / "b", b_wide, "w")

    mem_a = feature_stats(a, extractor, batch_size=2)
    dir_a = file_stats(scan_folder(tmp_path / "a"), extractor, batch_size=2)
    dir_b = file_stats(scan_folder(tmp_path / "b"), extractor, batch_size=2)
    assert mem_a.n == dir_a.n == dir_b.n == 2 and dir_a.dims == 2048
    assert np.diag(dir_a.sigma).mean() > 1e-6  # He init: features vary between images (else every FID is 0)
    # pytorch-fid's own pipeline with the same network (batch size 1: its loader cannot batch mixed sizes)
    ref_a = compute_statistics_of_path(str(tmp_path / "a"), extractor.model, 2, 2048, "cpu", num_workers=0)
    ref_b = compute_statistics_of_path(str(tmp_path / "b"), extractor.model, 1, 2048, "cpu", num_workers=0)

    np.testing.assert_allclose(dir_a.mu, ref_a[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dir_a.sigma, ref_a[1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(dir_b.mu, ref_b[0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dir_b.sigma, ref_b[1], rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mem_a.sigma, dir_a.sigma, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(mem_a.mu, dir_a.mu, rtol=1e-5, atol=1e-6)

    # The same number: distances on the first 96 pool3 dimensions (the full 2048-d square root costs ~10-50 s
    # on a loaded 2-core CPU; the full statistics already match above).
    def fid(s1, s2, k=96):
        return frechet_distance(s1.mu[:k], s1.sigma[:k, :k], s2.mu[:k], s2.sigma[:k, :k])

    theirs = calculate_frechet_distance(ref_a[0][:96], ref_a[1][:96, :96], ref_b[0][:96], ref_b[1][:96, :96])
    assert fid(mem_a, dir_b) == pytest.approx(theirs, rel=1e-5)
    assert fid(dir_a, dir_b) == pytest.approx(theirs, rel=1e-5)
    assert theirs > 1e-3


def test_missing_weights_error_names_file_and_folder(tmp_path, monkeypatch, no_network):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(UserError) as info:
        InceptionExtractor()
    line = info.value.line()
    assert INCEPTION_FILE in line and str(tmp_path / "hub" / "checkpoints") in line
    assert "--inception-weights" in line
    with pytest.raises(UserError, match="--inception-weights"):
        InceptionExtractor(tmp_path / "nope.pth")
    (tmp_path / "bad.pth").write_bytes(b"garbage")
    with pytest.raises(UserError, match="cannot read Inception weights"):
        _ = InceptionExtractor(tmp_path / "bad.pth").model


def test_weights_found_in_hub_cache_are_used(tmp_path, monkeypatch, extractor, no_network):
    folder = tmp_path / "hub" / "checkpoints"
    folder.mkdir(parents=True)
    torch.save(extractor.model.blocks.state_dict(), folder / INCEPTION_FILE)  # wrong layout on purpose
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    found = InceptionExtractor()
    assert found.weights_path == folder / INCEPTION_FILE
    assert found.identity()["weights"]["file"] == INCEPTION_FILE
    with pytest.raises(UserError, match="do not fit"):
        _ = found.model
