"""Time loading 1000 images at 224x224: first load (decode + resize + write cache) vs second load (cache read).

Writes a VTAB-1k-style folder of photo crops (from scikit-learn's bundled sample photos) as PNG and as JPEG,
then loads each list through the data layer twice with an empty cache folder. Run:

    .venv/bin/python benchmarks/data_cache.py [--n 1000] [--size 224] [--src-size 500x375] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.datasets import load_sample_images

from vptstudy.data import vtab1k
from vptstudy.data.materialize import decode_workers, materialize


def write_folder(root: Path, n: int, fmt: str, src: tuple[int, int]) -> Path:
    """``root/<fmt>`` with ``n`` photo crops of size ``src`` and a list file."""
    photos = load_sample_images().images
    rng = np.random.default_rng(0)
    folder = root / fmt
    if (folder / "list.txt").is_file() and len((folder / "list.txt").read_text().splitlines()) == n:
        return folder  # reuse a --workdir from an earlier run
    (folder / "images").mkdir(parents=True, exist_ok=True)
    lines = []
    w, h = src
    for i in range(n):
        photo = photos[i % len(photos)]
        top, left = rng.integers(0, photo.shape[0] - h // 2), rng.integers(0, photo.shape[1] - w // 2)
        crop = Image.fromarray(photo[top:, left:]).resize((w, h), Image.BILINEAR)
        rel = f"images/{i:05d}.{'png' if fmt == 'png' else 'jpg'}"
        crop.save(folder / rel, format="PNG" if fmt == "png" else "JPEG", quality=90)
        lines.append(f"{rel} {i % 10}")
    (folder / "list.txt").write_text("\n".join(lines) + "\n")
    return folder


def timed_load(folder: Path, size: int, cache_dir: Path) -> tuple[float, dict]:
    items = vtab1k.read_list(folder / "list.txt", 10)
    catalog = vtab1k._catalog(folder, "bench", items)
    start = time.perf_counter()
    (data,), report = materialize([catalog], size, cache_dir)
    pixels = data.images.clone()  # a cache hit is memory-mapped: touch every byte so the read is timed
    assert pixels.shape == (len(items), 3, size, size)
    return time.perf_counter() - start, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--size", type=int, default=224)
    parser.add_argument("--src-size", default="500x375", help="source image size WxH")
    parser.add_argument("--workdir", type=Path, default=None)
    args = parser.parse_args()
    src = tuple(int(v) for v in args.src_size.split("x"))
    work = args.workdir or Path(tempfile.mkdtemp(prefix="vptstudy-bench-"))
    print(
        f"{args.n} images {src[0]}x{src[1]} -> {args.size}x{args.size}, {decode_workers()} decode threads, "
        f"{os.cpu_count()} cores"
    )
    try:
        for fmt in ("png", "jpeg"):
            folder = write_folder(work, args.n, fmt, src)
            megabytes = sum(f.stat().st_size for f in (folder / "images").iterdir()) / 1e6
            cache_dir = work / f"cache-{fmt}"
            first, r1 = timed_load(folder, args.size, cache_dir)
            second, r2 = timed_load(folder, args.size, cache_dir)
            assert r1["decoded"] == ["bench"] and r2["read"] == ["bench"]
            cache_mb = sum(f.stat().st_size for f in cache_dir.rglob("*.safetensors")) / 1e6
            print(
                f"{fmt:>4}: files {megabytes:6.1f} MB | first load (decode+cache) {first:6.2f} s "
                f"({args.n / first:7.0f} img/s) | second load (cache {cache_mb:.0f} MB, read fully) {second:6.3f} s "
                f"({args.n / second:7.0f} img/s) | speed-up x{first / second:.0f}"
            )
    finally:
        if args.workdir is None:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
