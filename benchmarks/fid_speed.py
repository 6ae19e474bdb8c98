"""Seconds per 1000 images for each FID feature extractor, and the cost of one Fréchet distance.

    .venv/bin/python benchmarks/fid_speed.py [--n 32] [--batch-size 16] [--device cpu] [--repeats 2] [--sqrtm]

Extractors: pytorch-fid's InceptionV3 (pool3, images resized to 299), the toy backbone (toy-vit, 32x32) and a
ViT-B/16 at 224 (``--features backbone`` with the paper's model). Weights are random (He init for Inception):
the cost of a forward pass does not depend on them, and nothing is downloaded. Each extractor runs ``--n``
images (uint8 at 64x64 for Inception, at the model's size for the ViTs) and the time is scaled to 1000 images;
the output says so. The best of ``--repeats`` timings is kept, so a busy machine disturbs the figure less.
The Fréchet distance is timed at 2048 dimensions (``eigh``; ``--sqrtm`` adds pytorch-fid's scipy ``sqrtm``).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable

import numpy as np
import torch


def _extractors(device: str) -> dict[str, tuple[Callable[[], object], int]]:
    """name -> (build the extractor, input side in pixels)."""
    from timm.models.vision_transformer import VisionTransformer

    from vptstudy.fid import BackboneExtractor, InceptionExtractor
    from vptstudy.models.toy import build_toy_vit

    vit_b = dict(img_size=224, patch_size=16, embed_dim=768, depth=12, num_heads=12, num_classes=0)
    return {
        "inception (pytorch-fid pool3, 299)": (lambda: InceptionExtractor(device=device, random_seed=0), 64),
        "backbone toy-vit (32)": (lambda: BackboneExtractor("toy-vit", device=device, module=build_toy_vit(0)), 32),
        "backbone ViT-B/16 (224)": (
            lambda: BackboneExtractor("vit_base_patch16_224", device=device, module=VisionTransformer(**vit_b)),
            224,
        ),
    }


def seconds_per_1000(extractor, size: int, n: int, batch_size: int, repeats: int) -> float:
    images = torch.randint(0, 256, (n, 3, size, size), dtype=torch.uint8)
    extractor.features(images[:batch_size])  # warm-up: lazy build, kernel selection
    best = float("inf")
    for _ in range(repeats):
        if extractor.device.type == "cuda":
            torch.cuda.synchronize()
        start = time.perf_counter()
        for i in range(0, n, batch_size):
            extractor.features(images[i : i + batch_size])
        if extractor.device.type == "cuda":
            torch.cuda.synchronize()
        best = min(best, time.perf_counter() - start)
    return 1000.0 * best / n


def frechet_seconds(method: str, dims: int = 2048) -> float:
    from vptstudy.fid import frechet_distance

    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((3000, dims)), rng.standard_normal((3000, dims)) * 1.1
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    start = time.perf_counter()
    frechet_distance(a.mean(0), s1, b.mean(0), s2, method=method)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=32, help="images per timing (scaled to 1000)")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--sqrtm", action="store_true", help="also time scipy sqrtm (slow on CPU)")
    parser.add_argument("--json", help="write the numbers to this file")
    args = parser.parse_args()

    results: dict[str, float] = {}
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {args.n} images per timing")
    for name, (build, size) in _extractors(args.device).items():
        secs = seconds_per_1000(build(), size, args.n, args.batch_size, args.repeats)
        results[name] = secs
        print(f"{name:38s} {secs:9.1f} s / 1000 images  (measured on {args.n}, scaled to 1000)", flush=True)
    for method in ("eigh", "sqrtm") if args.sqrtm else ("eigh",):
        secs = frechet_seconds(method)
        results[f"frechet distance 2048-d ({method})"] = secs
        print(f"{'frechet distance 2048-d (' + method + ')':38s} {secs:9.1f} s per distance", flush=True)
    if args.json:
        with open(args.json, "w") as handle:
            json.dump({"device": args.device, "n": args.n, "seconds": results}, handle, indent=2)


if __name__ == "__main__":
    main()
