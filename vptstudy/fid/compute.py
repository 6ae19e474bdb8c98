"""Statistics of image sets and the Fréchet distance from a reference to each task, with cached statistics.

:func:`feature_stats` works on in-memory uint8 images (the demo's upstream data); :func:`compute_fid` runs the
``vptstudy fid`` command: reference and task statistics (each cached per source, split, extractor and image cap),
then one distance per task. Progress goes to a callback ``progress(label, done, total)``; nothing prints here.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from vptstudy import validate
from vptstudy.config import PAPER_MODEL
from vptstudy.errors import UserError
from vptstudy.fid.extractors import FeatureExtractor, make_extractor
from vptstudy.fid.frechet import METHODS, FrechetError, FrechetReference, Stats, StatsAccumulator
from vptstudy.fid.sources import (
    DEFAULT_SPLIT,
    SPLITS,
    TOY_UPSTREAM,
    TOY_UPSTREAM_IMAGES,
    Reference,
    fingerprint,
    load_task_split,
    resolve_reference,
    sample_indices,
    split_config,
)
from vptstudy.fid.store import StatsCache, check_stats_target, default_cache_dir, load_stats, save_stats

Progress = Callable[[str, int, int], None]
DEFAULT_BATCH = 50  # pytorch-fid's


def _quiet(label: str, done: int, total: int) -> None:
    return None


def centre_crop(images: torch.Tensor, size: int | None) -> torch.Tensor:
    """The evaluation view of FGVC-style data: a centre ``size`` crop (no-op when None or already that size)."""
    if size is None or tuple(images.shape[-2:]) == (size, size):
        return images
    h, w = images.shape[-2:]
    top, left = (h - size) // 2, (w - size) // 2
    return images[..., top : top + size, left : left + size]


def feature_stats(
    images: torch.Tensor | Sequence[torch.Tensor],
    extractor: FeatureExtractor,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress = _quiet,
    label: str = "images",
) -> Stats:
    """Mean and covariance (float64) of ``extractor``'s features of uint8 images ``[N, 3, H, W]`` held in memory."""
    n = len(images)
    acc = StatsAccumulator()
    for start in range(0, n, batch_size):
        acc.add(extractor.features(images[start : start + batch_size]))
        progress(label, min(start + batch_size, n), n)
    return acc.stats()


def _decoded_batches(
    files: Sequence[Path], extractor: FeatureExtractor, batch_size: int, workers: int
) -> Iterator[list[torch.Tensor]]:
    """Decoded batches, the next one decoding in threads while the caller runs the model on this one."""
    with ThreadPoolExecutor(max_workers=max(workers, 1)) as pool:
        pending = None
        for start in range(0, len(files) + batch_size, batch_size):
            chunk = files[start : start + batch_size]
            nxt = [pool.submit(extractor.decode_file, f) for f in chunk] if chunk else None
            if pending is not None:
                yield [f.result() for f in pending]
            pending = nxt
            if nxt is None:
                break


def file_stats(
    files: Sequence[Path],
    extractor: FeatureExtractor,
    batch_size: int = DEFAULT_BATCH,
    progress: Progress = _quiet,
    label: str = "reference",
    workers: int = 4,
) -> Stats:
    """Statistics of image files, decoded as ``extractor.decode_file`` wants (native size for Inception)."""
    acc, done = StatsAccumulator(), 0
    for batch in _decoded_batches(files, extractor, batch_size, workers):
        acc.add(extractor.features(batch))
        done += len(batch)
        progress(label, done, len(files))
    return acc.stats()


@dataclass
class FidRequest:
    """What ``vptstudy fid`` was asked for (see the command's help for each field)."""

    reference: str
    tasks: tuple[str, ...] = ()
    split: str = DEFAULT_SPLIT
    features: str = "inception"
    model: str = PAPER_MODEL
    weights: str | None = None
    img_size: int | None = None
    inception_weights: str | None = None
    max_images: int | None = None
    seed: int = 0
    batch_size: int = DEFAULT_BATCH
    data_root: str | None = None
    cache_dir: str | None = None
    use_cache: bool = True
    refresh: bool = False
    save_stats: str | None = None
    overwrite: bool = False
    device: str = "auto"
    sqrtm: str = "eigh"
    workers: int = 4


