"""Fréchet distance between pretraining data and each task's data (paper section 4.3, Figure 3).

Library use, on images in memory (uint8 ``[N, 3, H, W]``)::

    from vptstudy.fid import BackboneExtractor, feature_stats, frechet_distance
    ext = BackboneExtractor("toy-vit")
    a, b = feature_stats(upstream, ext), feature_stats(downstream, ext)
    d = frechet_distance(a.mu, a.sigma, b.mu, b.sigma)

``compute_fid(FidRequest(...))`` runs the ``vptstudy fid`` command (reference folder / list / .npz, cached
statistics per task split).
"""

from vptstudy.fid.compute import FidRequest, FidResult, FidRow, compute_fid, feature_stats, file_stats
from vptstudy.fid.extractors import (
    FEATURES,
    INCEPTION_FILE,
    BackboneExtractor,
    FeatureExtractor,
    InceptionExtractor,
    inception_weights_path,
    make_extractor,
)
from vptstudy.fid.frechet import FrechetError, FrechetReference, Stats, frechet_distance, stats_from_features
from vptstudy.fid.sources import DEFAULT_SPLIT, SPLITS
from vptstudy.fid.store import StatsCache, load_stats, save_stats

__all__ = [
    "DEFAULT_SPLIT",
    "FEATURES",
    "INCEPTION_FILE",
    "SPLITS",
    "BackboneExtractor",
    "FeatureExtractor",
    "FidRequest",
    "FidResult",
    "FidRow",
    "FrechetError",
    "FrechetReference",
    "InceptionExtractor",
    "Stats",
    "StatsCache",
    "compute_fid",
    "feature_stats",
    "file_stats",
    "frechet_distance",
    "inception_weights_path",
    "load_stats",
    "make_extractor",
    "save_stats",
    "stats_from_features",
]
