"""Gaussian statistics of features and the Fréchet distance between two of them, in float64.

The distance is ``||mu1 - mu2||^2 + tr(S1) + tr(S2) - 2 tr(sqrt(S1 S2))``. Two ways to get the last trace:

- ``eigh`` (default): ``tr(sqrt(S1 S2)) = sum(sqrt(eig(A S2 A)))`` with ``A = sqrt(S1)``, a symmetric positive
  semi-definite problem solved by ``scipy.linalg.eigh``. Exact for covariance matrices, stable when they are
  singular (fewer samples than dimensions), and ~30x faster than ``sqrtm`` at 2048 dimensions; ``sqrt(S1)`` is
  computed once per reference (:class:`FrechetReference`). Rounding gives tiny negative eigenvalues: they count as
  zero, the analogue of pytorch-fid dropping tiny imaginary parts.
- ``sqrtm``: pytorch-fid's algorithm step for step: ``scipy.linalg.sqrtm(S1 @ S2)``; a non-finite result is
  retried with ``eps`` on both diagonals; a small imaginary part is dropped, a large one (diagonal > 1e-3) is an
  error.

Both agree with ``pytorch_fid.fid_score.calculate_frechet_distance`` to ~1e-8 relative (tests check it).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy import linalg

METHODS = ("eigh", "sqrtm")
EPS = 1e-6
NEGATIVE_TOL = 1e-6  # eigenvalues below -NEGATIVE_TOL * max|eig| mean the matrix is not a covariance


class FrechetError(ValueError):
    """The statistics cannot give a Fréchet distance (shapes differ, not finite, not a covariance)."""


@dataclass(frozen=True)
class Stats:
    """Mean ``mu`` ``[D]`` and covariance ``sigma`` ``[D, D]`` (float64) of ``n`` feature vectors (None: unknown)."""

    mu: np.ndarray
    sigma: np.ndarray
    n: int | None = None

    def __post_init__(self) -> None:
        mu = np.atleast_1d(np.asarray(self.mu, dtype=np.float64))
        sigma = np.atleast_2d(np.asarray(self.sigma, dtype=np.float64))
        if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
            raise FrechetError(f"mu {mu.shape} and sigma {sigma.shape} do not fit: need [D] and [D, D]")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise FrechetError("the statistics hold NaN or infinite values")
        object.__setattr__(self, "mu", mu)
        object.__setattr__(self, "sigma", sigma)

    @property
    def dims(self) -> int:
        return int(self.mu.shape[0])

    @property
    def rank_deficient(self) -> bool:
        """Fewer samples than dimensions: the covariance is singular and the distance biased."""
        return self.n is not None and self.n <= self.dims


def stats_from_features(features: np.ndarray) -> Stats:
    """Mean and covariance of ``[N, D]`` features exactly as pytorch-fid takes them (``np.mean``, ``np.cov``)."""
    feats = np.asarray(features, dtype=np.float64)
    if feats.ndim != 2 or feats.shape[0] < 2:
        raise FrechetError(f"need at least 2 feature vectors [N, D], got shape {feats.shape}")
    return Stats(np.mean(feats, axis=0), np.cov(feats, rowvar=False), int(feats.shape[0]))


class StatsAccumulator:
    """Mean and covariance of features that arrive in batches, merged exactly (Chan et al.'s pairwise update)."""

    def __init__(self) -> None:
        self.n = 0
        self.mean: np.ndarray | None = None
        self.m2: np.ndarray | None = None  # sum of outer products of deviations from the mean

    def add(self, features: np.ndarray) -> None:
        batch = np.asarray(features, dtype=np.float64)
        if batch.ndim != 2 or batch.shape[0] == 0:
            return
        nb = batch.shape[0]
        mean_b = batch.mean(axis=0)
        dev = batch - mean_b
        m2_b = dev.T @ dev
        if self.mean is None or self.m2 is None:
            self.n, self.mean, self.m2 = nb, mean_b, m2_b
            return
        n = self.n + nb
        delta = mean_b - self.mean
        self.mean = self.mean + delta * (nb / n)
        self.m2 = self.m2 + m2_b + np.outer(delta, delta) * (self.n * nb / n)
        self.n = n

    def stats(self) -> Stats:
        if self.n < 2 or self.mean is None or self.m2 is None:
            raise FrechetError(f"need at least 2 images for a covariance, got {self.n}")
        return Stats(self.mean, self.m2 / (self.n - 1), self.n)


def _psd_sqrt(sigma: np.ndarray) -> np.ndarray:
    """Symmetric square root of a covariance via ``eigh``; rounding-level negative eigenvalues count as 0."""
    w, v = linalg.eigh((sigma + sigma.T) / 2)
    _check_psd(w, "a covariance")
    return (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T


def _check_psd(eigenvalues: np.ndarray, what: str) -> None:
    scale = max(float(np.abs(eigenvalues).max(initial=0.0)), 1e-300)
    if eigenvalues.min(initial=0.0) < -NEGATIVE_TOL * scale:
        raise FrechetError(
            f"{what} is not positive semi-definite (eigenvalue {eigenvalues.min():.3g}, largest {scale:.3g})"
        )


class FrechetReference:
    """One side's statistics, prepared once, to measure many others against (``sqrt(S1)`` is computed once)."""

    def __init__(self, mu: np.ndarray, sigma: np.ndarray, method: str = "eigh", eps: float = EPS) -> None:
        if method not in METHODS:
            raise ValueError(f"method {method!r} is not one of {METHODS}")
        self.stats = Stats(mu, sigma)
        self.method, self.eps = method, eps
        self._root: np.ndarray | None = None

    def _trace_sqrt_eigh(self, sigma2: np.ndarray) -> float:
        sigma1 = self.stats.sigma
        try:
            if self._root is None:
                self._root = _psd_sqrt(sigma1)
            m = self._root @ sigma2 @ self._root
            lam = linalg.eigvalsh((m + m.T) / 2)
        except linalg.LinAlgError:  # no convergence: retry with eps on the diagonals, as pytorch-fid does
            offset = np.eye(sigma1.shape[0]) * self.eps
            root = _psd_sqrt(sigma1 + offset)
            m = root @ (sigma2 + offset) @ root
            lam = linalg.eigvalsh((m + m.T) / 2)
        _check_psd(lam, "the product of the covariances")
        return float(np.sqrt(np.clip(lam, 0.0, None)).sum())

    def _trace_sqrt_sqrtm(self, sigma2: np.ndarray) -> float:
        sigma1 = self.stats.sigma
        with warnings.catch_warnings():  # "matrix is singular": handled below as pytorch-fid does
            warnings.simplefilter("ignore", linalg.LinAlgWarning)
            covmean = linalg.sqrtm(sigma1 @ sigma2)
            if not np.isfinite(covmean).all():
                offset = np.eye(sigma1.shape[0]) * self.eps
                covmean = linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
        if np.iscomplexobj(covmean):
            if not np.allclose(np.diagonal(covmean).imag, 0, atol=1e-3):
                raise FrechetError(f"the matrix square root has an imaginary part of {np.abs(covmean.imag).max():.3g}")
            covmean = covmean.real
        return float(np.trace(covmean))

    def distance(self, mu: np.ndarray, sigma: np.ndarray) -> float:
        """The Fréchet distance from this reference to ``N(mu, sigma)``."""
        other = Stats(mu, sigma)
        if other.dims != self.stats.dims:
            raise FrechetError(f"feature dimensions differ: {self.stats.dims} vs {other.dims}")
        diff = self.stats.mu - other.mu
        if self.method == "eigh":
            tr_covmean = self._trace_sqrt_eigh(other.sigma)
        else:
            tr_covmean = self._trace_sqrt_sqrtm(other.sigma)
        return float(diff @ diff + np.trace(self.stats.sigma) + np.trace(other.sigma) - 2.0 * tr_covmean)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    method: str = "eigh",
    eps: float = EPS,
) -> float:
    """The Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` in float64 (see module doc)."""
    return FrechetReference(mu1, sigma1, method, eps).distance(mu2, sigma2)