@dataclass
class FidRow:
    """One task's distance to the reference, with the sample sizes behind it."""

    task: str
    group: str
    disparity: str
    split: str
    fid: float
    n_task: int | None
    n_reference: int | None
    dims: int
    cached: bool
    warning: str = ""


@dataclass
class FidResult:
    reference: dict[str, Any]
    extractor: dict[str, Any]
    rows: list[FidRow] = field(default_factory=list)
    saved_stats: str | None = None
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "reference": self.reference,
            "extractor": self.extractor,
            "saved_stats": self.saved_stats,
            "seconds": self.seconds,
            "rows": [asdict(r) for r in self.rows],
        }


def _validate(req: FidRequest) -> None:
    from vptstudy.data import get_task

    if not req.tasks and not req.save_stats:
        raise UserError("nothing to do", "--task", "name at least one --task, or pass --save-stats FILE")
    if req.split not in SPLITS:
        raise UserError(f"unknown split {req.split!r}", "--split", f"use one of {', '.join(SPLITS)}")
    validate.seed(req.seed, "--seed")
    if req.max_images is not None and req.max_images < 2:
        raise UserError(f"invalid --max-images {req.max_images}", "--max-images", "a covariance needs at least 2")
    if req.batch_size < 1:
        raise UserError(f"invalid --batch-size {req.batch_size}", "--batch-size", "use a positive batch size")
    if req.sqrtm not in METHODS:
        raise UserError(f"unknown --sqrtm {req.sqrtm!r}", "--sqrtm", f"use one of {', '.join(METHODS)}")
    for task in req.tasks:
        get_task(task)
    if req.save_stats:
        check_stats_target(Path(req.save_stats), req.overwrite)


def _capped(identity: dict[str, Any], req: FidRequest) -> dict[str, Any]:
    cap = {"max_images": req.max_images, "sample_seed": req.seed} if req.max_images is not None else {}
    return {**identity, **cap}


def _toy_upstream_stats(
    extractor: FeatureExtractor, req: FidRequest, cache: StatsCache, progress: Progress
) -> tuple[Stats, bool]:
    from vptstudy.data.toy_tasks import UPSTREAM_EVAL_SEED, upstream_images

    n = req.max_images or TOY_UPSTREAM_IMAGES
    identity = {"reference": TOY_UPSTREAM, "count": n, "seed": UPSTREAM_EVAL_SEED, "size": extractor.task_size}
    identity.update(extractor.identity())
    stats = cache.load(identity)
    if stats is not None:
        return stats, True
    images = upstream_images(n, UPSTREAM_EVAL_SEED, extractor.task_size).images
    stats = feature_stats(images, extractor, req.batch_size, progress, "reference")
    cache.save(identity, stats)
    return stats, False


def reference_stats(
    ref: Reference, extractor: FeatureExtractor, req: FidRequest, cache: StatsCache, progress: Progress
) -> tuple[Stats, bool]:
    """The reference's statistics and whether they came from a file or the cache (no image read)."""
    if ref.kind == "stats":
        return load_stats(ref.path), True
    if ref.kind == TOY_UPSTREAM:
        return _toy_upstream_stats(extractor, req, cache, progress)
    files = ref.files
    index = sample_indices(len(files), req.max_images, req.seed)
    if index is not None:
        files = [files[i] for i in index.tolist()]
    if len(files) < 2:
        raise UserError(f"reference {str(ref.path)!r} has {len(files)} image", "--reference", "use at least 2 images")
    # keyed by the chosen files themselves (paths, sizes, mtimes: stat only), so an edit invalidates the entry
    identity = {**ref.identity, "count": len(files), "files": fingerprint(files), **extractor.identity()}
    stats = cache.load(identity)
    if stats is not None:
        return stats, True
    stats = file_stats(files, extractor, req.batch_size, progress, "reference", req.workers)
    cache.save(identity, stats)
    return stats, False


