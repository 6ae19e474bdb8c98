"""Fréchet distance: closed forms, agreement with pytorch-fid, streaming statistics, the .npz store."""

from __future__ import annotations

import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance as pytorch_fid_distance

from vptstudy.errors import UserError
from vptstudy.fid import FrechetError, FrechetReference, Stats, frechet_distance, stats_from_features
from vptstudy.fid.frechet import StatsAccumulator
from vptstudy.fid.store import StatsCache, load_stats, save_stats

METHODS = ("eigh", "sqrtm")


def rotation(d: int, seed: int) -> np.ndarray:
    q, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((d, d)))
    return q


def closed_form_commuting(mu1, a, mu2, b) -> float:
    """S1 = Q diag(a) Q^T and S2 = Q diag(b) Q^T commute: tr(S1 + S2 - 2 sqrt(S1 S2)) = sum (sqrt a - sqrt b)^2."""
    return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))


@pytest.mark.parametrize("method", METHODS)
def test_closed_form_full_rank(method):
    q = rotation(6, 0)
    a, b = np.array([4.0, 1.0, 2.5, 0.3, 9.0, 1.2]), np.array([1.0, 2.0, 0.5, 0.3, 4.0, 7.0])
    mu1, mu2 = np.arange(6.0), np.arange(6.0)[::-1] * 0.5
    got = frechet_distance(mu1, q @ np.diag(a) @ q.T, mu2, q @ np.diag(b) @ q.T, method=method)
    assert got == pytest.approx(closed_form_commuting(mu1, a, mu2, b), rel=1e-9)


@pytest.mark.parametrize("method", METHODS)
def test_closed_form_rank_deficient(method):
    q = rotation(4, 1)
    a, b = np.array([4.0, 1.0, 0.0, 0.0]), np.array([1.0, 0.0, 9.0, 0.0])
    mu = np.zeros(4)
    got = frechet_distance(mu, q @ np.diag(a) @ q.T, mu, q @ np.diag(b) @ q.T, method=method)
    assert got == pytest.approx(11.0, rel=1e-6)  # (2-1)^2 + (1-0)^2 + (0-3)^2


def test_closed_form_non_commuting_against_identity():
    """tr(S + I - 2 sqrt(S)) = sum (sqrt(eig S) - 1)^2 for any covariance S."""
    x = np.random.default_rng(2).standard_normal((5, 5))
    s = x @ x.T
    want = float(np.sum((np.sqrt(np.linalg.eigvalsh(s)) - 1.0) ** 2))
    for method in METHODS:
        assert frechet_distance(np.ones(5), s, np.ones(5), np.eye(5), method=method) == pytest.approx(want, rel=1e-9)
        # symmetric in its arguments, and zero against itself
        assert frechet_distance(np.ones(5), np.eye(5), np.ones(5), s, method=method) == pytest.approx(want, rel=1e-9)
        assert frechet_distance(np.ones(5), s, np.ones(5), s, method=method) == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize("n", [400, 40])  # more samples than dimensions, and fewer (singular covariances)
def test_agrees_with_pytorch_fid(n, capsys):
    rng = np.random.default_rng(n)
    d = 64
    a = rng.standard_normal((n, d)) @ rng.standard_normal((d, d)) * 0.3
    b = rng.standard_normal((n, d)) * 1.3 + 0.2
    s1, s2 = stats_from_features(a), stats_from_features(b)
    want = pytorch_fid_distance(s1.mu, s1.sigma, s2.mu, s2.sigma)
    for method in METHODS:
        assert frechet_distance(s1.mu, s1.sigma, s2.mu, s2.sigma, method=method) == pytest.approx(want, rel=1e-7)


def test_reference_reuses_its_square_root():
    rng = np.random.default_rng(3)
    ref = stats_from_features(rng.standard_normal((50, 8)))
    others = [stats_from_features(rng.standard_normal((50, 8)) * (1 + k)) for k in range(3)]
    fr = FrechetReference(ref.mu, ref.sigma)
    for o in others:
        assert fr.distance(o.mu, o.sigma) == pytest.approx(frechet_distance(ref.mu, ref.sigma, o.mu, o.sigma))


def test_rejects_bad_statistics():
    with pytest.raises(FrechetError, match="dimensions differ"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))
    with pytest.raises(FrechetError, match="NaN"):
        Stats(np.array([np.nan, 0.0]), np.eye(2))
    with pytest.raises(FrechetError, match="positive semi-definite"):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))


def test_streaming_statistics_equal_numpy():
    feats = np.random.default_rng(4).standard_normal((103, 7)) * 5 + 100  # large offset: cancellation-prone
    acc = StatsAccumulator()
    for start in range(0, 103, 10):
        acc.add(feats[start : start + 10])
    got, want = acc.stats(), stats_from_features(feats)
    assert got.n == want.n == 103
    np.testing.assert_allclose(got.mu, want.mu, rtol=1e-13)
    np.testing.assert_allclose(got.sigma, want.sigma, rtol=1e-10, atol=1e-12)
    with pytest.raises(FrechetError, match="at least 2"):
        StatsAccumulator().stats()


def test_store_round_trip_and_pytorch_fid_format(tmp_path):
    from pytorch_fid.fid_score import compute_statistics_of_path

    stats = stats_from_features(np.random.default_rng(5).standard_normal((20, 4)))
    path = save_stats(tmp_path / "ref.npz", stats)
    back = load_stats(path)
    assert back.n == 20 and np.array_equal(back.mu, stats.mu) and np.array_equal(back.sigma, stats.sigma)
    m, s = compute_statistics_of_path(str(path), None, 1, 4, "cpu")  # pytorch-fid reads it as its own
    assert np.array_equal(m, stats.mu) and np.array_equal(s, stats.sigma)
    with pytest.raises(UserError, match="already exists"):
        save_stats(path, stats)
    save_stats(path, stats, overwrite=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ref.npz"]  # no temporary file left behind
    with pytest.raises(UserError, match=r"must end in \.npz"):
        save_stats(tmp_path / "ref.txt", stats)
    (tmp_path / "bad.npz").write_bytes(b"not a zip")
    with pytest.raises(UserError, match="cannot read statistics"):
        load_stats(tmp_path / "bad.npz")
    np.savez(tmp_path / "nomu.npz", sigma=np.eye(2))
    with pytest.raises(UserError, match="lacks mu"):
        load_stats(tmp_path / "nomu.npz")


def test_cache_keys_and_damaged_entries(tmp_path):
    cache = StatsCache(tmp_path)
    stats = stats_from_features(np.random.default_rng(6).standard_normal((10, 3)))
    ident = {"task": "t", "split": "trainval", "max_images": None}
    assert cache.load(ident) is None
    path = cache.save(ident, stats)
    assert np.array_equal(cache.load(ident).sigma, stats.sigma)
    assert cache.load({**ident, "max_images": 5}) is None
    assert StatsCache(tmp_path, refresh=True).load(ident) is None
    path.write_bytes(b"truncated")
    assert cache.load(ident) is None
    assert StatsCache(None).save(ident, stats) is None