def _data_identity(task: str, req: FidRequest) -> dict[str, Any]:
    """The folder a task's split is read from and a stat fingerprint of its files (an edited image is a miss)."""
    from vptstudy.data import content_key

    key = content_key(split_config(task, req.split, req.data_root, req.cache_dir))
    return {"data_root": key["data_dir"], "data_files": key["files"], "data_fingerprint": key["fingerprint"]}


def task_stats(
    task: str, extractor: FeatureExtractor, req: FidRequest, cache: StatsCache, progress: Progress
) -> tuple[Stats, bool]:
    """A task split's statistics (cached), decoded by the data layer at the extractor's input size."""
    data = _data_identity(task, req)
    identity = {"task": task, "split": req.split, **data, "size": extractor.task_size, **extractor.identity()}
    identity = _capped(identity, req)
    stats = cache.load(identity)
    if stats is not None:
        return stats, True
    images, crop = load_task_split(
        task,
        req.split,
        extractor.task_size,
        req.data_root,
        req.cache_dir,
        lambda done, total: progress(f"{task} decode", done, total),
    )
    index = sample_indices(len(images), req.max_images, req.seed)
    if index is not None:
        images = images[index]
    if len(images) < 2:
        raise UserError(f"task {task} {req.split} has {len(images)} image", "--split", "use a larger split")
    stats = feature_stats(centre_crop(images, crop), extractor, req.batch_size, progress, task)
    cache.save(identity, stats)
    return stats, False


def cache_root(req: FidRequest) -> Path | None:
    """``<--cache-dir>/fid``, else the default statistics cache; None with ``use_cache`` off."""
    if not req.use_cache:
        return None
    return Path(req.cache_dir).expanduser() / "fid" if req.cache_dir else default_cache_dir()


def _warning(stats: Stats, what: str) -> str:
    return f"{what} n={stats.n} <= {stats.dims} dims" if stats.rank_deficient else ""


def compute_fid(req: FidRequest, progress: Progress = _quiet, extractor: FeatureExtractor | None = None) -> FidResult:
    """Reference statistics, then each task's statistics and its Fréchet distance to the reference.

    Every option is checked before any image is read. ``extractor`` overrides ``req.features`` (tests, demo).
    """
    from vptstudy.data import get_task
    from vptstudy.device import resolve_device

    start = time.perf_counter()
    _validate(req)
    ref = resolve_reference(req.reference)
    if extractor is None:
        extractor = make_extractor(
            req.features,
            model=req.model,
            weights=req.weights,
            img_size=req.img_size,
            inception_weights=req.inception_weights,
            device=resolve_device(req.device),
        )
    cache = StatsCache(cache_root(req), refresh=req.refresh)
    ref_stats, ref_cached = reference_stats(ref, extractor, req, cache, progress)
    saved = str(save_stats(Path(req.save_stats), ref_stats, req.overwrite)) if req.save_stats else None
    result = FidResult(
        reference={"kind": ref.kind, "path": str(ref.path), "n": ref_stats.n, "cached": ref_cached},
        extractor=extractor.identity(),
        saved_stats=saved,
    )
    reference = FrechetReference(ref_stats.mu, ref_stats.sigma, req.sqrtm)
    for task in req.tasks:
        stats, cached = task_stats(task, extractor, req, cache, progress)
        if stats.dims != ref_stats.dims:
            raise UserError(
                f"reference has {ref_stats.dims}-d features, {req.features} features are {stats.dims}-d",
                "--reference",
                "use reference statistics computed with the same --features (and model)",
            )
        try:
            fid = reference.distance(stats.mu, stats.sigma)
        except FrechetError as exc:
            raise UserError(f"no Fréchet distance for {task}: {exc}", str(ref.path), "check the statistics") from exc
        spec = get_task(task)
        warning = "; ".join(w for w in (_warning(stats, "task"), _warning(ref_stats, "reference")) if w)
        result.rows.append(
            FidRow(task, spec.group, spec.disparity, req.split, fid, stats.n, ref_stats.n, stats.dims, cached, warning)
        )
    result.seconds = time.perf_counter() - start
    return result
